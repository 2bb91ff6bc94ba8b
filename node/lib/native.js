'use strict';
// Loads the addon cargo built (`cargo build --release -p ringipc-node`).
// RINGIPC_NODE_ADDON names it explicitly (the test suite points it at the
// build under test); otherwise the newer of the release and debug builds
// in the workspace's target directory is used.

const fs = require('node:fs');
const path = require('node:path');

function locate() {
  if (process.env.RINGIPC_NODE_ADDON) return process.env.RINGIPC_NODE_ADDON;
  const target = process.env.CARGO_TARGET_DIR || path.join(__dirname, '..', '..', 'target');
  const builds = ['release', 'debug']
    .map((profile) => path.join(target, profile, 'libringipc_node.so'))
    .filter((file) => fs.existsSync(file))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (builds.length === 0) {
    throw new Error(
      'ringipc: the native addon is not built; run `cargo build --release -p ringipc-node` ' +
        'in the repository (or set RINGIPC_NODE_ADDON to its path)',
    );
  }
  return builds[0];
}

let loaded;

function native() {
  if (!loaded) {
    const module = { exports: {} };
    process.dlopen(module, locate());
    loaded = module.exports;
  }
  return loaded;
}

module.exports = { native };
