//! Where a new spread queue starts: the offset that puts its shards on the masters that
//! carry the fewest shards of the other spread queues.

use crate::wire::hash_slot::SLOTS;
use crate::wire::naming::QueueKeys;
use std::cmp::Reverse;

/// The offset for a new queue of `shards` shards, given which master owns each slot
/// (`owner[slot]`, `None` for a slot no master serves) and the spread queues already
/// placed (`taken`).
///
/// The busiest master after the placement is made as light as possible; among offsets
/// that tie, the one adding the least to the sum of squared loads (shards sent to the
/// least-loaded masters), then the one whose shards sit farthest inside their masters'
/// slot ranges, then the lowest offset: every client computes the same. Shards away
/// from the range edges step over the masters in a regular stride (`i * masters /
/// shards`), so later queues find whole sets of empty masters to fill.
#[must_use]
pub fn choose_offset(owner: &[Option<usize>], taken: &[QueueKeys], shards: usize) -> u16 {
    assert_eq!(owner.len(), usize::from(SLOTS), "one owner per slot");
    let masters = owner.iter().flatten().max().map_or(0, |&m| m + 1);
    let mut load = vec![0usize; masters];
    for keys in taken {
        for shard in 0..keys.shards() {
            if let Some(master) = owner[usize::from(keys.slot(shard))] {
                load[master] += 1;
            }
        }
    }
    let base_busiest = load.iter().copied().max().unwrap_or(0);
    let slots = usize::from(SLOTS);
    let inset = edge_distances(owner);
    let mut added = vec![0usize; masters];
    let mut best: Option<(usize, usize, Reverse<usize>, u16)> = None;
    for offset in 0..SLOTS {
        let mut busiest = base_busiest;
        let mut squares = 0;
        let mut margin = usize::MAX;
        let mut touched = Vec::with_capacity(shards);
        for shard in 0..shards {
            let slot = (usize::from(offset) + shard * slots / shards.max(1)) % slots;
            if let Some(master) = owner[slot] {
                let now = load[master] + added[master];
                squares += 2 * now + 1;
                added[master] += 1;
                busiest = busiest.max(now + 1);
                touched.push(master);
            }
            margin = margin.min(inset[slot]);
        }
        for master in touched {
            added[master] = 0;
        }
        let candidate = (busiest, squares, Reverse(margin), offset);
        if best.is_none_or(|best| candidate < best) {
            best = Some(candidate);
        }
    }
    best.map_or(0, |(_, _, _, offset)| offset)
}

/// How far each slot is from the nearest end of its run of slots with one owner.
fn edge_distances(owner: &[Option<usize>]) -> Vec<usize> {
    let mut from_start = vec![0; owner.len()];
    for slot in 1..owner.len() {
        if owner[slot] == owner[slot - 1] {
            from_start[slot] = from_start[slot - 1] + 1;
        }
    }
    let mut distance = from_start.clone();
    let mut to_end = 0;
    for slot in (0..owner.len()).rev() {
        to_end = if slot + 1 < owner.len() && owner[slot] == owner[slot + 1] {
            to_end + 1
        } else {
            0
        };
        distance[slot] = distance[slot].min(to_end);
    }
    distance
}

/// The owner of each slot when `masters` masters own equal ranges (within a slot of
/// how `redis-cli --cluster create` rounds them).
#[cfg(test)]
fn equal_ranges(masters: usize) -> Vec<Option<usize>> {
    let slots = usize::from(SLOTS);
    (0..slots)
        .map(|slot| (masters > 0).then(|| slot * masters / slots))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::naming::Layout;

    fn allocate(masters: usize, queues: usize, shards: usize) -> Vec<usize> {
        let owner = equal_ranges(masters);
        let mut taken = Vec::new();
        for queue in 0..queues {
            let offset = choose_offset(&owner, &taken, shards);
            taken.push(
                QueueKeys::new(&format!("q{queue}"), Layout::Spread, shards).at_offset(offset),
            );
        }
        let mut load = vec![0; masters];
        for keys in &taken {
            for shard in 0..shards {
                load[owner[usize::from(keys.slot(shard))].unwrap()] += 1;
            }
        }
        load
    }

    #[test]
    fn twenty_queues_stay_within_a_quarter_of_fair_at_any_size() {
        for masters in [3, 6, 9, 10, 30, 100] {
            let load = allocate(masters, 20, 10);
            let fair = (20 * 10usize).div_ceil(masters);
            let busiest = *load.iter().max().unwrap();
            assert!(
                busiest * 4 <= fair * 5,
                "{masters}: {busiest} over fair {fair}"
            );
        }
    }

    #[test]
    fn queues_fill_the_emptiest_masters_first() {
        // 10 queues of 10 shards on 100 masters: one shard per master, none doubled.
        assert!(allocate(100, 10, 10).iter().all(|&held| held == 1));
    }

    #[test]
    fn the_choice_is_deterministic_and_away_from_range_edges() {
        let owner = equal_ranges(6);
        let offset = choose_offset(&owner, &[], 10);
        let keys = QueueKeys::new("a", Layout::Spread, 10).at_offset(offset);
        let inset = edge_distances(&owner);
        // 10 shards 1638 slots apart over ranges of 2731: the best keeps every shard
        // at least 270 slots inside its range.
        assert!((0..10).all(|shard| inset[usize::from(keys.slot(shard))] >= 270));
        let first = keys;
        let again = choose_offset(&owner, std::slice::from_ref(&first), 10);
        assert_eq!(again, choose_offset(&owner, &[first], 10));
    }

    #[test]
    fn a_server_without_slots_still_gets_an_offset() {
        let none = choose_offset(&vec![None; 16384], &[], 10);
        assert_eq!(none, choose_offset(&vec![None; 16384], &[], 10));
        assert!(choose_offset(&equal_ranges(1), &[], 3) < 16384);
    }
}
