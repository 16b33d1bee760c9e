//! Rotation over a fixed list, shared by threads: in turn or at random. The one rotation of
//! the workspace: source addresses ([`SourceAddrs`](crate::SourceAddrs)), and TLS profiles
//! and `Accept-Language` values in both TLS engines, chosen as their [`Rotation`] says.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fixed list of items handed out one per call, in list order ([`RoundRobin::next`],
/// wrapping around) or at random ([`RoundRobin::random`]), from `&self` (one atomic cursor,
/// no lock).
///
/// ```
/// use pool_dial::RoundRobin;
///
/// let profiles = RoundRobin::new(vec!["chrome", "firefox"]);
/// assert_eq!(profiles.next(), Some(&"chrome"));
/// assert_eq!(profiles.next(), Some(&"firefox"));
/// assert_eq!(profiles.next(), Some(&"chrome"));
/// assert!(profiles.random().is_some());
/// assert_eq!(RoundRobin::<u8>::new(Vec::new()).next(), None);
/// ```
#[derive(Debug)]
pub struct RoundRobin<T> {
    items: Vec<T>,
    cursor: AtomicUsize,
    random: RandomState,
}

impl<T> Default for RoundRobin<T> {
    /// An empty rotation.
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl<T: Clone> Clone for RoundRobin<T> {
    /// The same items, with a fresh cursor (starting at the first item).
    fn clone(&self) -> Self {
        Self::new(self.items.clone())
    }
}

impl<T> RoundRobin<T> {
    /// A rotation over `items`, starting at the first.
    pub fn new(items: Vec<T>) -> Self {
        Self {
            items,
            cursor: AtomicUsize::new(0),
            random: RandomState::new(),
        }
    }

    /// The items, in order.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items (then every pick is `None`).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The next item in list order, wrapping around; `None` when empty.
    pub fn next(&self) -> Option<&T> {
        self.next_index().map(|i| &self.items[i])
    }

    /// An item picked uniformly at random (each call independent); `None` when empty.
    pub fn random(&self) -> Option<&T> {
        self.random_index().map(|i| &self.items[i])
    }

    /// The index [`RoundRobin::next`] picks (for callers that keep a parallel list).
    pub fn next_index(&self) -> Option<usize> {
        let len = self.items.len();
        (len > 0).then(|| self.cursor.fetch_add(1, Ordering::Relaxed) % len)
    }

    /// The index [`RoundRobin::random`] picks.
    pub fn random_index(&self) -> Option<usize> {
        let len = u64::try_from(self.items.len()).unwrap_or(u64::MAX);
        (len > 0).then(|| usize::try_from(self.random_u64() % len).unwrap_or(0))
    }

    /// 64 random bits, a fresh draw per call (also when the list is empty).
    pub fn random_u64(&self) -> u64 {
        let mut hasher = self.random.build_hasher();
        hasher.write_usize(self.cursor.fetch_add(1, Ordering::Relaxed));
        hasher.finish()
    }
}

/// How one of several choices (TLS profile, `Accept-Language`) is made per connection
/// (`[tls] profile_rotation` in a config file: `"round-robin"`, `"random"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Rotation {
    /// In order, wrapping around.
    #[default]
    RoundRobin,
    /// Uniformly at random.
    Random,
}

impl Rotation {
    /// One item of `list` chosen this way ([`RoundRobin::next`] or [`RoundRobin::random`]);
    /// `None` when the list is empty.
    pub fn pick<T>(self, list: &RoundRobin<T>) -> Option<&T> {
        match self {
            Rotation::RoundRobin => list.next(),
            Rotation::Random => list.random(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_wraps_in_order() {
        let r = RoundRobin::new(vec![1, 2, 3]);
        let seen: Vec<i32> = (0..7).map(|_| *r.next().unwrap()).collect();
        assert_eq!(seen, [1, 2, 3, 1, 2, 3, 1]);
        assert_eq!(r.items(), [1, 2, 3]);
        assert_eq!(r.len(), 3);
        // A clone starts over.
        assert_eq!(r.clone().next(), Some(&1));
    }

    #[test]
    fn random_covers_every_item_and_stays_in_range() {
        let r = RoundRobin::new(vec!['a', 'b', 'c', 'd']);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..400 {
            seen.insert(*r.random().unwrap());
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert_ne!(r.random_u64(), r.random_u64());
    }

    #[test]
    fn rotation_picks_in_turn_or_at_random() {
        let r = RoundRobin::new(vec![1, 2]);
        assert_eq!(Rotation::RoundRobin.pick(&r), Some(&1));
        assert_eq!(Rotation::RoundRobin.pick(&r), Some(&2));
        assert!(matches!(Rotation::Random.pick(&r), Some(1 | 2)));
        assert_eq!(Rotation::default().pick(&RoundRobin::<u8>::default()), None);
    }

    #[test]
    fn empty_picks_nothing() {
        let r: RoundRobin<u8> = RoundRobin::default();
        assert!(r.is_empty());
        assert_eq!(r.next(), None);
        assert_eq!(r.random(), None);
        assert_eq!(r.next_index(), None);
    }

    #[test]
    fn shared_between_threads_hands_out_each_in_turn() {
        let r = std::sync::Arc::new(RoundRobin::new((0..4).collect::<Vec<usize>>()));
        let counts: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let r = &r;
                    s.spawn(move || (0..100).map(|_| *r.next().unwrap()).collect::<Vec<_>>())
                })
                .collect();
            let mut counts = vec![0; 4];
            for h in handles {
                for i in h.join().unwrap() {
                    counts[i] += 1;
                }
            }
            counts
        });
        assert_eq!(counts, [100, 100, 100, 100]);
    }
}
