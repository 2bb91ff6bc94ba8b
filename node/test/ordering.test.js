'use strict';
// Order and size, after Electron's api-ipc-spec.

const test = require('node:test');
const assert = require('node:assert/strict');
const { run, scope } = require('./helpers');

test('send, sendSync and invoke are handled in the order sent', async () => {
  const s = scope();
  try {
    const seen = [];
    s.on('seq', (_e, i) => seen.push(i));
    s.on('seq-sync', (e, i) => {
      seen.push(i);
      e.returnValue = i;
    });
    s.handle('seq-invoke', (_e, i) => seen.push(i));
    const { result, exited } = run('ordering');
    assert.equal(await result, 'ordering ok');
    assert.deepStrictEqual(seen, Array.from({ length: 1000 }, (_, i) => i));
    assert.equal((await exited).code, 0);
  } finally {
    s.remove();
  }
});

test('payloads from 0 bytes to 3 MiB arrive whole through invoke, sendSync and send', async () => {
  const s = scope();
  try {
    s.on('echo-sync', (e, v) => {
      e.returnValue = v;
    });
    s.handle('echo-invoke', (_e, v) => v);
    s.on('echo-large', (e, v) => e.sender.send('echo-large-reply', v));
    const { result, exited } = run('sizes');
    assert.equal(await result, 'sizes ok');
    assert.equal((await exited).code, 0);
  } finally {
    s.remove();
  }
});
