'use strict';
// ipcRenderer: this process's connection to main, made on first use from
// the invitation `ipcMain.spawn` put in its environment. Its descriptor sits
// in libuv; it keeps the process alive only while listeners or invocations
// wait, like any handle.

const { EventEmitter } = require('node:events');
const { native } = require('./native');
const { call } = require('./errors');
const { serialize, deserialize } = require('./clone');
const { checkChannel } = require('./channel');
const { drainBatches } = require('./drain');

const MESSAGE = 0;
const ANSWER = 1;
const FAILED = 2;
const CLOSED = 3;

class IpcRenderer extends EventEmitter {
  constructor() {
    super();
    this._native = null;
    this._invocations = new Map();
    this._drainScheduled = false;
    this._closed = null;
  }

  /** The native renderer, connected on first use. */
  _renderer() {
    if (this._closed) throw this._closedError();
    if (!this._native) {
      this._native = call(() => new (native().NativeRenderer)(() => this._drain()));
      // Takes whatever arrived already, and arms the descriptor.
      this._drain();
      this._keepAlive();
    }
    return this._native;
  }

  _closedError() {
    const error = new Error(`ringipc: main is gone (${this._closed})`);
    error.code = 'ERR_DISCONNECTED';
    return error;
  }

  _keepAlive() {
    if (!this._native) return;
    let listening = false;
    for (const name of this.eventNames()) {
      if (typeof name === 'string' && name !== 'disconnected' && this.listenerCount(name) > 0) listening = true;
    }
    this._native.setRef(listening || this._invocations.size > 0);
  }

  _drain() {
    this._drainScheduled = false;
    const renderer = this._native;
    if (!drainBatches(() => renderer.drain(), (d) => this._deliver(d))) {
      // Main keeps sending: let the rest of the loop run, then go on.
      this._drainScheduled = true;
      setImmediate(() => this._drain());
    }
    this._keepAlive();
  }

  /** After a sendSync took answers off the ring, nothing may make the
   * descriptor readable for them: drain on the next turn of the loop. */
  _drainSoon() {
    if (this._drainScheduled || !this._native.hasWork()) return;
    this._drainScheduled = true;
    setImmediate(() => this._drain());
  }

  _deliver(d) {
    switch (d.kind) {
      case MESSAGE: {
        const event = { sender: this, senderId: d.senderId ?? 0, ports: [] };
        this.emit(d.channel, event, ...deserialize(d.payload));
        return;
      }
      case ANSWER:
      case FAILED: {
        const pending = this._invocations.get(d.token);
        if (!pending) return;
        this._invocations.delete(d.token);
        if (d.kind === ANSWER) settle(pending, d.payload);
        else pending.reject(invokeError(pending.channel, d));
        return;
      }
      case CLOSED:
        this._closed = d.message;
        this.emit('disconnected', d.message);
        return;
    }
  }

  /** Sends an asynchronous message to main's listeners of `channel`. */
  send(channel, ...args) {
    checkChannel(channel);
    const payload = serialize(args);
    const renderer = this._renderer();
    call(() => renderer.send(channel, payload));
  }

  /**
   * Sends a message and blocks this thread until main's listener sets
   * `event.returnValue`, which it returns. Throws if no listener answers
   * (ringipc answers at once where Electron would hang).
   */
  sendSync(channel, ...args) {
    checkChannel(channel);
    const payload = serialize(args);
    const renderer = this._renderer();
    let answer;
    try {
      answer = call(() => renderer.sendSync(channel, payload));
    } finally {
      this._drainSoon();
    }
    return deserialize(answer)[0];
  }

  /** Calls main's handler of `channel`; resolves with what it returns. */
  invoke(channel, ...args) {
    return new Promise((resolve, reject) => {
      checkChannel(channel);
      const payload = serialize(args);
      const renderer = this._renderer();
      const token = call(() => renderer.invoke(channel, payload));
      this._invocations.set(token, { resolve, reject, channel });
      this._keepAlive();
      this._drainSoon();
    });
  }

  /** Main's id for this renderer (`webContents.id` there). */
  get id() {
    return this._renderer().id();
  }
}

function settle(pending, payload) {
  try {
    pending.resolve(deserialize(payload)[0]);
  } catch (error) {
    pending.reject(error);
  }
}

function invokeError(channel, d) {
  // Electron's wording, and the handler's own text on its own.
  const message =
    d.code === 'ERR_HANDLER_FAILED' ? d.message : `Error invoking remote method '${channel}': Error: ${d.message}`;
  const error = new Error(message);
  error.code = d.code;
  error.remoteMessage = d.detail;
  return error;
}

// Listening connects (to take main's messages) and keeps the process
// alive; the last listener gone lets it go.
for (const method of ['on', 'addListener', 'prependListener', 'once', 'prependOnceListener']) {
  IpcRenderer.prototype[method] = function (channel, listener) {
    const ours = typeof channel === 'string' && channel !== 'disconnected';
    if (ours) checkChannel(channel);
    EventEmitter.prototype[method].call(this, channel, listener);
    if (ours && !this._closed) {
      // Connecting takes what main sent already: the listener must be there.
      try {
        this._renderer();
      } catch (error) {
        EventEmitter.prototype.removeListener.call(this, channel, listener);
        throw error;
      }
    }
    this._keepAlive();
    return this;
  };
}
for (const method of ['off', 'removeListener']) {
  IpcRenderer.prototype[method] = function (channel, listener) {
    EventEmitter.prototype[method].call(this, channel, listener);
    this._keepAlive();
    return this;
  };
}
IpcRenderer.prototype.removeAllListeners = function () {
  EventEmitter.prototype.removeAllListeners.apply(this, arguments);
  this._keepAlive();
  return this;
};

module.exports = { IpcRenderer };
