//! [`LogGate`]: how much a renderer can make main log. Lines about what a
//! renderer caused (refused forwards, messages nobody listens to, listener
//! panics it triggered) pass a few at a time per renderer; the rest are
//! counted and reported in one summary line per window. Text a renderer
//! chose (channel names) is always logged escaped, with `{:?}`, so it cannot
//! forge lines or terminal sequences.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// Lines one renderer may cause per [`WINDOW`].
const LINES_PER_WINDOW: u32 = 10;
const WINDOW: Duration = Duration::from_secs(10);

/// One renderer's log allowance.
#[derive(Debug)]
pub(crate) struct LogGate {
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    printed: u32,
    suppressed: u64,
}

impl Default for LogGate {
    fn default() -> Self {
        LogGate {
            state: Mutex::new(Window {
                start: Instant::now(),
                printed: 0,
                suppressed: 0,
            }),
        }
    }
}

impl LogGate {
    /// Whether a line renderer `id` caused may be logged now. When a new
    /// window begins, the count of lines the last one suppressed is logged
    /// first.
    pub fn admit(&self, id: u32) -> bool {
        let mut w = self.state.lock();
        if w.start.elapsed() >= WINDOW {
            report(id, w.suppressed);
            *w = Window {
                start: Instant::now(),
                printed: 0,
                suppressed: 0,
            };
        }
        if w.printed < LINES_PER_WINDOW {
            w.printed += 1;
            return true;
        }
        w.suppressed += 1;
        false
    }

    /// Logs what is still suppressed (the renderer is leaving).
    pub fn close(&self, id: u32) {
        let mut w = self.state.lock();
        report(id, std::mem::take(&mut w.suppressed));
    }
}

fn report(id: u32, suppressed: u64) {
    if suppressed > 0 {
        log::warn!("renderer {id}: {suppressed} more log lines about it suppressed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_lines_pass_then_the_rest_are_counted() {
        let gate = LogGate::default();
        let passed = (0..1000).filter(|_| gate.admit(1)).count();
        assert_eq!(passed, LINES_PER_WINDOW as usize);
        assert_eq!(gate.state.lock().suppressed, 1000 - LINES_PER_WINDOW as u64);
        gate.close(1);
        assert_eq!(gate.state.lock().suppressed, 0);
    }
}
