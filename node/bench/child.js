'use strict';
// The calling side of bench/roundtrip.js: `child.js ringipc` (a renderer)
// or `child.js child_process` (a fork with an IPC channel).

const { ipcRenderer } = require('..');

function payload(size) {
  if (size === 16) return 'sixteen byte str';
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = i & 255;
  return bytes;
}

async function time({ mode, n }, once) {
  const warm = mode === 'hot' ? Math.min(2000, n >> 2) : 5;
  for (let i = 0; i < warm; i++) await once();
  const ns = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (mode === 'cold') await new Promise((resolve) => setTimeout(resolve, 3));
    const start = process.hrtime.bigint();
    await once();
    ns[i] = Number(process.hrtime.bigint() - start);
  }
  ns.sort();
  return { p50: ns[n >> 1], p99: ns[Math.min(n - 1, Math.floor(n * 0.99))] };
}

if (process.argv[2] === 'ringipc') {
  ipcRenderer.on('bench', async (_e, spec) => {
    const value = payload(spec.size);
    const once =
      spec.call === 'sendSync'
        ? () => ipcRenderer.sendSync('echo', value)
        : () => ipcRenderer.invoke('echo', value);
    // A sync once() awaited costs a microtask, as the invoke's does.
    ipcRenderer.send('bench-result', await time(spec, once));
  });
  ipcRenderer.on('quit', () => ipcRenderer.removeAllListeners());
} else {
  let waiting = null;
  process.on('message', async (m) => {
    if (m.echo !== undefined) {
      const resolve = waiting;
      waiting = null;
      resolve(m.echo);
    } else if (m.bench) {
      const value = payload(m.bench.size);
      const once = () =>
        new Promise((resolve) => {
          waiting = resolve;
          process.send({ echo: value });
        });
      process.send({ result: await time(m.bench, once) });
    } else if (m.quit) {
      process.disconnect();
    }
  });
}
