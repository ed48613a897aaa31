//! `stancemeter train`: fits a stance head on encoder embeddings of labeled paragraphs.
//!
//! Candidates (linear and one-hidden-layer heads over a grid of L2 penalties) are fitted on
//! the training files and compared on the dev files; the best is refitted on train + dev and
//! calibrated by temperature scaling on article-grouped out-of-fold logits (on a fine-tuned
//! encoder, dev's alone), and saved with its provenance and validation metrics.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::json;

use crate::assets::{finetuned_graph, sha256_file, ONNX_MODEL, SAFETENSORS_MODEL};
use crate::encode::{Encoder, Precision};
use crate::error::{Error, Result};
use crate::input::labels::{load_samples, Sample};
use crate::score::head::{forward, softmax_rows};
use crate::score::head::{AdapterId, EncoderId, Head, HeadMetrics, FORMAT};
use crate::score::metrics::evaluate;
use crate::score::train::{default_candidates, fit, fit_temperature, out_of_fold_logits, select, CandidateResult};
use crate::score::{features, LABELS};
use crate::segment::{classify, Kind};
use crate::settings::EncoderSettings;

/// What `train` reads and writes.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    /// Training files.
    pub labels: Vec<PathBuf>,
    /// Dev files for model selection and calibration.
    pub dev: Vec<PathBuf>,
    /// Where to write the head.
    pub out: PathBuf,
    /// Seed for initial weights.
    pub seed: u64,
    /// After choosing the method on dev, refit it on train + dev (calibrated out-of-fold).
    pub refit: bool,
    /// The encoder; heads are always fitted on the fp32 graph.
    pub encoder: EncoderSettings,
    /// A fine-tuning adapter: the head is fitted on the graph built from it
    /// (`finetuned/NAME.onnx`, see models/fetch) and names it.
    pub adapter: Option<PathBuf>,
}

/// What training produced.
pub struct TrainReport {
    /// Every candidate's dev scores.
    pub candidates: Vec<CandidateResult>,
    /// Index of the chosen one.
    pub chosen: usize,
    /// The saved head.
    pub head: Head,
    /// Where it was saved.
    pub path: PathBuf,
}

impl TrainReport {
    /// The candidates table and what was written, for a terminal.
    pub fn render(&self) -> String {
        let mut out = String::from("candidate                      dev macro-F1  dev accuracy\n");
        for (i, c) in self.candidates.iter().enumerate() {
            let mark = if i == self.chosen { "*" } else { " " };
            let _ =
                writeln!(out, "{mark} {:<28} {:>11.3} {:>13.3}", c.options.describe(), c.dev_macro_f1, c.dev_accuracy);
        }
        let (h, v) = (&self.head, &self.head.validation);
        let _ = writeln!(
            out,
            "wrote {} ({}): temperature {:.3}; validation ({}) macro-F1 {:.3}, accuracy {:.3}, ECE {:.3}, Brier {:.3}",
            self.path.display(),
            h.id,
            h.temperature,
            h.training["validation"].as_str().unwrap_or("not recorded"),
            v.macro_f1,
            v.accuracy,
            v.ece,
            v.brier
        );
        out
    }
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

/// Checks the data can train a head: enough content paragraphs, every label in train.
fn check_data(labels: &[String], train: &[&Sample], dev: &[&Sample]) -> Result<()> {
    if train.len() < labels.len() * 5 || dev.is_empty() {
        return Err(Error::TrainingData(format!(
            "too few content paragraphs to train on ({} train, {} dev); a head needs at least {} in train and 1 in dev",
            train.len(),
            dev.len(),
            labels.len() * 5
        )));
    }
    for label in labels {
        let n = train.iter().filter(|s| s.label == *label).count();
        if n < 2 {
            return Err(Error::TrainingData(format!(
                "the training files hold {n} content paragraphs labeled {label:?}; a head needs at least 2 of every label"
            )));
        }
    }
    Ok(())
}

/// Runs `train`: fits, selects, calibrates and saves a head.
pub fn run(settings: &TrainSettings) -> Result<TrainReport> {
    let labels: &[String] = &LABELS.map(String::from);
    let train = load_samples(&settings.labels, labels)?;
    let dev = load_samples(&settings.dev, labels)?;
    let (train_c, dev_c) = (content(&train), content(&dev));
    check_data(labels, &train_c, &dev_c)?;
    let assets = settings.encoder.assets()?;
    let mut encoder_settings = settings.encoder.clone();
    let adapter = match &settings.adapter {
        Some(path) => {
            encoder_settings.graph = Some(finetuned_graph(path));
            Some(adapter_id(&assets, path)?)
        }
        None => None,
    };
    let graph = encoder_settings.fp32_graph().to_string();
    let onnx_sha256 = assets.sha256_of(&graph).ok_or_else(|| Error::Model {
        path: assets.path("manifest.json"),
        problem: format!(
            "lists no {graph}; add the graph built from the adapter to the manifest (README: Fine-tuning)"
        ),
    })?;
    let mut encoder = encoder_settings.encoder(&assets, Precision::Fp32)?;
    let (x_train, y_train) = encode(&mut encoder, &train_c, labels)?;
    let (x_dev, y_dev) = encode(&mut encoder, &dev_c, labels)?;
    let candidates = default_candidates(settings.seed);
    let (results, chosen, layers) = select((x_train.view(), &y_train), (x_dev.view(), &y_dev), labels, &candidates);
    let options = &candidates[chosen];

    let (layers, temperature, validation, how) = if settings.refit {
        // The method is chosen on dev; the head that ships learns from train and dev together.
        // Calibration then needs logits the head has not seen: article-grouped out-of-fold ones.
        let all: Vec<&Sample> = train_c.iter().chain(&dev_c).copied().collect();
        let x = ndarray::concatenate(ndarray::Axis(0), &[x_train.view(), x_dev.view()])
            .map_err(|e| Error::backend("stacking train and dev features", e))?;
        let y: Vec<usize> = y_train.iter().chain(&y_dev).copied().collect();
        let folds: Vec<usize> = all.iter().map(|s| fold_of(s, FOLDS)).collect();
        let oof = out_of_fold_logits(x.view(), &y, &folds, FOLDS, options);
        let mut how =
            format!("{FOLDS}-fold out-of-fold predictions over train+dev content paragraphs, grouped by article");
        // A fine-tuned encoder has learnt the training paragraphs, so their logits are too
        // easy to calibrate on (the temperature would sharpen); only dev's (the rows after
        // train's) are honest then.
        let first = if adapter.is_some() {
            how.push_str(
                "; temperature and these figures from the dev paragraphs' only (the encoder trained on train's)",
            );
            x_train.nrows()
        } else {
            0
        };
        let oof_cal = oof.slice(ndarray::s![first.., ..]).to_owned();
        let temperature = fit_temperature(oof_cal.view(), &y[first..]);
        let validation = calibrated_metrics(labels, &oof_cal, temperature, &y[first..]);
        (fit(x.view(), &y, labels.len(), options), temperature, validation, how)
    } else {
        let logits = forward(&layers, x_dev.view());
        let temperature = fit_temperature(logits.view(), &y_dev);
        let validation = calibrated_metrics(labels, &logits, temperature, &y_dev);
        (layers, temperature, validation, "dev content paragraphs (temperature fitted on them too)".to_string())
    };

    let data = super::data_provenance(settings.labels.iter().chain(&settings.dev))?;
    let count = |set: &[Sample]| -> serde_json::Value {
        labels.iter().map(|l| (l.clone(), json!(set.iter().filter(|s| s.label == *l).count()))).collect()
    };
    let mut head = Head {
        format: FORMAT.into(),
        id: String::new(),
        labels: labels.to_vec(),
        encoder: EncoderId {
            name: "sentence-transformers/all-MiniLM-L6-v2".into(),
            onnx_sha256: onnx_sha256.to_string(),
            graph: encoder_settings.graph.clone(),
            adapter,
        },
        layers,
        temperature,
        training: json!({
            "method": options.describe(),
            "options": options,
            "features": "mean-pooled, L2-normalised MiniLM embedding (384)",
            "furniture": "paragraphs the segmenter marks as heading/caption/byline/boilerplate are neutral by rule and not trained on",
            "class_weights": "inverse frequency",
            "selection": "candidates fitted on train, compared by dev macro-F1",
            "fitted_on": if settings.refit { "train + dev" } else { "train" },
            "calibration": "temperature scaling (NLL) on the validation logits",
            "validation": how,
            "data": data,
            "train_counts": count(&train),
            "dev_counts": count(&dev),
            "candidates": results,
        }),
        validation,
    };
    head.id = head.computed_id()?;
    head.save(&settings.out)?;
    Ok(TrainReport { candidates: results, chosen, head, path: settings.out.clone() })
}

/// The adapter's provenance: its path (relative to the models folder when inside it), its
/// sha256 and the base files'.
fn adapter_id(assets: &crate::assets::Assets, path: &std::path::Path) -> Result<AdapterId> {
    let missing = |file: &str| Error::Model { path: assets.path("manifest.json"), problem: format!("lists no {file}") };
    let root = std::fs::canonicalize(assets.root()).map_err(|e| Error::io(assets.root(), e))?;
    let full = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let file = full.strip_prefix(&root).unwrap_or(&full).display().to_string();
    Ok(AdapterId {
        file,
        sha256: sha256_file(path)?,
        base_sha256: assets.sha256_of(SAFETENSORS_MODEL).ok_or_else(|| missing(SAFETENSORS_MODEL))?.to_string(),
        base_onnx_sha256: assets.sha256_of(ONNX_MODEL).ok_or_else(|| missing(ONNX_MODEL))?.to_string(),
    })
}

/// Folds for cross-validation.
const FOLDS: usize = 5;

/// A sample's fold, from its article (or its own id when it has none), stable across runs.
fn fold_of(sample: &Sample, k: usize) -> usize {
    let key = if sample.article_id.is_empty() { &sample.id } else { &sample.article_id };
    let digest = crate::assets::sha256_bytes(key.as_bytes());
    usize::from_str_radix(&digest[..8], 16).unwrap_or(0) % k
}

fn calibrated_metrics(labels: &[String], logits: &ndarray::Array2<f32>, temperature: f32, y: &[usize]) -> HeadMetrics {
    let mut probs = logits.mapv(|v| v / temperature);
    softmax_rows(&mut probs);
    let e = evaluate(labels, y, probs.view());
    HeadMetrics { n: e.n, accuracy: e.accuracy, macro_f1: e.macro_f1, brier: e.brier, ece: e.ece }
}
