//! A channel → listeners table, shared by main and renderers.
//!
//! Registration is rare and dispatch is hot, so the table is copy-on-write:
//! writers clone-and-swap under a lock, and the dispatching thread keeps an
//! `Arc` snapshot that it refreshes only when the version number moves. Listeners
//! therefore run without any lock held and may register or remove listeners.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies one registered listener, for [`crate::IpcMain::remove_listener`]
/// and [`crate::IpcRenderer::remove_listener`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(u64);

impl ListenerId {
    /// The id as a number, for bindings that hand it to another language.
    pub fn to_raw(self) -> u64 {
        self.0
    }

    /// An id from [`to_raw`](Self::to_raw). A number that no registration
    /// returned names no listener: removing it removes nothing.
    pub fn from_raw(raw: u64) -> ListenerId {
        ListenerId(raw)
    }
}

/// A multiply-rotate hash (the Fx hash) for channel names, several times
/// cheaper than the default SipHash on the dispatcher's per-message lookup.
/// It is not keyed, and need not be: the table's keys come from the trusted
/// side's own registrations, so a peer choosing the names it sends can only
/// pick which bucket one lookup probes, not make buckets grow.
#[derive(Default, Clone, Copy)]
struct ChannelHasher(u64);

impl Hasher for ChannelHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One registered listener.
pub(crate) struct Entry<F: ?Sized> {
    pub id: ListenerId,
    pub f: Arc<F>,
    /// Registered with `once`: removed by the first message it runs for.
    pub once: bool,
}

impl<F: ?Sized> Entry<F> {
    /// Whether this entry may run for the message at hand: always, unless it
    /// was registered with `once` and another message already removed it.
    /// A `once` entry runs only for the message that removes it.
    pub fn claim(&self, table: &Listeners<F>) -> bool {
        !self.once || table.remove(self.id)
    }
}

impl<F: ?Sized> Clone for Entry<F> {
    fn clone(&self) -> Self {
        Entry {
            id: self.id,
            f: self.f.clone(),
            once: self.once,
        }
    }
}

type ByChannel<F> = HashMap<Box<str>, Vec<Entry<F>>, BuildHasherDefault<ChannelHasher>>;

/// The listeners of every channel at one moment.
pub(crate) struct Table<F: ?Sized> {
    by_channel: ByChannel<F>,
}

impl<F: ?Sized> Clone for Table<F> {
    fn clone(&self) -> Self {
        Table {
            by_channel: self.by_channel.clone(),
        }
    }
}

impl<F: ?Sized> Table<F> {
    /// The listeners of `channel`, in registration order.
    #[inline]
    pub fn get(&self, channel: &str) -> &[Entry<F>] {
        // Most renderers register nothing of their own: skip hashing then.
        if self.by_channel.is_empty() {
            return &[];
        }
        self.by_channel.get(channel).map_or(&[], Vec::as_slice)
    }
}

pub(crate) struct Listeners<F: ?Sized> {
    current: RwLock<Arc<Table<F>>>,
    version: AtomicU64,
    next_id: AtomicU64,
}

impl<F: ?Sized> Default for Listeners<F> {
    fn default() -> Self {
        Listeners {
            current: RwLock::new(Arc::new(Table {
                by_channel: ByChannel::default(),
            })),
            version: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        }
    }
}

impl<F: ?Sized> Listeners<F> {
    pub fn add(&self, channel: &str, f: Arc<F>, once: bool) -> ListenerId {
        self.insert(channel, f, once, false)
            .expect("added unconditionally")
    }

    /// [`Self::add`], unless `channel` already has an entry: the form for
    /// one-per-channel tables (handlers).
    pub fn add_if_absent(&self, channel: &str, f: Arc<F>, once: bool) -> Option<ListenerId> {
        self.insert(channel, f, once, true)
    }

    fn insert(
        &self,
        channel: &str,
        f: Arc<F>,
        once: bool,
        only_if_absent: bool,
    ) -> Option<ListenerId> {
        let mut cur = self.current.write();
        if only_if_absent && !cur.get(channel).is_empty() {
            return None;
        }
        let id = ListenerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        Arc::make_mut(&mut cur)
            .by_channel
            .entry(channel.into())
            .or_default()
            .push(Entry { id, f, once });
        // SYNC(version): Release → Acquire in `Snapshot::refresh`, after the swap.
        self.version.fetch_add(1, Ordering::Release);
        Some(id)
    }

    /// The first entry of `channel`, if any (a copy: for tables looked up
    /// rarely, without a snapshot).
    pub fn first(&self, channel: &str) -> Option<Entry<F>> {
        self.current.read().get(channel).first().cloned()
    }

    pub fn remove(&self, id: ListenerId) -> bool {
        let mut found = false;
        self.change(|table| {
            table.by_channel.retain(|_, list| {
                let before = list.len();
                list.retain(|e| e.id != id);
                found |= list.len() != before;
                !list.is_empty()
            });
            found
        });
        found
    }

    /// Applies `edit` to a copy of the table and publishes it if `edit`
    /// says it changed something. The table it replaces, which may hold the
    /// last reference to a removed listener, is dropped after the lock is
    /// released: what the listener captured may call back into ringipc as
    /// it is freed (a C binding's `free_user_data` may).
    fn change(&self, edit: impl FnOnce(&mut Table<F>) -> bool) {
        let mut cur = self.current.write();
        let mut table = Table::clone(&cur);
        if !edit(&mut table) {
            return;
        }
        let old = std::mem::replace(&mut *cur, Arc::new(table));
        // SYNC(version): Release → Acquire in `Snapshot::refresh`.
        self.version.fetch_add(1, Ordering::Release);
        drop(cur);
        drop(old);
    }
}

impl<F: ?Sized> Listeners<F> {
    /// Removes every listener of `channel`, or of every channel; returns how
    /// many were removed.
    pub fn remove_all(&self, channel: Option<&str>) -> usize {
        let mut removed = 0;
        self.change(|table| {
            removed = match channel {
                Some(c) => table.by_channel.remove(c).map_or(0, |l| l.len()),
                None => table.by_channel.drain().map(|(_, l)| l.len()).sum(),
            };
            removed > 0
        });
        removed
    }

    /// Listeners registered on `channel` now.
    pub fn count(&self, channel: &str) -> usize {
        self.current.read().get(channel).len()
    }
}

/// A dispatching thread's cached view of a [`Listeners`].
pub(crate) struct Snapshot<F: ?Sized> {
    table: Arc<Table<F>>,
    version: u64,
}

impl<F: ?Sized> Snapshot<F> {
    pub fn new(of: &Listeners<F>) -> Self {
        // Version first: a change between the two reads then only makes the
        // next `refresh` fetch the table again, never miss it.
        // SYNC(version): Acquire ← Release in `Listeners::add`/`remove`.
        let version = of.version.load(Ordering::Acquire);
        Snapshot {
            table: of.current.read().clone(),
            version,
        }
    }

    /// Brings the snapshot up to date; one atomic load when nothing changed.
    #[inline]
    pub fn refresh(&mut self, of: &Listeners<F>) -> &Table<F> {
        // SYNC(version): Acquire ← Release in `Listeners::add`/`remove`.
        let v = of.version.load(Ordering::Acquire);
        if v != self.version {
            let fresh = of.current.read().clone();
            // The old table is dropped here, after the read lock: it may
            // hold a removed listener's last reference (see `change`).
            drop(std::mem::replace(&mut self.table, fresh));
            self.version = v;
        }
        &self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type F = dyn Fn() -> u32 + Send + Sync;

    #[test]
    fn order_removal_and_snapshots() {
        let l = Listeners::<F>::default();
        let mut snap = Snapshot::new(&l);
        let a = l.add("c", Arc::new(|| 1), false);
        let b = l.add("c", Arc::new(|| 2), false);
        l.add("d", Arc::new(|| 3), true);
        let vals: Vec<u32> = snap.refresh(&l).get("c").iter().map(|e| (e.f)()).collect();
        assert_eq!(vals, [1, 2]);
        assert!(l.remove(a));
        assert!(!l.remove(a));
        let t = snap.refresh(&l);
        assert_eq!(t.get("c").len(), 1);
        assert_eq!(t.get("c")[0].id, b);
        assert!(l.remove(b));
        assert!(snap.refresh(&l).get("c").is_empty());
        assert_eq!(snap.refresh(&l).get("d").len(), 1);
        assert!(snap.refresh(&l).get("d")[0].once);
    }

    #[test]
    fn remove_all_and_count() {
        let l = Listeners::<F>::default();
        let mut snap = Snapshot::new(&l);
        for c in ["a", "a", "b"] {
            l.add(c, Arc::new(|| 0), false);
        }
        assert_eq!((l.count("a"), l.count("b"), l.count("z")), (2, 1, 0));
        assert_eq!(l.remove_all(Some("a")), 2);
        assert_eq!(l.remove_all(Some("a")), 0);
        assert!(snap.refresh(&l).get("a").is_empty());
        assert_eq!(l.remove_all(None), 1);
        assert_eq!(l.count("b"), 0);
    }
}
