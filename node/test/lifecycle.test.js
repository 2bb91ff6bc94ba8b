'use strict';
// Processes: what keeps them alive, spawn's options, and a main that dies.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const childProcess = require('node:child_process');
const { ipcMain } = require('..');
const { run, scope } = require('./helpers');

test('a renderer without listeners or pending calls exits by itself', async () => {
  const s = scope();
  try {
    s.on('echo-sync', (e, v) => {
      e.returnValue = v;
    });
    const { result, exited } = run('leaves');
    assert.equal(await result, 'leaves bye');
    assert.equal((await exited).code, 0);
  } finally {
    s.remove();
  }
});

test('a renderer with a listener stays alive until the listener goes', async () => {
  const { webContents, result, exited } = run('stays');
  assert.equal(await result, 'staying');
  let gone = false;
  exited.then(() => (gone = true));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(gone, false, 'exited while listening');
  webContents.send('quit');
  assert.equal((await exited).code, 0);
});

test('what main sends before the renderer is up reaches its first listener', async () => {
  const { webContents, result, exited } = run('early');
  webContents.send('early', 'sent at once');
  assert.equal(await result, 'sent at once');
  assert.equal((await exited).code, 0);
});

test("spawn takes child_process.spawn's arguments and options", async () => {
  const cwd = path.join(__dirname, 'fixtures');
  const { child, webContents, result, exited } = run('environment', {
    args: ['--flag', 'value'],
    spawn: { cwd, env: { ...process.env, CUSTOM_VAR: 'custom' }, stdio: ['ignore', 'pipe', 'pipe'] },
  });
  assert.ok(child instanceof childProcess.ChildProcess);
  assert.ok(child.stdout, 'stdio options are honoured');
  child.stdout.resume();
  assert.deepStrictEqual(await result, { argv: ['--flag', 'value'], custom: 'custom', cwd, id: webContents.id });
  assert.equal((await exited).code, 0);
});

test('a spawn that fails gives a destroyed webContents and the child emits error', async () => {
  const { webContents, child } = ipcMain.spawn('/nonexistent/ringipc-renderer', []);
  const error = await new Promise((resolve) => child.once('error', resolve));
  assert.equal(error.code, 'ENOENT');
  assert.ok(webContents.isDestroyed());
  assert.throws(() => webContents.send('x'), (e) => e.code === 'ERR_DISCONNECTED');
});

test("a renderer whose main dies sees its pending calls fail, and no call hang", async () => {
  const main = childProcess.spawn(process.execPath, [path.join(__dirname, 'fixtures', 'dying-main.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env },
  });
  let out = '';
  main.stdout.on('data', (chunk) => (out += chunk));
  // The renderer inherits main's stdout; the pipe closes when both are gone.
  await new Promise((resolve) => main.stdout.on('end', resolve));
  assert.deepStrictEqual(JSON.parse(out.trim()), {
    syncError: 'ERR_DISCONNECTED',
    invokeError: 'ERR_DISCONNECTED',
    after: 'ERR_DISCONNECTED',
  });
});

test('main shut down lives on idle, and its renderer sees its calls fail', async () => {
  const main = childProcess.spawn(process.execPath, [path.join(__dirname, 'fixtures', 'shutdown-main.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  main.stdout.on('data', (chunk) => (out += chunk));
  const ended = new Promise((resolve) => main.stdout.on('end', resolve));
  const code = await new Promise((resolve) => main.on('exit', resolve));
  await ended;
  assert.equal(code, 0);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  const renderer = lines.find((l) => 'after' in l);
  const cpu = lines.find((l) => 'cpuMsAfterShutdown' in l);
  assert.deepStrictEqual(renderer, { after: 'ERR_DISCONNECTED' });
  // 300 ms of an idle loop: far less than spinning on the descriptor would take.
  assert.ok(cpu.cpuMsAfterShutdown < 150, `main used ${cpu.cpuMsAfterShutdown} ms of CPU while idle`);
});

test("a renderer that floods main does not starve another's async handler", async () => {
  const s = scope();
  try {
    let noise = 0;
    s.on('noise', () => noise++);
    s.handle('slow-async', async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return 'ok';
    });
    const flooder = run('flood');
    assert.equal(await flooder.result, 'flooding');
    const timed = run('timedInvokes');
    const worst = await timed.result;
    flooder.webContents.send('stop');
    assert.equal((await timed.exited).code, 0);
    await flooder.exited;
    assert.ok(noise > 0);
    // 10 ms of work each; seconds would mean the flood held main's loop.
    assert.ok(worst < 1000, `an invoke took ${worst} ms under the flood`);
  } finally {
    s.remove();
  }
});
