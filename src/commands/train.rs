//! `stancemeter train`: fits a stance head on encoder embeddings of labeled paragraphs.
//!
//! Candidates (linear and one-hidden-layer heads over a grid of L2 penalties) are fitted on
//! the training files and compared on the dev files; the best is calibrated by temperature
//! scaling on dev, and saved with its provenance and dev metrics.

use std::path::PathBuf;

use serde_json::json;

use super::eval::{load_samples, measure};
use crate::assets::sha256_file;
use crate::encode::Encoder;
use crate::error::{Error, Result};
use crate::input::labels::Sample;
use crate::score::head::{EncoderId, Head, HeadMetrics, FORMAT};
use crate::score::train::{default_candidates, fit_temperature, select, CandidateResult};
use crate::score::{features, Scorer};
use crate::segment::{classify, Kind};

/// What `train` reads and writes.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    /// Training files.
    pub labels: Vec<PathBuf>,
    /// Dev files for model selection and calibration.
    pub dev: Vec<PathBuf>,
    /// Where to write the head.
    pub out: PathBuf,
    /// Label names, in the order the head will use.
    pub label_order: Vec<String>,
    /// Seed for initial weights.
    pub seed: u64,
    /// sha256 of the encoder's ONNX graph, recorded in the head.
    pub onnx_sha256: String,
}

/// What training produced.
pub struct TrainReport {
    /// Every candidate's dev scores.
    pub candidates: Vec<CandidateResult>,
    /// Index of the chosen one.
    pub chosen: usize,
    /// The saved head.
    pub head: Head,
}

fn content(samples: &[Sample]) -> Vec<&Sample> {
    samples.iter().filter(|s| classify(&s.text) == Kind::Content).collect()
}

fn encode(encoder: &mut Encoder, samples: &[&Sample], labels: &[String]) -> Result<(ndarray::Array2<f32>, Vec<usize>)> {
    let texts: Vec<&str> = samples.iter().map(|s| s.text.as_str()).collect();
    let x = features(&encoder.embed(&texts)?);
    let y = samples.iter().map(|s| labels.iter().position(|l| *l == s.label).unwrap_or(0)).collect();
    Ok((x, y))
}

/// Runs `train`: fits, selects, calibrates and saves a head.
pub fn run(settings: &TrainSettings, mut encoder: Encoder) -> Result<TrainReport> {
    let labels = &settings.label_order;
    let train = load_samples(&settings.labels, labels)?;
    let dev = load_samples(&settings.dev, labels)?;
    let (train_c, dev_c) = (content(&train), content(&dev));
    if train_c.len() < labels.len() * 5 || dev_c.is_empty() {
        return Err(Error::Usage(format!(
            "too few content paragraphs to train on ({} train, {} dev)",
            train_c.len(),
            dev_c.len()
        )));
    }
    let (x_train, y_train) = encode(&mut encoder, &train_c, labels)?;
    let (x_dev, y_dev) = encode(&mut encoder, &dev_c, labels)?;
    let candidates = default_candidates(settings.seed);
    let (results, chosen, layers) = select((x_train.view(), &y_train), (x_dev.view(), &y_dev), labels, &candidates);
    let probe = Head::probe(labels, layers);
    let temperature = fit_temperature(probe.logits(x_dev.view()).view(), &y_dev);

    let mut data = Vec::new();
    for path in settings.labels.iter().chain(&settings.dev) {
        data.push(json!({"file": path.display().to_string(), "sha256": sha256_file(path)?}));
    }
    let count = |set: &[Sample]| -> serde_json::Value {
        labels.iter().map(|l| (l.clone(), json!(set.iter().filter(|s| s.label == *l).count()))).collect()
    };
    let mut head = Head {
        format: FORMAT.into(),
        id: String::new(),
        labels: labels.clone(),
        encoder: EncoderId {
            name: "sentence-transformers/all-MiniLM-L6-v2".into(),
            onnx_sha256: settings.onnx_sha256.clone(),
        },
        layers: probe.layers,
        temperature,
        training: json!({
            "method": candidates[chosen].describe(),
            "options": candidates[chosen],
            "features": "mean-pooled, L2-normalised MiniLM embedding (384)",
            "furniture": "paragraphs the segmenter marks as heading/caption/byline/boilerplate are neutral by rule and not trained on",
            "class_weights": "inverse frequency",
            "calibration": "temperature scaling on dev (NLL)",
            "data": data,
            "train_counts": count(&train),
            "dev_counts": count(&dev),
            "candidates": results,
        }),
        dev: HeadMetrics::default(),
    };
    head.id = format!(
        "head-{}",
        &crate::assets::sha256_bytes(serde_json::to_string(&head.layers).unwrap_or_default().as_bytes())[..12]
    );
    let mut scorer = Scorer::try_new(encoder, head.clone(), None)?;
    let evaluation = measure(labels, &dev, &super::eval::predict(&mut scorer, &dev)?);
    head.dev = HeadMetrics {
        n: evaluation.n,
        accuracy: evaluation.accuracy,
        macro_f1: evaluation.macro_f1,
        brier: evaluation.brier,
        ece: evaluation.ece,
    };
    head.save(&settings.out)?;
    Ok(TrainReport { candidates: results, chosen, head })
}
