//! Stage 5, score: embeddings -> stance probabilities through a trained head; page furniture
//! is neutral by rule. Training and evaluation of heads live here too.

pub mod head;
pub mod metrics;
pub mod train;

pub use head::Head;

use ndarray::Array2;

use crate::encode::{Embedding, Encoder};
use crate::error::{Error, Result};
use crate::segment::Kind;

/// One paragraph's stance.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Probabilities in the head's label order.
    pub probs: Vec<f32>,
    /// Index of the most probable label.
    pub label: usize,
    /// Encoder windows used (0 for furniture, which is not encoded).
    pub windows: usize,
}

/// Turns embeddings into head input features. One place, so training and scoring agree.
pub fn features(embeddings: &[Embedding]) -> Array2<f32> {
    let dim = embeddings.first().map_or(crate::encode::DIM, |e| e.vector.len());
    Array2::from_shape_fn((embeddings.len(), dim), |(i, j)| embeddings[i].vector[j])
}

/// Encoder + head: paragraphs in, stances out, in input order.
pub struct Scorer {
    encoder: Encoder,
    head: Head,
    neutral: usize,
}

impl Scorer {
    /// Pairs an encoder with a head, checking the head fits the encoder's output.
    pub fn try_new(encoder: Encoder, head: Head, onnx_sha256: Option<&str>) -> Result<Scorer> {
        let bad = |message: String| Error::Head { path: "head".into(), message };
        if head.input_width() != crate::encode::DIM {
            return Err(bad(format!(
                "expects {} inputs, the encoder gives {}",
                head.input_width(),
                crate::encode::DIM
            )));
        }
        if let Some(sha) = onnx_sha256.filter(|sha| *sha != head.encoder.onnx_sha256) {
            return Err(bad(format!(
                "was trained on encoder {} but the models folder holds {sha}; retrain it with `stancemeter train`",
                head.encoder.onnx_sha256
            )));
        }
        let neutral = head.label_index("neutral").ok_or_else(|| bad("has no \"neutral\" label".into()))?;
        Ok(Scorer { encoder, head, neutral })
    }

    /// The head.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The encoder backend's name, for provenance.
    pub fn backend_name(&self) -> &str {
        self.encoder.backend_name()
    }

    /// Scores paragraphs given as (text, kind); furniture is neutral without encoding.
    pub fn score(&mut self, paragraphs: &[(&str, Kind)]) -> Result<Vec<Scored>> {
        let content: Vec<&str> = paragraphs.iter().filter(|(_, k)| *k == Kind::Content).map(|(t, _)| *t).collect();
        let embeddings = self.encoder.embed(&content)?;
        let probs = self.head.probabilities(features(&embeddings).view());
        let mut scored_content = probs.rows().into_iter().zip(&embeddings).map(|(row, e)| {
            let probs = row.to_vec();
            Scored { label: metrics::argmax(&probs), probs, windows: e.windows }
        });
        let k = self.head.labels.len();
        let mut out = Vec::with_capacity(paragraphs.len());
        for (_, kind) in paragraphs {
            if *kind == Kind::Content {
                out.extend(scored_content.next());
            } else {
                let mut probs = vec![0.0; k];
                probs[self.neutral] = 1.0;
                out.push(Scored { probs, label: self.neutral, windows: 0 });
            }
        }
        Ok(out)
    }
}
