//! Keeping big message buffers warm while big messages keep coming.
//!
//! Touching fresh pages costs more than copying into warm ones: a 16 MiB
//! echo took twice as long when main allocated its buffers anew for every
//! message. So a buffer a message grew is kept for the next one, and let go
//! once messages no longer need it: when a much smaller message follows, or
//! when its owner waits for work and no big message came for a while. One
//! big message does not pin its memory for good.

use std::time::{Duration, Instant};

/// Capacity that is always kept between messages.
pub(crate) const ALWAYS_KEEP: usize = 1 << 20;

/// How long after the last big message an owner that waits for work still
/// keeps its big buffers: longer than the gaps inside a stream of them.
pub(crate) const IDLE_RELEASE: Duration = Duration::from_millis(100);

/// When one owner's buffers last held a big message.
#[derive(Default)]
pub(crate) struct Keeper {
    last_big: Option<Instant>,
}

impl Keeper {
    /// After `buf` held a message of `used` bytes: a big buffer stays if the
    /// message needed a quarter of it or more, and goes otherwise.
    pub fn used(&mut self, buf: &mut Vec<u8>, used: usize) {
        if buf.capacity() <= ALWAYS_KEEP {
            return;
        }
        if used < buf.capacity() / 4 {
            *buf = Vec::new();
        } else {
            self.last_big = Some(Instant::now());
        }
    }

    /// When the owner is about to wait for work: a big buffer goes once no
    /// big message came for [`IDLE_RELEASE`].
    pub fn idle(&mut self, buf: &mut Vec<u8>) {
        if buf.capacity() > ALWAYS_KEEP
            && self.last_big.is_none_or(|at| at.elapsed() >= IDLE_RELEASE)
        {
            *buf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_buffer_stays_while_big_messages_use_it() {
        let mut keeper = Keeper::default();
        let mut buf = vec![0u8; 8 << 20];
        keeper.used(&mut buf, 8 << 20);
        keeper.idle(&mut buf);
        assert!(buf.capacity() >= 8 << 20, "a big message just came: kept");
        keeper.used(&mut buf, 1 << 20);
        assert_eq!(buf.capacity(), 0, "an eighth used: let go");
    }

    #[test]
    fn a_big_buffer_goes_when_idle_long_enough_and_a_small_one_stays() {
        let mut keeper = Keeper::default();
        let mut small = Vec::<u8>::with_capacity(ALWAYS_KEEP);
        keeper.idle(&mut small);
        assert_eq!(small.capacity(), ALWAYS_KEEP, "small ones are always kept");
        let mut big = vec![0u8; 2 * ALWAYS_KEEP];
        keeper.used(&mut big, 2 * ALWAYS_KEEP);
        keeper.last_big = Instant::now().checked_sub(IDLE_RELEASE);
        keeper.idle(&mut big);
        assert_eq!(big.capacity(), 0, "idle for long enough: let go");
    }
}
