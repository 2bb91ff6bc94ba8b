'use strict';
// The seed's `ipc` module (early Electron): one name for both sides.
// In main it is `ipcMain` (`ipc.on(channel, (event, arg) => ...)`); in a
// renderer it sends with `ipc.send` / `ipc.sendSync`, and its listeners get
// the arguments only, as early Electron called them: `ipc.on(channel,
// (arg, ...) => ...)`.

const { ipcMain, ipcRenderer, isRenderer } = require('..');

function rendererIpc() {
  const wrapped = new WeakMap();
  const unwrap = (listener) => wrapped.get(listener) || listener;
  const wrap = (listener) => {
    if (!wrapped.has(listener)) wrapped.set(listener, (_event, ...args) => listener(...args));
    return wrapped.get(listener);
  };
  return {
    send: (channel, ...args) => ipcRenderer.send(channel, ...args),
    sendSync: (channel, ...args) => ipcRenderer.sendSync(channel, ...args),
    on(channel, listener) {
      ipcRenderer.on(channel, wrap(listener));
      return this;
    },
    once(channel, listener) {
      ipcRenderer.once(channel, wrap(listener));
      return this;
    },
    removeListener(channel, listener) {
      ipcRenderer.removeListener(channel, unwrap(listener));
      return this;
    },
    removeAllListeners(channel) {
      ipcRenderer.removeAllListeners(channel);
      return this;
    },
  };
}

module.exports = isRenderer() ? rendererIpc() : ipcMain;
