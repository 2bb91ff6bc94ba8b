'use strict';
// ringipc for Node.js: Electron's `ipcMain` and `ipcRenderer` between a main
// process and the renderer processes it spawns, over shared-memory rings.
//
//   const { ipcMain } = require('ringipc');           // in main
//   const { webContents } = ipcMain.spawn(process.execPath, ['renderer.js']);
//   const { ipcRenderer } = require('ringipc');       // in the renderer
//
// Both objects exist in every process; each connects only when first used.

const { IpcMain } = require('./lib/ipc-main');
const { IpcRenderer } = require('./lib/ipc-renderer');
const { WebContents } = require('./lib/web-contents');

const ipcMain = new IpcMain();
const ipcRenderer = new IpcRenderer();

/** Whether this process was started as a renderer (by `ipcMain.spawn`). */
function isRenderer() {
  return typeof process.env.RINGIPC_RENDERER === 'string';
}

module.exports = { ipcMain, ipcRenderer, isRenderer, WebContents };
