'use strict';
// invoke and handle, after Electron's api-ipc-spec.

const test = require('node:test');
const assert = require('node:assert/strict');
const { ipcMain } = require('..');
const { run, scope, gc } = require('./helpers');

test('invoke: sync and async handlers, their errors, no handler, handleOnce, removeHandler', async () => {
  const s = scope();
  try {
    s.handle('sync-handler', (_e, arg) => {
      assert.equal(arg, 123);
      return 3;
    });
    s.handle('async-handler', async (_e, arg) => {
      assert.equal(arg, 123);
      await new Promise((resolve) => setImmediate(resolve));
      return 3;
    });
    s.handle('sync-throws', () => {
      throw new Error('some error');
    });
    s.handle('async-throws', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('some error');
    });
    s.handle('rejects-non-error', () => Promise.reject('plain text'));
    ipcMain.handleOnce('once', () => 'first');
    s.handle('removed-soon', () => 'here');
    s.on('remove-handler', (e, channel) => {
      ipcMain.removeHandler(channel);
      e.returnValue = true;
    });
    s.handle('delayed-double', (_e, n) => new Promise((resolve) => setTimeout(() => resolve(n * 2), (n * 7) % 13)));
    s.handle('who-am-i', (e) => e.processId);
    // Handlers that throw log as Electron does; keep the test output quiet.
    const error = console.error;
    console.error = () => {};
    try {
      const { result, exited } = run('invoke');
      assert.equal(await result, 'invoke ok');
      assert.equal((await exited).code, 0);
    } finally {
      console.error = error;
    }
  } finally {
    s.remove();
    ipcMain.removeHandler('once');
  }
});

test('a call whose promise or event is collected unanswered fails instead of hanging', async () => {
  const s = scope();
  try {
    s.handle('never-settles', () => new Promise(() => {}));
    s.on('never-answers', () => {});
    const { result, exited } = run('dropped');
    let done = false;
    result.then(() => (done = true), () => (done = true));
    while (!done) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(await result, 'dropped ok');
    assert.equal((await exited).code, 0);
  } finally {
    s.remove();
  }
});
