//! Which replica ships which pod directory (`shard = "i/n"`).

use crate::relay::config::Shard;
use crate::relay::input::fingerprint::fnv1a64;

/// Whether replica `shard` owns `key` (a pod directory name or a path).
pub(crate) fn owns(shard: Shard, key: &[u8]) -> bool {
    fnv1a64(key) % shard.count == shard.index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_pods_between_replicas_exactly_once() {
        let shards = [Shard { index: 0, count: 2 }, Shard { index: 1, count: 2 }];
        let mut per_shard = [0, 0];
        for i in 0..100 {
            let pod = format!("gitlab-webservice-default-{i}");
            let owners: Vec<usize> = (0..2)
                .filter(|&s| owns(shards[s], pod.as_bytes()))
                .collect();
            assert_eq!(owners.len(), 1, "{pod} owned by {owners:?}");
            per_shard[owners[0]] += 1;
        }
        assert!(
            per_shard.iter().all(|n| *n > 25),
            "unbalanced: {per_shard:?}"
        );
    }
}
