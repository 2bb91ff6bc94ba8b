'use strict';
// Starting fixture renderers from the test process, which is main.

const path = require('node:path');
const { ipcMain } = require('..');

const RENDERER = path.join(__dirname, 'fixtures', 'renderer.js');

/**
 * Spawns `fixtures/renderer.js <scenario>`. `result` resolves with what it
 * sends on 'result', and rejects if it exits first; `exited` resolves with
 * its exit.
 */
function run(scenario, { args = [], spawn = {} } = {}) {
  const { webContents, child } = ipcMain.spawn(process.execPath, [RENDERER, scenario, ...args], {
    stdio: ['ignore', 'inherit', 'pipe'],
    ...spawn,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  const result = new Promise((resolve, reject) => {
    const onResult = (event, value) => {
      if (event.sender !== webContents) return;
      ipcMain.removeListener('result', onResult);
      resolve(value);
    };
    ipcMain.on('result', onResult);
    exited.then(({ code, signal }) => {
      ipcMain.removeListener('result', onResult);
      reject(new Error(`renderer '${scenario}' exited (${code ?? signal}) before its result:\n${stderr}`));
    });
  });
  return { webContents, child, result, exited };
}

/** Adds main's listeners and handlers for one test; `remove()` takes them away. */
function scope() {
  const listeners = [];
  const handlers = [];
  return {
    on(channel, f) {
      ipcMain.on(channel, f);
      listeners.push([channel, f]);
    },
    handle(channel, f) {
      ipcMain.handle(channel, f);
      handlers.push(channel);
    },
    remove() {
      for (const [channel, f] of listeners) ipcMain.removeListener(channel, f);
      for (const channel of handlers) ipcMain.removeHandler(channel);
    },
  };
}

/** Collects garbage now (the suite runs without --expose-gc). */
function gc() {
  require('node:v8').setFlagsFromString('--expose-gc');
  return require('node:vm').runInNewContext('gc');
}

module.exports = { run, scope, gc, RENDERER };
