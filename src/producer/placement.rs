//! The order in which a producer's batches visit the shard streams.

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
    fn one_server_per_shard_is_round_robin() {
        let placement = Placement::by_holder(&["a", "b", "c"]);
        assert!(placement.same_groups(&Placement::round_robin(3, 0)));
    }
}
