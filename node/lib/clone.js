'use strict';
// Values cross as structured clones, as in Electron: Node's v8.serialize,
// which keeps Dates, Maps, Sets, typed arrays, Buffers, cycles and shared
// references, and refuses functions, symbols, promises and native handles.
//
// A message is always a list (a message's arguments; a return value is a
// list of one). v8.serialize costs ~4 µs even for one short string, more
// than the rest of a round trip, so a list of primitives (strings, numbers,
// booleans, null, undefined: whose structured clone is the value itself)
// takes a compact form instead. The first byte tells the two apart: v8's
// format always starts with its version tag, 0xFF.

const v8 = require('node:v8');

const COMPACT = 0x01;
const V8_VERSION_TAG = 0xff;

const UNDEFINED = 0;
const NULL = 1;
const FALSE = 2;
const TRUE = 3;
const NUMBER = 4;
const STRING = 5;

/** Lists of at most this many primitives take the compact form. */
const COMPACT_MAX_ITEMS = 16;
/** ... and strings of at most this many UTF-16 units (longer ones gain
 * nothing over v8's copy). */
const COMPACT_MAX_STRING = 4096;

function compactSize(list) {
  if (list.length > COMPACT_MAX_ITEMS) return -1;
  let size = 1;
  for (const v of list) {
    switch (typeof v) {
      case 'undefined':
      case 'boolean':
        size += 1;
        break;
      case 'number':
        size += 9;
        break;
      case 'string':
        // UTF-8 cannot carry a lone surrogate, which v8 keeps.
        if (v.length > COMPACT_MAX_STRING || !v.isWellFormed()) return -1;
        size += 5 + Buffer.byteLength(v, 'utf8');
        break;
      case 'object':
        if (v !== null) return -1;
        size += 1;
        break;
      default:
        return -1;
    }
  }
  return size;
}

function writeCompact(list, size) {
  const out = Buffer.allocUnsafe(size);
  out[0] = COMPACT;
  let at = 1;
  for (const v of list) {
    switch (typeof v) {
      case 'undefined':
        out[at++] = UNDEFINED;
        break;
      case 'boolean':
        out[at++] = v ? TRUE : FALSE;
        break;
      case 'number':
        out[at++] = NUMBER;
        at = out.writeDoubleLE(v, at);
        break;
      case 'string': {
        out[at++] = STRING;
        const len = out.write(v, at + 4, 'utf8');
        out.writeUInt32LE(len, at);
        at += 4 + len;
        break;
      }
      default:
        out[at++] = NULL;
    }
  }
  return out;
}

function readCompact(buffer) {
  const list = [];
  let at = 1;
  while (at < buffer.length) {
    switch (buffer[at++]) {
      case UNDEFINED:
        list.push(undefined);
        break;
      case NULL:
        list.push(null);
        break;
      case FALSE:
        list.push(false);
        break;
      case TRUE:
        list.push(true);
        break;
      case NUMBER:
        if (at + 8 > buffer.length) throw malformed();
        list.push(buffer.readDoubleLE(at));
        at += 8;
        break;
      case STRING: {
        if (at + 4 > buffer.length) throw malformed();
        const len = buffer.readUInt32LE(at);
        at += 4;
        if (at + len > buffer.length) throw malformed();
        list.push(buffer.toString('utf8', at, at + len));
        at += len;
        break;
      }
      default:
        throw malformed();
    }
  }
  return list;
}

function malformed() {
  const error = new Error('ringipc: a message that is no value this module wrote');
  error.code = 'ERR_INVALID_MESSAGE';
  return error;
}

/** A list of values as bytes; throws 'An object could not be cloned.' as
 * Electron does for what structured clone refuses. */
function serialize(list) {
  const size = compactSize(list);
  if (size >= 0) return writeCompact(list, size);
  try {
    return v8.serialize(list);
  } catch (cause) {
    const error = new Error('An object could not be cloned.', { cause });
    error.code = 'ERR_NOT_CLONEABLE';
    throw error;
  }
}

/** The list `serialize` wrote. */
function deserialize(buffer) {
  if (buffer.length > 0 && buffer[0] === COMPACT) return readCompact(buffer);
  if (buffer.length > 0 && buffer[0] === V8_VERSION_TAG) {
    const list = v8.deserialize(buffer);
    if (Array.isArray(list)) return list;
  }
  throw malformed();
}

module.exports = { serialize, deserialize };
