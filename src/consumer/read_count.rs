//! How many entries a shard reader asks for, and how many reads it keeps on the wire:
//! enough to cover the distance to the server.
//!
//! With one XREADGROUP in flight a shard moves at most COUNT entries per round trip: 100
//! per 50 ms is 2,000 a second, whatever the application could take. So the count grows
//! (16-fold) after a read that came back full while the application had already taken
//! every entry the shard queued before the read was sent: the application was waiting
//! for this read, so the round trip set the pace. Once reads are as large as they may be
//! and still awaited, `READS_AHEAD` more reads go out as soon as one comes back, before
//! its entries are handled, so a shard has several on the wire. The count halves, and no
//! reads go ahead, after a read that came back short (the shard is drained: a smaller
//! count reads as much) or that found earlier entries of the shard still waiting in the
//! prefetch (the application sets the pace, and bigger reads would only hold entries away
//! from the group's other consumers). The rule is the same on loopback: there too a
//! consumer whose application waits for entries reads a backlog in larger steps.
//!
//! Bounds: a read asks for at least `prefetch_count` entries and grows to at most
//! `max(prefetch_count, MOST_ENTRIES)`, and to no more entries of the size just read than
//! fit in `MOST_BYTES`. The prefetch holds at most `2 × shards + 1` reads, so with the
//! defaults (10 shards) it could reach 344,064 entries (about 50 MB with 16-byte bodies,
//! 88 MB with large ones), plus up to `READS_AHEAD` replies per shard on the wire; it
//! stays far below that, since a shard's reads grow only while the application keeps its
//! part of the prefetch empty. A read of 16,384 entries keeps its master busy for about
//! 15 ms. Everything on the wire is pending under this consumer's name: a reply lost
//! there is read again from its backlog, like any lost reply.

/// The most entries a read grows to (`prefetch_count` when that is larger).
pub const MOST_ENTRIES: usize = 16_384;
/// The most bytes (ids, bodies, bookkeeping) a grown read is expected to hold.
const MOST_BYTES: usize = 4 * 1024 * 1024;
const GROWTH: usize = 16;
/// Reads kept on the wire while one is handled, once reads are as large as they may be.
const READS_AHEAD: usize = 2;

/// The COUNT of a shard's next read of new entries.
#[derive(Debug)]
pub struct ReadCount {
    floor: usize,
    ceiling: usize,
    next: usize,
    ahead: usize,
}

/// What one read of new entries came to.
#[derive(Debug, Clone, Copy)]
pub struct ReadOutcome {
    pub asked: usize,
    pub got: usize,
    /// What the entries hold in the prefetch.
    pub bytes: usize,
    /// When the read came back, the application had taken every entry of the shard
    /// read before.
    pub drained: bool,
}

impl ReadCount {
    /// Starts at `prefetch_count`, the least a read asks for.
    #[must_use]
    pub fn new(prefetch_count: usize) -> Self {
        Self {
            floor: prefetch_count,
            ceiling: prefetch_count.max(MOST_ENTRIES),
            next: prefetch_count,
            ahead: 0,
        }
    }

    #[must_use]
    pub fn get(&self) -> usize {
        self.next
    }

    /// Reads to send ahead while one is handled: `READS_AHEAD` once reads are as large as
    /// they may be and the application still waits for them, else none (the next read
    /// goes out once this one's entries are queued).
    #[must_use]
    pub fn ahead(&self) -> usize {
        self.ahead
    }

    /// The most a read may ask for; backlog re-reads grow up to it too.
    #[must_use]
    pub fn most(&self) -> usize {
        self.ceiling
    }

    pub fn adapt(&mut self, read: &ReadOutcome) {
        let full = read.got >= read.asked;
        if !full || !read.drained {
            self.next = (self.next / 2).max(self.floor);
            self.ahead = 0;
            return;
        }
        // As many entries of the size just read as fit in MOST_BYTES.
        let fitting = MOST_BYTES.saturating_mul(read.got) / read.bytes.max(1);
        let largest = self.ceiling.min(fitting).max(self.floor);
        self.next = (self.next * GROWTH).min(largest).max(self.next);
        self.ahead = if self.next >= largest { READS_AHEAD } else { 0 };
    }

    /// After a failed read: start over from `prefetch_count`, as the path to the
    /// server may have changed (a failover, another master).
    pub fn reset(&mut self) {
        self.next = self.floor;
        self.ahead = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(asked: usize, got: usize, drained: bool) -> ReadOutcome {
        ReadOutcome {
            asked,
            got,
            bytes: got * 100,
            drained,
        }
    }

    #[test]
    fn full_reads_the_application_waited_for_grow_up_to_the_ceiling() {
        let mut count = ReadCount::new(100);
        let mut asked = Vec::new();
        for _ in 0..5 {
            asked.push(count.get());
            count.adapt(&read(count.get(), count.get(), true));
        }
        assert_eq!(asked, [100, 1600, MOST_ENTRIES, MOST_ENTRIES, MOST_ENTRIES]);
        assert_eq!(
            count.ahead(),
            READS_AHEAD,
            "the largest reads, still awaited"
        );
    }

    #[test]
    fn short_reads_halve_down_to_prefetch_count() {
        let mut count = ReadCount::new(100);
        for _ in 0..2 {
            count.adapt(&read(count.get(), count.get(), true));
        }
        assert_eq!(count.get(), MOST_ENTRIES);
        count.adapt(&read(MOST_ENTRIES, 10, true));
        assert_eq!((count.get(), count.ahead()), (MOST_ENTRIES / 2, 0));
        for _ in 0..10 {
            count.adapt(&read(count.get(), 0, true));
        }
        assert_eq!(count.get(), 100);
    }

    #[test]
    fn an_application_behind_its_prefetch_keeps_reads_small() {
        let mut count = ReadCount::new(100);
        count.adapt(&read(100, 100, false));
        assert_eq!(count.get(), 100);
        count.adapt(&read(100, 100, true));
        assert_eq!(count.get(), 1600);
        count.adapt(&read(1600, 1600, false));
        assert_eq!(count.get(), 800);
        count.adapt(&read(800, 800, true));
        count.adapt(&read(MOST_ENTRIES, MOST_ENTRIES, true));
        assert_eq!(count.ahead(), READS_AHEAD);
        count.adapt(&read(MOST_ENTRIES, MOST_ENTRIES, false));
        assert_eq!((count.get(), count.ahead()), (MOST_ENTRIES / 2, 0));
    }

    #[test]
    fn large_bodies_grow_reads_only_to_what_fits_in_most_bytes() {
        let mut count = ReadCount::new(100);
        let large = ReadOutcome {
            asked: 100,
            got: 100,
            bytes: 100 * 10_240,
            drained: true,
        };
        count.adapt(&large);
        assert_eq!(count.get(), MOST_BYTES / 10_240);
        assert_eq!(count.ahead(), READS_AHEAD, "as large as such bodies allow");
        count.adapt(&ReadOutcome {
            asked: 409,
            got: 409,
            bytes: 409 * 20_480,
            ..large
        });
        assert_eq!(count.get(), 409, "never shrunk by a full read");
    }

    #[test]
    fn a_large_prefetch_count_is_its_own_ceiling_and_failures_start_over() {
        let mut count = ReadCount::new(50_000);
        assert_eq!(count.most(), 50_000);
        count.adapt(&read(50_000, 50_000, true));
        assert_eq!(count.get(), 50_000);
        let mut count = ReadCount::new(10);
        count.adapt(&read(10, 10, true));
        assert_eq!(count.get(), 160);
        count.reset();
        assert_eq!((count.get(), count.ahead()), (10, 0));
    }
}
