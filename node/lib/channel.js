'use strict';

/** Electron's channels are strings; ringipc's are 1 to 255 bytes of UTF-8. */
function checkChannel(channel) {
  if (typeof channel !== 'string') {
    const error = new TypeError(`Expected channel to be a string, but found type '${typeof channel}'`);
    error.code = 'ERR_INVALID_ARG_TYPE';
    throw error;
  }
}

module.exports = { checkChannel };
