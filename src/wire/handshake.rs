//! The attach handshake, the only bytes on the attach socket: a renderer's
//! `Hello`, then main's `Welcome` (with the segment and the lifeline as
//! `SCM_RIGHTS` when admitted). Both are one fixed-size packet; anything
//! else is refused. Decoding never trusts a length from the other side.

/// Starts every handshake packet.
const MAGIC: [u8; 8] = *b"RINGIPCA";
/// Bumped when either packet changes.
pub(crate) const VERSION: u32 = 1;

pub(crate) const HELLO_LEN: usize = 16;
pub(crate) const WELCOME_LEN: usize = 96;
/// The longest segment name a welcome carries.
const NAME_MAX: usize = WELCOME_LEN - 33;

/// What a connecting renderer says: magic, version, flags (none yet: 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hello {
    pub version: u32,
}

impl Hello {
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut out = [0u8; HELLO_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&self.version.to_le_bytes());
        out
    }

    /// A hello from `bytes`, which must be exactly one: the right magic,
    /// this version, no flags.
    pub fn decode(bytes: &[u8]) -> Result<Hello, &'static str> {
        if bytes.len() != HELLO_LEN || bytes[..8] != MAGIC {
            return Err("not a ringipc hello");
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let hello = Hello { version: word(8) };
        if hello.version != VERSION {
            return Err("a hello of another protocol version");
        }
        if word(12) != 0 {
            return Err("a hello with unknown flags");
        }
        Ok(hello)
    }
}

/// Whether a welcome can carry the segment name `name` whole.
pub(crate) fn fits_name(name: &str) -> bool {
    name.len() <= NAME_MAX
}

/// Main's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Admitted: the segment and lifeline come with it.
    Admitted = 0,
    /// Main's admission policy said no.
    Refused = 1,
    /// Main is shutting down, or has too many handshakes in flight.
    Busy = 2,
    /// The hello was not one main understands.
    BadHello = 3,
}

/// Main's answer: with the segment and lifeline as `SCM_RIGHTS` when
/// admitted, or, for a named segment, the lifeline and the segment's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Welcome {
    pub status: Status,
    pub segment_len: u64,
    pub main_pid: u32,
    pub renderer_id: u32,
    /// A named segment's name (`/` and up to 62 bytes), or empty.
    pub segment_name: String,
}

impl Welcome {
    pub fn refusal(status: Status) -> Welcome {
        Welcome {
            status,
            segment_len: 0,
            main_pid: std::process::id(),
            renderer_id: 0,
            segment_name: String::new(),
        }
    }

    pub fn encode(&self) -> [u8; WELCOME_LEN] {
        let mut out = [0u8; WELCOME_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&(self.status as u32).to_le_bytes());
        out[16..24].copy_from_slice(&self.segment_len.to_le_bytes());
        out[24..28].copy_from_slice(&self.main_pid.to_le_bytes());
        out[28..32].copy_from_slice(&self.renderer_id.to_le_bytes());
        let name = self.segment_name.as_bytes();
        debug_assert!(fits_name(&self.segment_name), "checked by the sender");
        let len = name.len().min(NAME_MAX);
        out[32] = len as u8;
        out[33..33 + len].copy_from_slice(&name[..len]);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Welcome, &'static str> {
        if bytes.len() != WELCOME_LEN || bytes[..8] != MAGIC {
            return Err("not a ringipc welcome");
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        if word(8) != VERSION {
            return Err("main speaks another protocol version");
        }
        let status = match word(12) {
            0 => Status::Admitted,
            1 => Status::Refused,
            2 => Status::Busy,
            3 => Status::BadHello,
            _ => return Err("an unknown welcome status"),
        };
        let len = usize::from(bytes[32]);
        if len > NAME_MAX {
            return Err("a welcome with an overlong name");
        }
        let segment_name = std::str::from_utf8(&bytes[33..33 + len])
            .map_err(|_| "a welcome with a name that is not UTF-8")?
            .to_owned();
        Ok(Welcome {
            status,
            segment_len: u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")),
            main_pid: word(24),
            renderer_id: word(28),
            segment_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_and_welcome_round_trip_and_refuse_anything_else() {
        let hello = Hello { version: VERSION };
        assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
        let mut bad = hello.encode();
        bad[0] ^= 1;
        assert!(Hello::decode(&bad).is_err());
        assert!(Hello::decode(&hello.encode()[..15]).is_err());
        assert!(Hello::decode(&[hello.encode().as_slice(), &[0]].concat()).is_err());
        let mut flags = hello.encode();
        flags[12] = 1;
        assert!(Hello::decode(&flags).is_err());
        let mut other = hello.encode();
        other[8] = 9;
        assert!(Hello::decode(&other).is_err());

        let welcome = Welcome {
            status: Status::Admitted,
            segment_len: 1 << 20,
            main_pid: 42,
            renderer_id: 7,
            segment_name: String::new(),
        };
        assert_eq!(Welcome::decode(&welcome.encode()), Ok(welcome.clone()));
        let named = Welcome {
            segment_name: "/shmem_0123456789ABCDEF".into(),
            ..welcome.clone()
        };
        assert_eq!(Welcome::decode(&named.encode()), Ok(named));
        let mut overlong = welcome.encode();
        overlong[32] = 200;
        assert!(Welcome::decode(&overlong).is_err());
        let refusal = Welcome::refusal(Status::Refused);
        assert_eq!(Welcome::decode(&refusal.encode()), Ok(refusal.clone()));
        let mut unknown = welcome.encode();
        unknown[12] = 9;
        assert!(Welcome::decode(&unknown).is_err());
        assert!(Welcome::decode(&[0u8; 32]).is_err());
    }
}
