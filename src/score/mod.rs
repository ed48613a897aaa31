//! Stage 5, score: embeddings -> stance probabilities through a trained head; page furniture
//! is neutral by rule. Training and evaluation of heads live here too.

mod cache;
pub(crate) mod finetune;
pub(crate) mod head;
pub mod metrics;
mod stance;
pub(crate) mod train;

pub use finetune::{EpochReport, FinetuneOptions, Step, Trainable};
pub use head::{EncoderId, Head, HeadMetrics};
pub use stance::{Stance, StanceIndex, LABELS};
pub use train::{CandidateResult, TrainOptions};

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;

use cache::{Entry, ScoreCache};

use crate::encode::{Embedding, Encoder};
use crate::error::{Error, Result};
use crate::segment::Kind;

/// One paragraph's stance.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Position of the paragraph in the input given to [`Scorer::score`].
    pub index: usize,
    /// Probabilities in the head's label order.
    pub probs: Vec<f32>,
    /// Index of the most probable label.
    pub label: usize,
    /// Encoder windows used (0 for furniture, which is not encoded).
    pub windows: usize,
}

/// Turns embeddings into head input features. One place, so training and scoring agree.
pub(crate) fn features(embeddings: &[Embedding]) -> Array2<f32> {
    let dim = embeddings.first().map_or(crate::encode::DIM, |e| e.vector.len());
    Array2::from_shape_fn((embeddings.len(), dim), |(i, j)| embeddings[i].vector[j])
}

/// Encoder + head: paragraphs in, stances out, in input order.
///
/// With a refiner, paragraphs whose two most probable labels are within `margin` of each other
/// under the (fast, approximate) encoder are encoded again by the refiner (the exact fp32
/// reference) and scored from that. A paragraph's result depends only on its own text either
/// way, so batching still changes nothing; near-ties are where an approximation would flip
/// labels, so this keeps the labels of the fast path those of the reference (BENCHMARKS.md).
pub struct Scorer {
    encoder: Encoder,
    head: Head,
    head_path: std::path::PathBuf,
    stances: StanceIndex,
    refiner: Option<Refiner>,
    cache: ScoreCache,
}

/// Loads the refining encoder when a near-tie first needs it.
type LoadEncoder = Box<dyn FnMut() -> Result<Encoder> + Send>;

/// The exact encoder for near-ties, loaded on first use: most small runs never need it, and
/// loading its graph was a large part of start-up.
struct Refiner {
    load: LoadEncoder,
    encoder: Option<Encoder>,
    margin: f32,
    name: String,
}

impl Refiner {
    fn encoder(&mut self) -> Result<&mut Encoder> {
        if self.encoder.is_none() {
            self.encoder = Some((self.load)()?);
        }
        self.encoder
            .as_mut()
            .ok_or_else(|| Error::Backend { context: "loading the refining encoder".into(), source: None })
    }
}

impl Scorer {
    /// Pairs an encoder with the head read from `head_path`, checking the head fits the
    /// encoder's output and was trained on the graph whose sha256 is `onnx_sha256`.
    pub fn try_new(encoder: Encoder, head: Head, head_path: &Path, onnx_sha256: Option<&str>) -> Result<Scorer> {
        let bad = |message: String| Error::Head { path: head_path.to_path_buf(), message };
        if head.input_width() != crate::encode::DIM {
            return Err(bad(format!(
                "expects {} inputs, the encoder gives {}",
                head.input_width(),
                crate::encode::DIM
            )));
        }
        if let Some(sha) = onnx_sha256.filter(|sha| *sha != head.encoder.onnx_sha256) {
            return Err(bad(format!(
                "was trained on encoder graph {} ({}) but that graph is {sha} here; run `bash models/fetch` to \
                 build the graphs the models folder lists, or retrain the head with `stancemeter train`",
                head.encoder.graph.as_deref().unwrap_or(crate::assets::ONNX_MODEL),
                head.encoder.onnx_sha256
            )));
        }
        let stances = head.stance_index().map_err(|missing| bad(format!("has no {missing:?} label")))?;
        Ok(Scorer {
            encoder,
            head,
            head_path: head_path.to_path_buf(),
            stances,
            refiner: None,
            cache: ScoreCache::new(0),
        })
    }

    /// The head.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Where the three stances sit in the head's output.
    pub fn stances(&self) -> StanceIndex {
        self.stances
    }

    /// Keeps the scores of up to `capacity` distinct paragraphs for the rest of the run, so
    /// repeated paragraphs (syndicated copy) are encoded once. Results are identical either way.
    pub fn with_cache(mut self, capacity: usize) -> Scorer {
        self.cache = ScoreCache::new(capacity);
        self
    }

    /// Re-encodes near-ties (top two probabilities within `margin`) with the encoder `load`
    /// returns, called once, when the first near-tie appears. `name` is the refiner's backend
    /// name for provenance.
    pub fn with_refiner(mut self, name: &str, load: LoadEncoder, margin: f32) -> Scorer {
        self.refiner = (margin > 0.0).then(|| Refiner { load, encoder: None, margin, name: name.to_string() });
        self
    }

    /// The encoder backend's name (and the refiner's), for provenance.
    pub fn backend_name(&self) -> String {
        let corrected = if self.encoder.corrected() { "-corrected" } else { "" };
        let encoder = format!("{}{corrected}", self.encoder.backend_name());
        match &self.refiner {
            Some(refiner) => format!("{encoder}+{}<{}", refiner.name, refiner.margin),
            None => encoder,
        }
    }

    /// Scores paragraphs given as (text, kind); furniture is neutral without encoding.
    pub fn score(&mut self, paragraphs: &[(&str, Kind)]) -> Result<Vec<Scored>> {
        let content: Vec<&str> = paragraphs.iter().filter(|(_, k)| *k == Kind::Content).map(|(t, _)| *t).collect();
        let keys: Vec<cache::Key> = content.iter().map(|t| cache::key(t)).collect();
        // Each distinct text not already cached is computed once, however often it repeats.
        let mut fresh_at: HashMap<cache::Key, usize> = HashMap::new();
        let mut todo: Vec<&str> = Vec::new();
        for (text, key) in content.iter().zip(&keys) {
            if self.cache.get(key).is_none() && !fresh_at.contains_key(key) {
                fresh_at.insert(*key, todo.len());
                todo.push(text);
            }
        }
        let fresh = self.compute(&todo)?;
        let mut scored_content = Vec::with_capacity(content.len());
        for key in &keys {
            let (probs, windows) = match fresh_at.get(key) {
                Some(&i) => fresh[i].clone(),
                None => self.cache.get(key).cloned().ok_or_else(|| Error::Backend {
                    context: "a cached paragraph score went missing".into(),
                    source: None,
                })?,
            };
            scored_content.push((metrics::argmax(&probs), probs, windows));
        }
        for (key, &i) in &fresh_at {
            self.cache.insert(*key, fresh[i].clone());
        }
        let mut scored_content = scored_content.into_iter();
        let neutral = self.stances.neutral();
        let mut out = Vec::with_capacity(paragraphs.len());
        for (index, (_, kind)) in paragraphs.iter().enumerate() {
            let (label, probs, windows) = if *kind == Kind::Content {
                scored_content.next().ok_or_else(|| Error::Backend {
                    context: "the encoder returned fewer embeddings than paragraphs".into(),
                    source: None,
                })?
            } else {
                let mut probs = vec![0.0; self.head.labels.len()];
                probs[neutral] = 1.0;
                (neutral, probs, 0)
            };
            out.push(Scored { index, probs, label, windows });
        }
        Ok(out)
    }

    /// Encodes texts, runs the head and refines near-ties: one (probabilities, windows) per text.
    fn compute(&mut self, texts: &[&str]) -> Result<Vec<Entry>> {
        let embeddings = self.encoder.embed(texts)?;
        let mut probs = self.head.probabilities(features(&embeddings).view());
        if let Some(refiner) = &mut self.refiner {
            // The refiner tokenizes the same way, so a paragraph's window count stays as it was.
            let close: Vec<usize> = (0..texts.len()).filter(|&i| top_two_gap(probs.row(i)) < refiner.margin).collect();
            if !close.is_empty() {
                let again = refiner.encoder()?.embed(&close.iter().map(|&i| texts[i]).collect::<Vec<_>>())?;
                let again_probs = self.head.probabilities(features(&again).view());
                for (row, &i) in close.iter().enumerate() {
                    probs.row_mut(i).assign(&again_probs.row(row));
                }
            }
        }
        if probs.iter().any(|p| !p.is_finite()) {
            return Err(Error::Head {
                path: self.head_path.clone(),
                message: "gave a probability that is not a number; check the head file's weights".into(),
            });
        }
        Ok(probs.rows().into_iter().zip(&embeddings).map(|(row, e)| (row.to_vec(), e.windows)).collect())
    }
}

/// Gap between the largest and the second largest probability.
fn top_two_gap<'a>(probs: impl IntoIterator<Item = &'a f32>) -> f32 {
    let (mut first, mut second) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &p in probs {
        if p > first {
            (first, second) = (p, first);
        } else if p > second {
            second = p;
        }
    }
    first - second
}

#[cfg(test)]
mod tests {
    use super::top_two_gap;

    #[test]
    fn top_two_gap_is_first_minus_second_in_any_order() {
        assert!((top_two_gap(&[0.2, 0.5, 0.3]) - 0.2).abs() < 1e-6);
        assert!((top_two_gap(&[0.5, 0.3, 0.2]) - 0.2).abs() < 1e-6);
        assert!((top_two_gap(&[0.1, 0.1, 0.8]) - 0.7).abs() < 1e-6);
        assert_eq!(top_two_gap(&[0.4, 0.4, 0.2]), 0.0);
    }
}
