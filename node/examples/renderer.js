'use strict';
// The seed's renderer in JavaScript, on ringipc. Unlike a page, it leaves
// once it has its reply: a renderer without listeners lets its process exit.

const ipc = require('../ipc');

console.log(ipc.sendSync('synchronous-message', 'ping')); // prints "pong"

ipc.on('asynchronous-reply', function reply(arg) {
  console.log(arg); // prints "pong"
  ipc.removeListener('asynchronous-reply', reply);
});
ipc.send('asynchronous-message', 'ping');
