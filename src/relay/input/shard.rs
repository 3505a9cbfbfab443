//! Which replica ships which pod directory (`shard = "i/n"`).
//!
//! Rendezvous (highest random weight) hashing: every replica index gets a
//! pseudo-random weight per key, and the key goes to the index with the
//! highest. Going from n to n + 1 replicas moves only the keys whose new
//! index wins, about 1/(n + 1) of them, where `hash % n` would move about
//! n/(n + 1). Every replica computes the same owner from the key alone: no
//! coordination, and replicas with different n can run side by side during
//! a rollout (the per-directory locks of `input/owners.rs` keep them from
//! shipping one directory twice).

use crate::relay::config::Shard;
use crate::relay::input::fingerprint::fnv1a64;

/// Whether replica `shard` owns `key` (a pod directory name or a path).
pub(crate) fn owns(shard: Shard, key: &[u8]) -> bool {
    owner(key, shard.count) == shard.index
}

/// The replica index in `0..count` that owns `key`.
pub(crate) fn owner(key: &[u8], count: u64) -> u64 {
    let h = fnv1a64(key);
    (0..count)
        .max_by_key(|&i| (weight(h, i), std::cmp::Reverse(i)))
        .unwrap_or(0)
}

/// A well-mixed 64-bit weight of (key hash, index): the key's hash is
/// mixed first (FNV-1a of similar names, `web-1`, `web-2`, differ in few
/// bits), then with the index, through splitmix64's finalizer each time.
fn weight(h: u64, index: u64) -> u64 {
    mix(mix(h).wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("gitlab-webservice-default-7d9f8c6b5-{i:05x}"))
            .collect()
    }

    #[test]
    fn shards_split_pods_between_replicas_exactly_once_and_evenly() {
        for count in [1u64, 2, 3, 5, 8] {
            let mut per_shard = vec![0usize; count as usize];
            for pod in pods(4_000) {
                let owners: Vec<u64> = (0..count)
                    .filter(|&index| owns(Shard { index, count }, pod.as_bytes()))
                    .collect();
                assert_eq!(owners.len(), 1, "{pod} owned by {owners:?}");
                per_shard[owners[0] as usize] += 1;
            }
            let fair = 4_000 / count as usize;
            assert!(
                per_shard
                    .iter()
                    .all(|&k| k * 10 > fair * 8 && k * 10 < fair * 12),
                "n = {count}: unbalanced {per_shard:?}"
            );
        }
    }

    #[test]
    fn adding_a_replica_moves_about_one_in_n_plus_one_and_only_to_the_new_one() {
        for n in [1u64, 2, 3, 4, 9] {
            let keys = pods(6_000);
            let moved: Vec<&String> = keys
                .iter()
                .filter(|k| owner(k.as_bytes(), n) != owner(k.as_bytes(), n + 1))
                .collect();
            for k in &moved {
                assert_eq!(
                    owner(k.as_bytes(), n + 1),
                    n,
                    "{k} moved between old replicas"
                );
            }
            let share = moved.len() as f64 / keys.len() as f64;
            let ideal = 1.0 / (n + 1) as f64;
            assert!(
                (share - ideal).abs() < ideal * 0.15,
                "{n} → {}: {share:.3} moved, ideal {ideal:.3}",
                n + 1
            );
        }
    }
}
