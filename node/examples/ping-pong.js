'use strict';
// The seed's main process in JavaScript, on ringipc: prints "ping" twice
// (the renderer's sendSync and send) while the renderer prints "pong" twice,
// then exits with the renderer.
//
//   cargo build --release -p ringipc-node && node node/examples/ping-pong.js

const path = require('node:path');
const ipc = require('../ipc');

ipc.on('asynchronous-message', function (event, arg) {
  console.log(arg); // prints "ping"
  event.sender.send('asynchronous-reply', 'pong');
});

ipc.on('synchronous-message', function (event, arg) {
  console.log(arg); // prints "ping"
  event.returnValue = 'pong';
});

// As Electron opens a page: a renderer process. Main lives while it does.
require('..').ipcMain.spawn(process.execPath, [path.join(__dirname, 'renderer.js')], { stdio: 'inherit' });
