//! The invitation a spawned renderer inherits: which descriptors hold its
//! segment and lifeline, passed in one environment variable.
//!
//! Format: `memfd:<fd>:<dev>:<ino>:<fd>:<dev>:<ino>:<segment length>:<main pid>`
//! (segment, then lifeline). The `(dev, ino)` pairs let the renderer check that
//! the numbers still name the files main meant before it takes ownership of
//! them. The leading word is the seam for other segment kinds (a named segment
//! would send its name instead of a descriptor).

use std::os::fd::RawFd;

/// The environment variable [`crate::IpcMain::spawn`] sets in the child.
pub(crate) const ENV_VAR: &str = "RINGIPC_RENDERER";

/// A descriptor number and the identity of the open file it must name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InheritedFd {
    pub fd: RawFd,
    pub id: (u64, u64),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invitation {
    pub segment: InheritedFd,
    pub lifeline: InheritedFd,
    pub segment_len: usize,
    pub main_pid: u32,
}

impl Invitation {
    pub fn encode(&self) -> String {
        let (s, l) = (self.segment, self.lifeline);
        format!(
            "memfd:{}:{}:{}:{}:{}:{}:{}:{}",
            s.fd, s.id.0, s.id.1, l.fd, l.id.0, l.id.1, self.segment_len, self.main_pid
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
        let mut fd = || -> Result<InheritedFd, String> {
            let fd: RawFd = next()?.parse().map_err(|_| bad())?;
            let dev = next()?.parse().map_err(|_| bad())?;
            let ino = next()?.parse().map_err(|_| bad())?;
            if fd < 0 {
                Err(bad())
            } else {
                Ok(InheritedFd { fd, id: (dev, ino) })
            }
        };
        let segment = fd()?;
        let lifeline = fd()?;
        let inv = Invitation {
            segment,
            lifeline,
            segment_len: next()?.parse().map_err(|_| bad())?,
            main_pid: next()?.parse().map_err(|_| bad())?,
        };
        if parts.next().is_some() || segment.fd == lifeline.fd {
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
            segment: InheritedFd { fd: 5, id: (1, 2) },
            lifeline: InheritedFd { fd: 6, id: (3, 4) },
            segment_len: 1 << 20,
            main_pid: 42,
        };
        assert_eq!(Invitation::decode(&i.encode()), Ok(i));
        for bad in [
            "",
            "memfd",
            "memfd:1:0:0:2:0:0:3",
            "memfd:1:0:0:2:0:0:3:4:5",
            "memfd:-1:0:0:2:0:0:3:4",
            "memfd:2:0:0:2:0:0:3:4",
            "shm:/x:0:0:2:0:0:3:4",
            "memfd:a:0:0:2:0:0:3:4",
        ] {
            assert!(Invitation::decode(bad).is_err(), "{bad}");
        }
    }
}
