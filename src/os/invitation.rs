//! The invitation a spawned renderer inherits: which descriptors hold its
//! segment and lifeline, passed in one environment variable.
//!
//! Format: `memfd:<fd>:<dev>:<ino>:<fd>:<dev>:<ino>:<segment length>:<main pid>`
//! (segment, then lifeline), or `named:<name>:<fd>:<dev>:<ino>:<segment
//! length>:<main pid>` for a named segment (its name, then the lifeline). The
//! `(dev, ino)` pairs let the renderer check that the numbers still name the
//! files main meant before it takes ownership of them.

use std::os::fd::RawFd;

/// The environment variable [`crate::IpcMain::spawn`] sets in the child.
pub(crate) const ENV_VAR: &str = "RINGIPC_RENDERER";

/// A descriptor number and the identity of the open file it must name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InheritedFd {
    pub fd: RawFd,
    pub id: (u64, u64),
}

/// How the renderer finds its segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SegmentRef {
    Fd(InheritedFd),
    Name(String),
}

/// Whether `name` is one a named segment may have here: `/`, then up to
/// 200 of `[A-Za-z0-9_.-]` (what `shared_memory` makes, and nothing that
/// could split the invitation or leave `/dev/shm`).
pub(crate) fn is_segment_name(name: &str) -> bool {
    let rest = name.strip_prefix('/').unwrap_or("");
    !rest.is_empty()
        && rest.len() <= 200
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invitation {
    pub segment: SegmentRef,
    pub lifeline: InheritedFd,
    pub segment_len: usize,
    pub main_pid: u32,
}

impl Invitation {
    pub fn encode(&self) -> String {
        let l = self.lifeline;
        let segment = match &self.segment {
            SegmentRef::Fd(s) => format!("memfd:{}:{}:{}", s.fd, s.id.0, s.id.1),
            SegmentRef::Name(name) => format!("named:{name}"),
        };
        format!(
            "{segment}:{}:{}:{}:{}:{}",
            l.fd, l.id.0, l.id.1, self.segment_len, self.main_pid
        )
    }

    pub fn decode(s: &str) -> Result<Invitation, String> {
        let bad = || format!("malformed {ENV_VAR}={s:?}");
        let mut parts = s.split(':');
        let segment = match parts.next() {
            Some("memfd") => SegmentRef::Fd(inherited(&mut parts).ok_or_else(bad)?),
            Some("named") => match parts.next() {
                Some(name) if is_segment_name(name) => SegmentRef::Name(name.to_owned()),
                _ => return Err(bad()),
            },
            _ => {
                return Err(format!(
                    "{ENV_VAR}={s:?} names a segment kind this build does not support"
                ));
            }
        };
        let lifeline = inherited(&mut parts).ok_or_else(bad)?;
        let segment_len = parts.next().and_then(|p| p.parse().ok());
        let main_pid = parts.next().and_then(|p| p.parse().ok());
        let inv = Invitation {
            segment,
            lifeline,
            segment_len: segment_len.ok_or_else(bad)?,
            main_pid: main_pid.ok_or_else(bad)?,
        };
        let same = matches!(inv.segment, SegmentRef::Fd(s) if s.fd == lifeline.fd);
        if parts.next().is_some() || same {
            return Err(bad());
        }
        Ok(inv)
    }
}

/// `<fd>:<dev>:<ino>` from the next three parts.
fn inherited<'a>(parts: &mut impl Iterator<Item = &'a str>) -> Option<InheritedFd> {
    let fd: RawFd = parts.next()?.parse().ok()?;
    let dev = parts.next()?.parse().ok()?;
    let ino = parts.next()?.parse().ok()?;
    (fd >= 0).then_some(InheritedFd { fd, id: (dev, ino) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let named = Invitation {
            segment: SegmentRef::Name("/shmem_1A2B".into()),
            lifeline: InheritedFd { fd: 6, id: (3, 4) },
            segment_len: 4096,
            main_pid: 7,
        };
        assert_eq!(Invitation::decode(&named.encode()), Ok(named));
        let i = Invitation {
            segment: SegmentRef::Fd(InheritedFd { fd: 5, id: (1, 2) }),
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
            "named:x:2:0:0:3:4",
            "named:/a/../b:2:0:0:3:4",
            "named:/:2:0:0:3:4",
            "named:/x:2:0:0:3",
            "memfd:a:0:0:2:0:0:3:4",
        ] {
            assert!(Invitation::decode(bad).is_err(), "{bad}");
        }
    }
}
