//! `stancemeter eval`: a head (and the furniture rule) against labeled paragraphs.

use std::path::PathBuf;

use ndarray::Array2;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::input::labels::{read_samples, Sample};
use crate::output::{round4, AtomicCsv};
use crate::score::metrics::{evaluate, Evaluation};
use crate::score::{Scored, Scorer};
use crate::segment::classify;

/// What `eval` reads and writes.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// Labeled files (.jsonl or .csv).
    pub labels: Vec<PathBuf>,
    /// Per-sample predictions CSV to write, if any.
    pub predictions: Option<PathBuf>,
}

/// Reads samples from several files, checking every label is one the head knows.
pub fn load_samples(paths: &[PathBuf], known: &[String]) -> Result<Vec<Sample>> {
    let mut all = Vec::new();
    for path in paths {
        for sample in read_samples(path)? {
            if !known.contains(&sample.label) {
                return Err(Error::record(
                    sample.at.clone(),
                    format!("label {:?} is not one of {}", sample.label, known.join(", ")),
                ));
            }
            all.push(sample);
        }
    }
    Ok(all)
}

/// Scores samples through the full pipeline: furniture by rule, content by the head.
pub fn predict(scorer: &mut Scorer, samples: &[Sample]) -> Result<Vec<Scored>> {
    let inputs: Vec<(&str, crate::segment::Kind)> =
        samples.iter().map(|s| (s.text.as_str(), classify(&s.text))).collect();
    scorer.score(&inputs)
}

/// Evaluates predictions against the samples' labels.
pub fn measure(labels: &[String], samples: &[Sample], scored: &[Scored]) -> Evaluation {
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

/// Runs `eval` and returns the evaluation.
pub fn run(settings: &EvalSettings, scorer: &mut Scorer) -> Result<Evaluation> {
    let labels = scorer.head().labels.clone();
    let samples = load_samples(&settings.labels, &labels)?;
    let scored = predict(scorer, &samples)?;
    if let Some(path) = &settings.predictions {
        let index = scorer.head().stance_index();
        let mut csv = AtomicCsv::create(path)?;
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
