'use strict';
// ipcMain: an EventEmitter whose channels are the renderers' messages, as in
// Electron. The native main is created on first use and dispatched on this
// thread whenever its descriptor (watched inside libuv) is readable.

const { EventEmitter } = require('node:events');
const childProcess = require('node:child_process');
const { native } = require('./native');
const { call } = require('./errors');
const { serialize, deserialize } = require('./clone');
const { checkChannel } = require('./channel');
const { drainBatches } = require('./drain');
const { WebContents } = require('./web-contents');

const MESSAGE = 0;
const SYNC = 1;
const INVOKE = 2;
const LEFT = 3;

/** What a listener of `ipcMain.on` gets first (Electron's IpcMainEvent). */
class IpcMainEvent {
  constructor(main, sender, token) {
    this.sender = sender;
    this.processId = sender.getOSProcessId();
    this._main = main;
    this._token = token;
    this._answered = token === undefined;
    this._returnValue = undefined;
  }

  /** Answers a `sendSync`; the first value set wins, as in Electron. */
  set returnValue(value) {
    if (this._answered) return;
    this._answered = true;
    this._returnValue = value;
    this._main._respond(this._token, value);
  }

  get returnValue() {
    return this._returnValue;
  }

  /** Sends a message back to the renderer this one came from. */
  reply(channel, ...args) {
    this.sender.send(channel, ...args);
  }
}

/** What a handler of `ipcMain.handle` gets first (no returnValue, no reply). */
class IpcMainInvokeEvent {
  constructor(sender) {
    this.sender = sender;
    this.processId = sender.getOSProcessId();
  }
}

/** An error as the caller's message reads it ("Error: text", as Electron's
 * `error.toString()`), whatever was thrown. */
function describe(error) {
  try {
    return String(error);
  } catch {
    return 'Error: a value that cannot be turned into text was thrown';
  }
}

class IpcMain extends EventEmitter {
  constructor() {
    super();
    this._native = null;
    this._handlers = new Map();
    this._contents = new Map();
    // A sync call whose event is collected with no return value set fails
    // in the renderer instead of waiting forever (Electron: "reply was never
    // sent").
    this._unanswered = new FinalizationRegistry((token) => {
      if (this._native) this._native.forget(token);
    });
    // As in Electron: a message on the channel "error" must not throw.
    this.on('error', () => {});
  }

  /** The native main, made on first use. */
  _main() {
    if (!this._native) {
      const main = call(() => new (native().NativeMain)(() => this._drain()));
      this._native = main;
      for (const channel of this.eventNames()) this._sync(channel);
    }
    return this._native;
  }

  /** Registers with the native main the channels that have listeners. */
  _sync(channel) {
    if (typeof channel !== 'string' || !this._native) return;
    if (this.listenerCount(channel) > 0) call(() => this._native.listen(channel));
    else this._native.unlisten(channel);
  }

  _drain() {
    const main = this._native;
    const next = () => {
      try {
        return call(() => main.drain());
      } catch (error) {
        if (error.code === 'ERR_DISCONNECTED') return []; // main shut down
        throw error;
      }
    };
    if (!drainBatches(next, (d) => this._deliver(d))) {
      // Renderers keep sending: let timers, I/O and promise jobs run, then
      // go on.
      setImmediate(() => this._drain());
    }
  }

  _deliver(d) {
    if (d.kind === LEFT) {
      const contents = this._contents.get(d.sender);
      this._contents.delete(d.sender);
      this._keepAlive();
      if (contents) contents._destroyed(d.reason);
      return;
    }
    const sender = this._contents.get(d.sender);
    if (!sender) {
      if (d.token !== undefined && d.token !== null) this._native.fail(d.token, 'WebContents does not exist');
      return;
    }
    let args;
    try {
      args = deserialize(d.payload);
    } catch (e) {
      // Bytes a renderer wrote that are no structured clone (not from this
      // module): its call fails, main goes on.
      if (d.token !== undefined && d.token !== null) this._native.fail(d.token, `Error: ${e.message}`);
      return;
    }
    if (d.kind === INVOKE) {
      this._invoke(d.channel, d.token, sender, args);
      return;
    }
    const token = d.kind === SYNC ? d.token : undefined;
    if (token !== undefined && this.listenerCount(d.channel) === 0) {
      // Its last listener went after the message was queued.
      this._native.fail(token, `Error: No listener for '${d.channel}'`);
      return;
    }
    const event = new IpcMainEvent(this, sender, token);
    try {
      this.emit(d.channel, event, ...args);
    } catch (error) {
      // A listener threw: the call fails, and the error goes on to `_drain`.
      if (!event._answered) {
        event._answered = true;
        this._native.fail(token, describe(error));
      }
      throw error;
    }
    if (!event._answered) this._unanswered.register(event, token);
  }

  _respond(token, value) {
    let bytes;
    try {
      bytes = serialize([value]);
    } catch (error) {
      this._native.fail(token, describe(error));
      throw error;
    }
    try {
      call(() => this._native.respond(token, bytes));
    } catch (error) {
      // The renderer left meanwhile; nobody waits for the answer.
      if (error.code !== 'ERR_DISCONNECTED') throw error;
    }
  }

  _invoke(channel, token, sender, args) {
    const entry = this._handlers.get(channel);
    if (!entry) {
      this._native.fail(token, `Error: No handler registered for '${channel}'`);
      return;
    }
    if (entry.once) this.removeHandler(channel);
    const fail = (error) => {
      console.error(`Error occurred in handler for '${channel}':`, error);
      this._native.fail(token, describe(error));
    };
    const answer = (value) => {
      try {
        this._respond(token, value);
      } catch (error) {
        // The caller was answered with the error already (a value that
        // cannot be cloned, or is too long); main logs it, as Electron does.
        console.error(`Error occurred in handler for '${channel}':`, error);
      }
    };
    let result;
    try {
      result = entry.handler(new IpcMainInvokeEvent(sender), ...args);
    } catch (error) {
      fail(error);
      return;
    }
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      Promise.resolve(result).then(answer, fail);
      // A promise collected unsettled will never answer: the call fails
      // (Electron: "reply was never sent").
      this._unanswered.register(result, token);
    } else {
      answer(result);
    }
  }

  _keepAlive() {
    // Connected renderers keep main's process alive, as its children do.
    if (this._native) this._native.setRef(this._contents.size > 0);
  }

  /**
   * Starts a renderer process, as `child_process.spawn(command, args,
   * options)` does, with the descriptors and environment it needs to
   * connect. Returns `{ webContents, child }`.
   */
  spawn(command, args, options) {
    if (!Array.isArray(args)) {
      options = args;
      args = [];
    }
    options = { ...(options || {}) };
    const main = this._main();
    const prepared = call(() => main.prepare());
    let child;
    try {
      let stdio = options.stdio === undefined ? 'pipe' : options.stdio;
      stdio = typeof stdio === 'string' ? [stdio, stdio, stdio] : [...stdio];
      while (stdio.length < 3) stdio.push(undefined);
      // Our descriptors take the first numbers past the caller's: the
      // segment (unless it goes by name), then the lifeline.
      const segment = prepared.segmentFd == null ? -1 : stdio.push(prepared.segmentFd) - 1;
      const lifeline = stdio.push(prepared.lifelineFd) - 1;
      const [name, value] = call(() => main.environment(prepared.id, segment, lifeline));
      options.env = { ...(options.env || process.env), [name]: value };
      options.stdio = stdio;
      child = childProcess.spawn(command, args, options);
    } catch (error) {
      main.abandon(prepared.id);
      throw error;
    }
    const webContents = new WebContents(this, prepared.id);
    if (child.pid === undefined) {
      // The spawn failed; `child` emits 'error' as usual.
      main.abandon(prepared.id);
      webContents._destroyed('the renderer process did not start');
    } else {
      call(() => main.started(prepared.id, child.pid));
      this._contents.set(prepared.id, webContents);
      this._keepAlive();
    }
    return { webContents, child };
  }

  handle(channel, handler) {
    this._addHandler(channel, handler, false);
  }

  handleOnce(channel, handler) {
    this._addHandler(channel, handler, true);
  }

  _addHandler(channel, handler, once) {
    checkChannel(channel);
    if (typeof handler !== 'function') {
      throw new TypeError(`Expected handler to be a function, but found type '${typeof handler}'`);
    }
    if (this._handlers.has(channel)) {
      throw new Error(`Attempted to register a second handler for '${channel}'`);
    }
    call(() => this._main().handle(channel));
    this._handlers.set(channel, { handler, once });
  }

  removeHandler(channel) {
    if (this._handlers.delete(channel) && this._native) this._native.removeHandler(channel);
  }

  /** Every connected renderer. */
  getAllWebContents() {
    return [...this._contents.values()];
  }

  /**
   * How long (µs) main keeps its thread spinning for a burst's next message
   * after handling one, before returning to Node's loop. Default 50; 0 never
   * spins (every message then costs a wake-up).
   */
  setSpin(micros) {
    this._main().setSpin(micros);
  }

  /** Disconnects every renderer; main accepts nothing more. */
  shutdown() {
    if (this._native) this._native.shutdown();
  }
}

// Listener bookkeeping: every way a listener comes or goes tells the native
// main which channels to queue (a channel nobody listens to is "unhandled"
// there, and a sendSync on it fails at once instead of hanging).
for (const method of ['on', 'addListener', 'prependListener', 'once', 'prependOnceListener']) {
  IpcMain.prototype[method] = function (channel, listener) {
    if (typeof channel === 'string') checkChannel(channel);
    EventEmitter.prototype[method].call(this, channel, listener);
    this._sync(channel);
    return this;
  };
}
for (const method of ['off', 'removeListener']) {
  IpcMain.prototype[method] = function (channel, listener) {
    EventEmitter.prototype[method].call(this, channel, listener);
    this._sync(channel);
    return this;
  };
}
IpcMain.prototype.removeAllListeners = function (channel) {
  const channels = channel === undefined ? this.eventNames() : [channel];
  EventEmitter.prototype.removeAllListeners.apply(this, arguments);
  for (const c of channels) this._sync(c);
  return this;
};

module.exports = { IpcMain, IpcMainEvent, IpcMainInvokeEvent };
