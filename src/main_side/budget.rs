//! One memory budget for everything main holds on renderers' behalf:
//! messages half reassembled, outboxes, forwarded messages waiting for their
//! target. Counted in heap bytes actually reserved, and taken before the
//! memory is: a renderer whose next need would pass the budget is
//! disconnected instead, and main never aborts on a failed allocation.
//!
//! Every reservation is a [`Charge`], owned by whatever holds the memory
//! (an outbox, the dispatcher's slot) and given back when that is dropped,
//! so a disconnect returns everything at once. A renderer's [`Account`]
//! sums its charges, for the reason given when it is cut off.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Main's budget. Counters only: no data is published through them, so
/// every access is Relaxed.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes reserved now, for every renderer together.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self, bytes: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(after) = used.checked_add(bytes).filter(|&a| a <= self.limit) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, after, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// One renderer's share of the budget, itself capped so that no single
/// renderer can take the whole budget from the others.
#[derive(Debug)]
pub(crate) struct Account {
    budget: Arc<MemoryBudget>,
    held: AtomicUsize,
    cap: usize,
}

impl Account {
    pub fn new(budget: Arc<MemoryBudget>, cap: usize) -> Arc<Account> {
        Arc::new(Account {
            budget,
            held: AtomicUsize::new(0),
            cap,
        })
    }

    /// Bytes this renderer holds of the budget now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// An empty charge on this account, to grow as memory is needed.
    pub fn charge(self: &Arc<Self>) -> Charge {
        Charge {
            account: self.clone(),
            bytes: 0,
        }
    }
}

/// Why a charge could not grow: the renderer must be cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OverBudget {
    pub wanted: usize,
    pub held: usize,
    /// The limit it would pass: this renderer's share, or main's budget.
    pub limit: usize,
    pub of: Limit,
}

/// Which limit a charge would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Renderer,
    Main,
    /// The allocator itself refused.
    Allocator,
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (wanted, held, limit) = (self.wanted, self.held, self.limit);
        match self.of {
            Limit::Renderer => write!(
                f,
                "memory: {wanted} more bytes would pass this renderer's share of \
                 {limit} bytes ({held} held for it)"
            ),
            Limit::Main => write!(
                f,
                "memory: {wanted} more bytes would pass main's memory budget of \
                 {limit} bytes ({held} held for this renderer)"
            ),
            Limit::Allocator => write!(
                f,
                "memory: the allocator refused {wanted} bytes ({held} held for this renderer)"
            ),
        }
    }
}

/// Bytes reserved from the budget by one holder, given back on drop.
#[derive(Debug)]
pub(crate) struct Charge {
    account: Arc<Account>,
    bytes: usize,
}

impl Charge {
    /// Reserves `more` bytes, or fails without reserving any.
    pub fn grow(&mut self, more: usize) -> Result<(), OverBudget> {
        let account = &self.account;
        let over = |limit, of| OverBudget {
            wanted: more,
            held: account.held(),
            limit,
            of,
        };
        // Checked, then added: two charges of one renderer racing past its
        // cap by a little is harmless; main's budget below is exact.
        if account.held().saturating_add(more) > account.cap {
            return Err(over(account.cap, Limit::Renderer));
        }
        if !account.budget.take(more) {
            return Err(over(account.budget.limit, Limit::Main));
        }
        account.held.fetch_add(more, Ordering::Relaxed);
        self.bytes += more;
        Ok(())
    }

    /// Gives back `fewer` bytes (at most what it holds).
    pub fn shrink(&mut self, fewer: usize) {
        let fewer = fewer.min(self.bytes);
        self.bytes -= fewer;
        self.account.held.fetch_sub(fewer, Ordering::Relaxed);
        self.account.budget.give_back(fewer);
    }

    /// Resizes the charge to exactly `bytes`, growing or shrinking.
    pub fn set(&mut self, bytes: usize) -> Result<(), OverBudget> {
        match bytes.checked_sub(self.bytes) {
            Some(more) => self.grow(more),
            None => {
                self.shrink(self.bytes - bytes);
                Ok(())
            }
        }
    }

    /// The error for an allocation the allocator refused after `more` bytes
    /// were charged: gives them back.
    pub fn refused(&mut self, more: usize) -> OverBudget {
        self.shrink(more);
        OverBudget {
            wanted: more,
            held: self.account.held(),
            limit: 0,
            of: Limit::Allocator,
        }
    }

    /// Bytes this charge holds.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.shrink(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_stay_within_the_budget_and_come_back_on_drop() {
        let budget = MemoryBudget::new(100);
        let (a, b) = (
            Account::new(budget.clone(), 80),
            Account::new(budget.clone(), 80),
        );
        let mut ca = a.charge();
        ca.grow(60).unwrap();
        let mut cb = b.charge();
        let refused = cb.grow(50).unwrap_err();
        assert_eq!((refused.wanted, refused.held, refused.limit), (50, 0, 100));
        assert_eq!(refused.of, Limit::Main);
        let capped = ca.grow(30).unwrap_err();
        assert_eq!((capped.limit, capped.of), (80, Limit::Renderer));
        assert_eq!(cb.bytes(), 0, "a refused charge takes nothing");
        cb.grow(40).unwrap();
        assert_eq!(budget.used(), 100);
        ca.set(10).unwrap();
        assert_eq!((a.held(), budget.used()), (10, 50));
        drop(ca);
        drop(cb);
        assert_eq!((a.held(), b.held(), budget.used()), (0, 0, 0));
        assert!(refused.to_string().starts_with("memory:"));
    }
}
