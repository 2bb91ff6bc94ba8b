'use strict';

/** Electron's channels are strings; ringipc's are 1 to 255 bytes of UTF-8. */
function checkChannel(channel) {
  if (typeof channel !== 'string') {
    const error = new TypeError(`Expected channel to be a string, but found type '${typeof channel}'`);
    error.code = 'ERR_INVALID_ARG_TYPE';
    throw error;
  }
  const bytes = Buffer.byteLength(channel, 'utf8');
  if (bytes < 1 || bytes > 255) {
    const error = new RangeError(`A channel name is 1 to 255 bytes of UTF-8, not ${bytes}`);
    error.code = 'ERR_INVALID_CHANNEL';
    throw error;
  }
}

module.exports = { checkChannel };
