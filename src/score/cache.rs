//! Stage 5, score: a bounded cache of finished paragraph scores, keyed by the paragraph text.
//!
//! Syndicated wire copy repeats the same paragraphs across many outlets. A paragraph's
//! probabilities depend only on its own text (batching is invisible, and near-tie refinement
//! looks at the paragraph alone), so a score computed once is exactly the score of every copy.
//! Keys are the first 128 bits of the text's SHA-256; entries hold the probabilities and the
//! window count. When full, the oldest entry is dropped (first in, first out), so memory is
//! bounded by `capacity` entries of about 80 bytes each.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

/// A paragraph's finished score: probabilities in head order and encoder windows.
pub(crate) type Entry = (Vec<f32>, usize);

/// The cache key of a paragraph text.
pub(crate) type Key = [u8; 16];

/// The key of `text`.
pub(crate) fn key(text: &str) -> Key {
    let digest = Sha256::digest(text.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// At most `capacity` finished scores, oldest dropped first.
#[derive(Debug, Default)]
pub(crate) struct ScoreCache {
    capacity: usize,
    entries: HashMap<Key, Entry>,
    order: VecDeque<Key>,
}

impl ScoreCache {
    /// A cache of at most `capacity` paragraphs (0 keeps nothing).
    pub(crate) fn new(capacity: usize) -> ScoreCache {
        ScoreCache { capacity, entries: HashMap::new(), order: VecDeque::new() }
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Entry> {
        self.entries.get(key)
    }

    pub(crate) fn insert(&mut self, key: Key, entry: Entry) {
        if self.capacity == 0 || self.entries.contains_key(&key) {
            return;
        }
        if self.entries.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, entry);
        self.order.push_back(key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_holds_more_than_its_capacity_and_drops_the_oldest() {
        let mut cache = ScoreCache::new(3);
        for i in 0..10 {
            cache.insert(key(&format!("paragraph {i}")), (vec![i as f32], 1));
            assert!(cache.len() <= 3);
        }
        assert!(cache.get(&key("paragraph 6")).is_none());
        assert_eq!(cache.get(&key("paragraph 9")), Some(&(vec![9.0], 1)));
        let mut off = ScoreCache::new(0);
        off.insert(key("x"), (vec![1.0], 1));
        assert_eq!(off.len(), 0);
    }
}
