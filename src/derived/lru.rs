//! A small least-recently-used cache, bounded by entries and by a total weight. Eviction scans
//! for the oldest entry: fine for the few hundred entries it holds.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

pub struct Lru<K, V> {
    inner: Mutex<Inner<K, V>>,
    max_entries: usize,
    max_weight: u64,
}

struct Inner<K, V> {
    map: HashMap<K, (Arc<V>, u64, u64)>,
    tick: u64,
    weight: u64,
}

impl<K: Eq + Hash + Clone, V> Lru<K, V> {
    pub fn new(max_entries: usize, max_weight: u64) -> Self {
        Lru {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                tick: 0,
                weight: 0,
            }),
            max_entries,
            max_weight,
        }
    }

    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.map.get_mut(key)?;
        entry.2 = tick;
        Some(entry.0.clone())
    }

    /// Keeps `value` unless it alone outweighs the cache; evicts the oldest to make room.
    pub fn put(&self, key: K, value: Arc<V>, weight: u64) {
        if weight > self.max_weight {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((_, w, _)) = inner.map.insert(key, (value, weight, tick)) {
            inner.weight -= w;
        }
        inner.weight += weight;
        while inner.map.len() > self.max_entries || inner.weight > self.max_weight {
            let Some(oldest) = inner
                .map
                .iter()
                .min_by_key(|(_, v)| v.2)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((_, w, _)) = inner.map.remove(&oldest) {
                inner.weight -= w;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_by_count_and_weight() {
        let lru = Lru::new(2, 10);
        lru.put("a", Arc::new(1), 1);
        lru.put("b", Arc::new(2), 1);
        assert_eq!(lru.get(&"a").as_deref(), Some(&1));
        lru.put("c", Arc::new(3), 1);
        assert!(lru.get(&"b").is_none(), "b was the least recently used");
        assert!(lru.get(&"a").is_some() && lru.get(&"c").is_some());
        lru.put("d", Arc::new(4), 9);
        assert!(lru.get(&"d").is_some());
        assert_eq!(
            [lru.get(&"a"), lru.get(&"c")].iter().flatten().count(),
            1,
            "weight 11 > 10 evicted one more"
        );
        lru.put("huge", Arc::new(5), 11);
        assert!(lru.get(&"huge").is_none());
    }
}
