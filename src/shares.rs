//! Shares of a bounded resource: at most `max_total` held at once, and at
//! most `max_each` by any one holder (a token, an address). Taking one
//! never waits: a share is there or it is refused, so an overload cannot
//! turn into a queue. Admission slots, calls waiting for a registry
//! version and open-ended streams are each counted by one.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Why no share was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every share is held; `max_total` of them.
    Full(usize),
    /// The holder has `max_each` already.
    HolderFull(usize),
}

#[derive(Debug)]
struct Counts<K> {
    total: usize,
    by_holder: HashMap<K, usize>,
}

/// The shares of one resource.
#[derive(Debug)]
pub(crate) struct Shares<K> {
    max_total: usize,
    max_each: usize,
    counts: Mutex<Counts<K>>,
}

/// A share held, given back when dropped.
#[derive(Debug)]
pub(crate) struct Share<K: Eq + Hash> {
    shares: Arc<Shares<K>>,
    holder: K,
}

impl<K: Eq + Hash + Clone> Shares<K> {
    pub(crate) fn new(max_total: usize, max_each: usize) -> Arc<Shares<K>> {
        Arc::new(Shares {
            max_total,
            max_each,
            counts: Mutex::new(Counts {
                total: 0,
                by_holder: HashMap::new(),
            }),
        })
    }

    /// A share for `holder`, or why there is none.
    pub(crate) fn take(self: &Arc<Self>, holder: K) -> Result<Share<K>, Refused> {
        // A poisoned lock only means a holder panicked while counting; the
        // counts are still whole numbers.
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.total >= self.max_total {
            return Err(Refused::Full(self.max_total));
        }
        let held = counts.by_holder.entry(holder.clone()).or_insert(0);
        if *held >= self.max_each {
            return Err(Refused::HolderFull(self.max_each));
        }
        *held += 1;
        counts.total += 1;
        Ok(Share {
            shares: Arc::clone(self),
            holder,
        })
    }

    /// Shares held now, by everyone.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .total
    }
}

impl<K: Eq + Hash> Drop for Share<K> {
    fn drop(&mut self) {
        let mut counts = self
            .shares
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.total -= 1;
        if let Some(held) = counts.by_holder.get_mut(&self.holder) {
            *held -= 1;
            if *held == 0 {
                counts.by_holder.remove(&self.holder);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_bounded_in_all_and_by_holder_and_come_back() {
        let shares = Shares::new(3, 2);
        let a1 = shares.take("a").unwrap();
        let _a2 = shares.take("a").unwrap();
        assert_eq!(shares.take("a").unwrap_err(), Refused::HolderFull(2));
        let _b1 = shares.take("b").unwrap();
        assert_eq!(shares.take("c").unwrap_err(), Refused::Full(3));
        drop(a1);
        assert_eq!(shares.held(), 2);
        let _c1 = shares.take("c").unwrap();
        assert_eq!(shares.take("a").unwrap_err(), Refused::Full(3));
    }
}
