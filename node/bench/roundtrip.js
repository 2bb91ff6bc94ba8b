'use strict';
// Round trips from a child process to main, in one run: ringipc's sendSync
// and invoke against Node's built-in child_process IPC (process.send, with
// the 'advanced' serialization, i.e. structured clone like ringipc's), hot
// (back to back) and cold (3 ms apart), and 1 MiB payloads. Each child
// times its own calls; the blocks alternate over several rounds and the
// table gives the median of the rounds' percentiles.
//
//   cargo build --release -p ringipc-node && node node/bench/roundtrip.js

const fs = require('node:fs');
const path = require('node:path');
const childProcess = require('node:child_process');

// Timing a debug build would mislead: the release build, unless told.
const release = path.join(__dirname, '..', '..', 'target', 'release', 'libringipc_node.so');
if (!process.env.RINGIPC_NODE_ADDON && fs.existsSync(release)) process.env.RINGIPC_NODE_ADDON = release;

const { ipcMain } = require('..');

const ROUNDS = Number(process.env.ROUNDS || 3);
const HOT = Number(process.env.HOT || 20000);
const COLD = Number(process.env.COLD || 200);
const BIG = Number(process.env.BIG || 200);

const RENDERER = path.join(__dirname, 'child.js');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function main() {
  ipcMain.on('echo', (e, v) => {
    e.returnValue = v;
  });
  ipcMain.handle('echo', (_e, v) => v);
  const { webContents } = ipcMain.spawn(process.execPath, [RENDERER, 'ringipc'], { stdio: 'inherit' });
  const peer = childProcess.fork(RENDERER, ['child_process'], { serialization: 'advanced' });
  peer.on('message', (m) => {
    if (m.echo !== undefined) peer.send(m);
  });
  const results = new Map();
  const ask = {
    ringipc: (spec) =>
      new Promise((resolve) => {
        ipcMain.once('bench-result', (_e, r) => resolve(r));
        webContents.send('bench', spec);
      }),
    child_process: (spec) =>
      new Promise((resolve) => {
        const on = (m) => {
          if (m.result) {
            peer.removeListener('message', on);
            resolve(m.result);
          }
        };
        peer.on('message', on);
        peer.send({ bench: spec });
      }),
  };
  const cases = [
    ['ringipc', 'sendSync', 'hot', 16, HOT],
    ['ringipc', 'invoke', 'hot', 16, HOT],
    ['child_process', 'send', 'hot', 16, HOT],
    ['ringipc', 'sendSync', 'cold', 16, COLD],
    ['ringipc', 'invoke', 'cold', 16, COLD],
    ['child_process', 'send', 'cold', 16, COLD],
    ['ringipc', 'sendSync', 'hot', 1 << 20, BIG],
    ['ringipc', 'invoke', 'hot', 1 << 20, BIG],
    ['child_process', 'send', 'hot', 1 << 20, BIG],
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [transport, call, mode, size, n] of cases) {
      const r = await ask[transport]({ call, mode, size, n });
      const key = `${transport} ${call} ${mode} ${size}`;
      if (!results.has(key)) results.set(key, { transport, call, mode, size, p50: [], p99: [] });
      results.get(key).p50.push(r.p50);
      results.get(key).p99.push(r.p99);
    }
  }
  const rows = [...results.values()].map((r) => ({ ...r, p50: median(r.p50), p99: median(r.p99), rounds: r.p50 }));
  const us = (ns) => (ns / 1000).toFixed(ns < 10000 ? 2 : 1);
  console.log(`node ${process.version}, ${ROUNDS} rounds, medians of each round's percentiles (µs)`);
  console.log('| transport | call | payload | mode | p50 | p99 | p50 of each round |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const payload = r.size === 16 ? '16 B string' : '1 MiB Uint8Array';
    console.log(
      `| ${r.transport} | ${r.call} | ${payload} | ${r.mode} | ${us(r.p50)} | ${us(r.p99)} | ${r.rounds.map(us).join(', ')} |`,
    );
  }
  const find = (t, c, m, s) => rows.find((r) => r.transport === t && r.call === c && r.mode === m && r.size === s);
  for (const [mode, size] of [['hot', 16], ['cold', 16], ['hot', 1 << 20]]) {
    const cp = find('child_process', 'send', mode, size).p50;
    const sync = find('ringipc', 'sendSync', mode, size).p50;
    const inv = find('ringipc', 'invoke', mode, size).p50;
    console.log(
      `${mode} ${size === 16 ? '16 B' : '1 MiB'}: child_process ÷ sendSync = ${(cp / sync).toFixed(1)}×, ` +
        `child_process ÷ invoke = ${(cp / inv).toFixed(1)}×`,
    );
  }
  webContents.send('quit');
  peer.send({ quit: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
