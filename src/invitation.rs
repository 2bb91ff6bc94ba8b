//! The invitation a spawned renderer inherits: which descriptors hold its
//! segment and lifeline, passed in one environment variable.
//!
//! Format: `memfd:<segment fd>:<lifeline fd>:<segment length>:<main pid>`. The
//! leading word is the seam for other segment kinds (a named segment would send
//! its name instead of a descriptor).

use std::os::fd::RawFd;

/// The environment variable [`crate::IpcMain::spawn`] sets in the child.
pub(crate) const ENV_VAR: &str = "RINGIPC_RENDERER";

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invitation {
    pub segment_fd: RawFd,
    pub lifeline_fd: RawFd,
    pub segment_len: usize,
    pub main_pid: u32,
}

impl Invitation {
    pub fn encode(&self) -> String {
        format!(
            "memfd:{}:{}:{}:{}",
            self.segment_fd, self.lifeline_fd, self.segment_len, self.main_pid
        )
    }

    pub fn decode(s: &str) -> Result<Invitation, String> {
        let bad = || format!("malformed {ENV_VAR}={s:?}");
        let mut parts = s.split(':');
        if parts.next() != Some("memfd") {
            return Err(format!(
                "{ENV_VAR}={s:?} names a segment kind this build does not support"
            ));
        }
        let mut next = || parts.next().ok_or_else(bad);
        let inv = Invitation {
            segment_fd: next()?.parse().map_err(|_| bad())?,
            lifeline_fd: next()?.parse().map_err(|_| bad())?,
            segment_len: next()?.parse().map_err(|_| bad())?,
            main_pid: next()?.parse().map_err(|_| bad())?,
        };
        if parts.next().is_some() || inv.segment_fd < 0 || inv.lifeline_fd < 0 {
            return Err(bad());
        }
        Ok(inv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let i = Invitation {
            segment_fd: 5,
            lifeline_fd: 6,
            segment_len: 1 << 20,
            main_pid: 42,
        };
        assert_eq!(Invitation::decode(&i.encode()), Ok(i));
        for bad in [
            "",
            "memfd",
            "memfd:1:2:3",
            "memfd:1:2:3:4:5",
            "memfd:-1:2:3:4",
            "shm:/x:2:3:4",
            "memfd:a:2:3:4",
        ] {
            assert!(Invitation::decode(bad).is_err(), "{bad}");
        }
    }
}
