//! `stancemeter eval`: a head (and the furniture rule) against labeled paragraphs.

use std::path::PathBuf;

use ndarray::Array2;
use serde::Serialize;

use crate::error::Result;
use crate::input::labels::{load_samples, Sample};
use crate::output::{round4, AtomicCsv};
use crate::score::metrics::{evaluate, Evaluation};
use crate::score::{Scored, Scorer};
use crate::segment::classify;
use crate::settings::ScorerSettings;

/// What `eval` reads and writes.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// Labeled files (.jsonl or .csv).
    pub labels: Vec<PathBuf>,
    /// Per-sample predictions CSV to write, if any.
    pub predictions: Option<PathBuf>,
    /// The encoder and head.
    pub scorer: ScorerSettings,
}

/// Scores samples through the full pipeline: furniture by rule, content by the head.
pub fn predict(scorer: &mut Scorer, samples: &[Sample]) -> Result<Vec<Scored>> {
    let inputs: Vec<(&str, crate::segment::Kind)> =
        samples.iter().map(|s| (s.text.as_str(), classify(&s.text))).collect();
    scorer.score(&inputs)
}

/// Evaluates predictions against the samples' labels.
pub fn measure(labels: &[String], samples: &[Sample], scored: &[Scored]) -> Evaluation {
    // load_samples admits only labels the head knows.
    let truth: Vec<usize> = samples.iter().map(|s| labels.iter().position(|l| *l == s.label).unwrap_or(0)).collect();
    let probs = Array2::from_shape_fn((scored.len(), labels.len()), |(i, j)| scored[i].probs[j]);
    evaluate(labels, &truth, probs.view())
}

#[derive(Serialize)]
struct PredictionRow<'a> {
    id: &'a str,
    article_id: &'a str,
    label: &'a str,
    predicted: &'a str,
    p_optimistic: f64,
    p_neutral: f64,
    p_skeptical: f64,
}

/// Runs `eval`: loads the models, scores the samples and returns the evaluation.
pub fn run(settings: &EvalSettings) -> Result<Evaluation> {
    let (_, mut scorer) = settings.scorer.build()?;
    let labels = scorer.head().labels.clone();
    let samples = load_samples(&settings.labels, &labels)?;
    // Opened before the work, so a predictions path that cannot be written fails at once.
    let predictions = settings.predictions.as_deref().map(AtomicCsv::create).transpose()?;
    let scored = predict(&mut scorer, &samples)?;
    if let Some(mut csv) = predictions {
        let index = scorer.stances();
        for (sample, p) in samples.iter().zip(&scored) {
            let (o, n, s) = index.split(&p.probs);
            csv.write(&PredictionRow {
                id: &sample.id,
                article_id: &sample.article_id,
                label: &sample.label,
                predicted: &labels[p.label],
                p_optimistic: round4(o),
                p_neutral: round4(n),
                p_skeptical: round4(s),
            })?;
        }
        csv.commit()?;
    }
    Ok(measure(&labels, &samples, &scored))
}
