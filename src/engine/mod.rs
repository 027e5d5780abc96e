//! The discrete-event core: an integer virtual clock (microseconds) and an event queue ordered
//! by (time, insertion sequence), so simultaneous events run in the order they were scheduled.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Virtual time in microseconds since the start of a run.
pub type Micros = u64;

struct Scheduled<E> {
    at: Micros,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    // Reversed: BinaryHeap is a max-heap and the earliest (time, seq) must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A virtual clock and the events waiting on it.
pub struct Engine<E> {
    now: Micros,
    next_seq: u64,
    processed: u64,
    queue: BinaryHeap<Scheduled<E>>,
}

impl<E> Default for Engine<E> {
    fn default() -> Self {
        Self {
            now: 0,
            next_seq: 0,
            processed: 0,
            queue: BinaryHeap::new(),
        }
    }
}

impl<E> Engine<E> {
    /// The current virtual time.
    pub fn now(&self) -> Micros {
        self.now
    }

    /// How many events have been taken off the queue.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// Events still waiting.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Schedules `event` at absolute time `at` (never earlier than now).
    pub fn schedule_at(&mut self, at: Micros, event: E) {
        let at = at.max(self.now);
        self.queue.push(Scheduled {
            at,
            seq: self.next_seq,
            event,
        });
        self.next_seq += 1;
    }

    /// Schedules `event` `delay` microseconds from now.
    pub fn schedule_in(&mut self, delay: Micros, event: E) {
        self.schedule_at(self.now.saturating_add(delay), event);
    }

    /// Takes the next event and advances the clock to its time.
    pub fn next_event(&mut self) -> Option<E> {
        let s = self.queue.pop()?;
        self.now = s.at;
        self.processed += 1;
        Some(s.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_insertion() {
        let mut e = Engine::default();
        e.schedule_at(10, "c");
        e.schedule_at(5, "a");
        e.schedule_at(10, "d");
        e.schedule_at(5, "b");
        let mut out = vec![];
        while let Some(x) = e.next_event() {
            out.push((e.now(), x));
        }
        assert_eq!(out, vec![(5, "a"), (5, "b"), (10, "c"), (10, "d")]);
        assert_eq!(e.processed(), 4);
    }

    #[test]
    fn never_schedules_into_the_past() {
        let mut e = Engine::default();
        e.schedule_at(100, 1);
        e.next_event();
        e.schedule_at(50, 2);
        assert_eq!(e.next_event(), Some(2));
        assert_eq!(e.now(), 100);
    }
}
