'use strict';
// Taking what the native side has, on the JavaScript thread, for both ipcMain
// and ipcRenderer.

/** How long one wake-up may keep the thread handling messages before the
 * rest of the loop gets a turn. */
const DRAIN_BUDGET_NS = 2_000_000n;

/**
 * Takes batches from `next()` until one is empty (the native side then has
 * nothing left, and its descriptor is armed), handing each delivery to
 * `deliver`. An exception from one delivery reaches the process on the next
 * tick, as any event listener's would, after the rest of the batch. Past
 * the budget it stops and returns `false`: the descriptor is not armed, so
 * the caller must come back (`setImmediate`) rather than wait for it.
 */
function drainBatches(next, deliver) {
  const until = process.hrtime.bigint() + DRAIN_BUDGET_NS;
  for (;;) {
    const batch = next();
    if (batch.length === 0) return true;
    for (const delivery of batch) {
      try {
        deliver(delivery);
      } catch (error) {
        process.nextTick(() => {
          throw error;
        });
      }
    }
    if (process.hrtime.bigint() > until) return false;
  }
}

module.exports = { drainBatches };
