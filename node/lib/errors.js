'use strict';
// The native side throws "<code>\0<message>"; callers see an Error with a
// Node-style `.code`.

function fromNative(error) {
  if (!(error instanceof Error) || typeof error.message !== 'string') return error;
  const split = error.message.indexOf('\0');
  if (split < 0) return error;
  const converted = new Error(error.message.slice(split + 1));
  converted.code = error.message.slice(0, split);
  return converted;
}

/** Calls `f`, rethrowing a native error as an `Error` with `.code`. */
function call(f) {
  try {
    return f();
  } catch (e) {
    throw fromNative(e);
  }
}

module.exports = { fromNative, call };
