'use strict';
// Values travel as structured clones, after Electron's api-ipc-renderer-spec.

const test = require('node:test');
const assert = require('node:assert/strict');
const { run, scope } = require('./helpers');

test('every structured-clone type survives sendSync, invoke and send', async () => {
  const s = scope();
  try {
    s.on('echo-sync', (e, v) => {
      e.returnValue = v;
    });
    s.handle('echo-invoke', (_e, v) => v);
    s.on('args', (e, ...args) => {
      e.returnValue = args;
    });
    s.handle('args-invoke', (_e, ...args) => args);
    const types = new Promise((resolve) => s.on('types', (_e, ...args) => resolve(args)));
    const { result, exited } = run('values');
    assert.equal(await result, 'values ok');
    const [date, map, set, buffer, big] = await types;
    assert.ok(date instanceof Date);
    assert.equal(date.getTime(), 5);
    assert.ok(map instanceof Map);
    assert.equal(map.get(1), 2);
    assert.ok(set instanceof Set && set.has(3));
    assert.ok(buffer instanceof Uint8Array);
    assert.equal(Buffer.from(buffer).toString(), 'z');
    assert.equal(big, 7n);
    assert.equal((await exited).code, 0);
  } finally {
    s.remove();
  }
});

test('a value that cannot be cloned is an error in the sender, either way', async () => {
  const s = scope();
  try {
    s.on('echo-sync', (e, v) => {
      e.returnValue = v;
    });
    s.handle('echo-invoke', (_e, v) => v);
    let mainThrew = null;
    s.on('returns-function', (e) => {
      try {
        e.returnValue = () => {};
      } catch (error) {
        mainThrew = error;
      }
    });
    s.handle('handler-returns-function', () => () => {});
    const logged = [];
    const error = console.error;
    console.error = (...args) => logged.push(args.join(' '));
    try {
      const { webContents, result, exited: done } = run('uncloneable');
      assert.throws(() => webContents.send('x', Symbol('no')), /An object could not be cloned/);
      assert.equal(await result, 'uncloneable ok');
      assert.equal((await done).code, 0);
    } finally {
      console.error = error;
    }
    // As Electron does, main logs what its handler could not return.
    assert.match(logged.join('\n'), /Error occurred in handler for 'handler-returns-function'/);
    assert.match(String(mainThrew), /An object could not be cloned/);
  } finally {
    s.remove();
  }
});
