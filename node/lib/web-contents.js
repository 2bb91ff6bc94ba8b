'use strict';
// webContents: main's handle on one renderer (Electron's WebContents, for
// what ipc needs of it). Emits 'destroyed' with the reason once the renderer
// is gone.

const { EventEmitter } = require('node:events');
const { call } = require('./errors');
const { serialize } = require('./clone');
const { checkChannel } = require('./channel');

class WebContents extends EventEmitter {
  constructor(main, id) {
    super();
    this.id = id;
    this._main = main;
    this._pid = undefined; // known once the child started
    this._reason = null;
  }

  /** Sends an asynchronous message to the renderer's `ipcRenderer.on(channel)`. */
  send(channel, ...args) {
    checkChannel(channel);
    const payload = serialize(args);
    call(() => this._main._native.send(this.id, channel, payload));
  }

  isDestroyed() {
    return this._reason !== null;
  }

  /** Why the renderer left (null while connected). */
  get disconnectReason() {
    return this._reason;
  }

  /** The renderer's process id. */
  getOSProcessId() {
    if (this._pid === undefined) this._pid = this._main._native.pid(this.id) ?? undefined;
    return this._pid;
  }

  _destroyed(reason) {
    if (this._reason !== null) return;
    this._reason = reason;
    this.emit('destroyed', reason);
  }
}

module.exports = { WebContents };
