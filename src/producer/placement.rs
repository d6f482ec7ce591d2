//! The order in which a producer's batches visit the shard streams, and the shard a
//! message's key binds it to.

/// The shard of `shards` that every message with `key` goes to: Lamping and Veach's jump
/// consistent hash of the key's 64-bit FNV-1a hash. Both are a few lines in any language
/// and fixed here for good, so every process and version agrees; when a queue grows from
/// `n` to `n + 1` shards, only the keys that move to the new shard (one in `n + 1`) move.
#[must_use]
pub fn key_shard(key: &[u8], shards: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in key {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    jump_hash(hash, shards.max(1))
}

/// "A Fast, Minimal Memory, Consistent Hash Algorithm" (Lamping, Veach 2014), as published.
#[allow(clippy::cast_possible_wrap)] // `buckets` is at most `MAX_SHARDS`
fn jump_hash(mut key: u64, buckets: usize) -> usize {
    let mut bucket: i64 = -1;
    let mut next: i64 = 0;
    while next < buckets as i64 {
        bucket = next;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        next = ((bucket + 1) as f64 * ((1_u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    bucket as usize
}

/// Batches go to the servers holding the shards in turn, and on each server to its
/// shards in turn. With one server per shard (how the Go ami places batches) that is
/// plain round-robin over the shards; with shards grouped by the master holding them,
/// every master gets an equal share however unevenly the shards fall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Shards grouped by the server holding them.
    groups: Vec<Vec<usize>>,
    next_group: usize,
    next_in_group: Vec<usize>,
}

impl Placement {
    /// Every shard in turn, starting at `first`.
    #[must_use]
    pub fn round_robin(shards: usize, first: usize) -> Self {
        let mut groups: Vec<Vec<usize>> = (0..shards).map(|shard| vec![shard]).collect();
        groups.rotate_left(first % shards.max(1));
        Self::from_groups(groups)
    }

    /// Servers in turn, then each server's shards in turn; `holders[shard]` names the
    /// server holding that shard.
    #[must_use]
    pub fn by_holder<T: PartialEq>(holders: &[T]) -> Self {
        let mut names: Vec<&T> = Vec::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (shard, holder) in holders.iter().enumerate() {
            if let Some(group) = names.iter().position(|name| *name == holder) {
                groups[group].push(shard);
            } else {
                names.push(holder);
                groups.push(vec![shard]);
            }
        }
        Self::from_groups(groups)
    }

    fn from_groups(groups: Vec<Vec<usize>>) -> Self {
        Self {
            next_in_group: vec![0; groups.len()],
            groups,
            next_group: 0,
        }
    }

    /// True when both send batches to the same groups of shards.
    #[must_use]
    pub fn same_groups(&self, other: &Placement) -> bool {
        self.groups == other.groups
    }

    /// The shard the next batch goes to.
    pub fn next_shard(&mut self) -> usize {
        let group = self.next_group;
        let position = self.next_in_group[group];
        self.next_group = (group + 1) % self.groups.len();
        self.next_in_group[group] = (position + 1) % self.groups[group].len();
        self.groups[group][position]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visits(placement: &mut Placement, count: usize) -> Vec<usize> {
        (0..count).map(|_| placement.next_shard()).collect()
    }

    #[test]
    fn round_robin_visits_every_shard_in_turn() {
        assert_eq!(
            visits(&mut Placement::round_robin(3, 1), 6),
            [1, 2, 0, 1, 2, 0]
        );
    }

    #[test]
    fn by_holder_gives_every_server_an_equal_share() {
        // The default tags of 10 shards on 3 masters: 2, 5 and 3 shards.
        let holders = ["c", "b", "a", "c", "b", "a", "b", "a", "b", "b"];
        let mut placement = Placement::by_holder(&holders);
        let mut per_holder = std::collections::HashMap::new();
        for shard in visits(&mut placement, 300) {
            *per_holder.entry(holders[shard]).or_insert(0) += 1;
        }
        assert_eq!(per_holder.values().collect::<Vec<_>>(), [&100, &100, &100]);
    }

    #[test]
    fn keys_map_to_fixed_shards() {
        // Fixed for good: other processes, versions and languages compute the same.
        let shards: Vec<usize> = ["", "a", "user-1", "user-2", "order:42", "é"]
            .iter()
            .map(|key| key_shard(key.as_bytes(), 10))
            .collect();
        assert_eq!(shards, KNOWN_SHARDS);
        assert_eq!(key_shard(b"anything", 1), 0);
    }

    const KNOWN_SHARDS: [usize; 6] = [1, 2, 9, 7, 3, 5];

    #[test]
    fn keys_spread_evenly_and_growing_moves_few() {
        let keys: Vec<Vec<u8>> = (0..100_000)
            .map(|i| format!("key-{i}").into_bytes())
            .collect();
        let mut per_shard = [0_usize; 10];
        for key in &keys {
            per_shard[key_shard(key, 10)] += 1;
        }
        assert!(
            per_shard.iter().all(|&n| (9_500..=10_500).contains(&n)),
            "{per_shard:?}"
        );
        // From 10 to 11 shards, only the keys that go to the new shard move.
        let moved: Vec<usize> = keys
            .iter()
            .filter(|key| key_shard(key, 10) != key_shard(key, 11))
            .map(|key| key_shard(key, 11))
            .collect();
        assert!(moved.iter().all(|&shard| shard == 10));
        assert!((8_000..=10_200).contains(&moved.len()), "{}", moved.len());
    }

    #[test]
    fn one_server_per_shard_is_round_robin() {
        let placement = Placement::by_holder(&["a", "b", "c"]);
        assert!(placement.same_groups(&Placement::round_robin(3, 0)));
    }
}
