'use strict';
// ipcMain's listener API and events, after Electron's api-ipc-main-spec.

const test = require('node:test');
const assert = require('node:assert/strict');
const { ipcMain, ipcRenderer } = require('..');
const { run, scope } = require('./helpers');

test('ipcMain is not used for internals', () => {
  assert.deepStrictEqual(ipcMain.eventNames(), ['error']);
});

test('removeAllListeners removes only the given channel, or every channel', () => {
  const saved = ipcMain.listeners('error');
  ipcMain.removeAllListeners();
  ipcMain.on('channel1', () => {});
  ipcMain.on('channel2', () => {});
  ipcMain.removeAllListeners('channel1');
  assert.deepStrictEqual(ipcMain.eventNames(), ['channel2']);
  ipcMain.removeAllListeners();
  assert.deepStrictEqual(ipcMain.eventNames(), []);
  for (const f of saved) ipcMain.on('error', f);
});

test('listenerCount, once and removeListener', () => {
  const f = () => {};
  ipcMain.on('counted', f);
  ipcMain.once('counted', () => {});
  assert.equal(ipcMain.listenerCount('counted'), 2);
  ipcMain.removeListener('counted', f);
  ipcMain.removeAllListeners('counted');
  assert.equal(ipcMain.listenerCount('counted'), 0);
});

test('handle forbids a second handler and wants a function', () => {
  ipcMain.handle('only-one', () => 1);
  assert.throws(() => ipcMain.handle('only-one', () => 2), {
    message: "Attempted to register a second handler for 'only-one'",
  });
  assert.throws(() => ipcMain.handle('not-a-function', 42), {
    name: 'TypeError',
    message: "Expected handler to be a function, but found type 'number'",
  });
  ipcMain.removeHandler('only-one');
  ipcMain.handle('only-one', () => 3);
  ipcMain.removeHandler('only-one');
});

test('ipcRenderer cannot connect in a process main did not spawn', () => {
  assert.throws(() => ipcRenderer.send('x'), (e) => e.code === 'ERR_NOT_A_RENDERER');
});

test('sendSync: the first return value wins, a late one still answers, no listener fails at once', async () => {
  const s = scope();
  try {
    s.on('first-wins', (e) => {
      e.returnValue = 'first';
    });
    s.on('first-wins', (e) => {
      e.returnValue = 'second';
    });
    s.on('answers-later', (e) => {
      setTimeout(() => {
        e.returnValue = 'later';
      }, 20);
    });
    const { result, exited } = run('sync');
    assert.equal(await result, 'sync ok');
    assert.equal((await exited).code, 0);
  } finally {
    s.remove();
  }
});

test('event.reply, event.sender.send and webContents.send reach the renderer in order', async () => {
  const s = scope();
  try {
    let contents;
    s.on('ask-replies', (e, arg) => {
      assert.equal(e.sender, contents);
      assert.equal(e.processId, contents.getOSProcessId());
      e.reply('reply', 'by reply', arg);
      e.sender.send('reply', 'by sender.send', 1, 2);
      contents.send('reply', 'by webContents.send', { ok: true });
    });
    s.on('send-burst', (e, n) => {
      for (let i = 0; i < n; i++) e.sender.send('burst', i);
      e.returnValue = null;
    });
    const r = run('replies');
    contents = r.webContents;
    assert.equal(await r.result, 'replies ok');
    assert.equal((await r.exited).code, 0);
  } finally {
    s.remove();
  }
});

test('a webContents is destroyed, with a reason, when its renderer exits', async () => {
  const s = scope();
  try {
    s.on('echo-sync', (e, v) => {
      e.returnValue = v;
    });
    const { webContents, child, result } = run('leaves');
    assert.equal(webContents.getOSProcessId(), child.pid);
    assert.equal(webContents.isDestroyed(), false);
    const destroyed = new Promise((resolve) => webContents.once('destroyed', resolve));
    assert.equal(await result, 'leaves bye');
    const reason = await destroyed;
    assert.equal(typeof reason, 'string');
    assert.ok(webContents.isDestroyed());
    assert.throws(() => webContents.send('anyone'), (e) => e.code === 'ERR_DISCONNECTED');
    assert.ok(!ipcMain.getAllWebContents().includes(webContents));
  } finally {
    s.remove();
  }
});
