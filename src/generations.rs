//! A bounded map for caches: two generations of at most `per_generation` entries each.
//! When the current generation is full, the previous one is dropped and the current one
//! takes its place; an entry found in the previous generation moves up to the current.
//! That is an approximate LRU with O(1) work per operation and no per-entry bookkeeping,
//! and it never holds more than twice `per_generation` entries.

use std::collections::HashMap;
use std::hash::Hash;

pub struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    per_generation: usize,
}

impl<K: Hash + Eq, V> Generations<K, V> {
    /// A map of at most `2 * per_generation` entries (`per_generation` at least 1).
    pub fn new(per_generation: usize) -> Self {
        Generations {
            current: HashMap::new(),
            previous: HashMap::new(),
            per_generation: per_generation.max(1),
        }
    }

    /// The entry for `key`, moved up to the current generation if it was in the previous.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        if !self.current.contains_key(key) {
            let (key, value) = self.previous.remove_entry(key)?;
            self.insert(key, value);
        }
        self.current.get(key)
    }

    /// Removes and answers the entry for `key`.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.current
            .remove(key)
            .or_else(|| self.previous.remove(key))
    }

    pub fn insert(&mut self, key: K, value: V) {
        if self.current.len() >= self.per_generation && !self.current.contains_key(&key) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }

    /// Entries held now, in both generations.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_never_holds_more_than_two_generations() {
        let mut map = Generations::new(10);
        for i in 0..1_000 {
            map.insert(i, i);
            assert!(map.len() <= 20);
        }
        assert_eq!(map.get(&999), Some(&999));
        assert_eq!(map.get(&0), None);
    }

    #[test]
    fn an_entry_read_keeps_moving_up_and_survives() {
        let mut map = Generations::new(4);
        map.insert(-1, -1);
        for i in 0..100 {
            map.insert(i, i);
            assert_eq!(map.get(&-1), Some(&-1), "lost after {i} inserts");
        }
    }

    #[test]
    fn removing_takes_an_entry_from_either_generation() {
        let mut map = Generations::new(2);
        map.insert(1, "a");
        map.insert(2, "b");
        map.insert(3, "c"); // 1 and 2 are the previous generation now
        assert_eq!(map.remove(&1), Some("a"));
        assert_eq!(map.remove(&3), Some("c"));
        assert_eq!(map.remove(&1), None);
        assert_eq!(map.len(), 1);
        assert!(!map.is_empty());
    }
}
