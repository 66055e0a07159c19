//! A fixed number of slots on a shared device (`--gpu-jobs N`): a job that
//! uses the GPU takes one while it trains and scores, and waits when all are
//! taken. One slot runs GPU jobs one at a time; several let small networks
//! share a large GPU.

use std::sync::{Condvar, Mutex};

/// `n` slots; [`Slots::take`] waits for a free one.
pub struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A taken slot, given back when dropped.
pub struct Slot<'a> {
    slots: &'a Slots,
}

impl Slots {
    /// `n` slots (at least one).
    pub fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Takes a slot, waiting until one is free.
    pub fn take(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Slot { slots: self }
    }

    /// Takes a slot if one is free now (the tests' non-blocking probe).
    #[cfg(test)]
    pub fn try_take(&self) -> Option<Slot<'_>> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(Slot { slots: self })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut free = self.slots.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.slots.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn n_slots_are_taken_at_once_and_the_next_waits_for_one_to_be_given_back() {
        let slots = Slots::new(2);
        let a = slots.try_take().expect("first");
        let b = slots.try_take().expect("second");
        assert!(slots.try_take().is_none(), "only two");
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let _c = slots.take();
                tx.send(()).expect("send");
            });
            // The waiting thread cannot have its slot before one is given back.
            assert!(rx.try_recv().is_err());
            drop(a);
            rx.recv().expect("the third took the freed slot");
        });
        drop(b);
        assert!(slots.try_take().is_some());
    }

    #[test]
    fn zero_slots_means_one() {
        let slots = Slots::new(0);
        let _a = slots.try_take().expect("one");
        assert!(slots.try_take().is_none());
    }
}
