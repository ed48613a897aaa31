//! `stancemeter train --finetune METHOD`: fine-tunes the encoder on labeled paragraphs and
//! writes what changed as an adapter (`NAME.adapter.safetensors`) with a record of the run
//! (`NAME.adapter.json`). The scoring graphs are then built from the base weights and the
//! adapter by models/convert_onnx.py (models/fetch), and the head is fitted on them by the
//! ordinary `stancemeter train --adapter`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::assets::{SAFETENSORS_MODEL, TOKENIZER};
use crate::encode::WordPieceTokenizer;
use crate::error::{Error, Result};
use crate::input::labels::{load_samples, Sample};
use crate::score::finetune::adapter::{self, Storage};
use crate::score::finetune::{self, EpochReport, FinetuneOptions, Finetuned, Step, Trainable};
use crate::score::LABELS;
use crate::segment::{classify, Kind};
use crate::settings::EncoderSettings;

/// What fine-tuning reads and writes.
#[derive(Debug, Clone)]
pub struct FinetuneSettings {
    /// Training files.
    pub labels: Vec<PathBuf>,
    /// Dev files (early stopping).
    pub dev: Vec<PathBuf>,
    /// The adapter file to write (`NAME.adapter.safetensors`); the run's record goes beside it.
    pub adapter: PathBuf,
    /// Method and hyper-parameters.
    pub options: FinetuneOptions,
    /// The models folder (base weights and tokenizer).
    pub encoder: EncoderSettings,
}

/// What fine-tuning produced.
pub struct FinetuneReport {
    /// Every epoch.
    pub epochs: Vec<EpochReport>,
    /// The epoch kept.
    pub best_epoch: usize,
    /// The adapter written, its size and sha256.
    pub adapter: (PathBuf, u64, String),
    /// Seconds in all (including caching and dev passes).
    pub seconds: f64,
}

impl FinetuneReport {
    /// The epochs table and what to do next, for a terminal.
    pub fn render(&self) -> String {
        let mut out = String::from("epoch  train loss  dev macro-F1  seconds\n");
        for e in &self.epochs {
            let mark = if e.epoch == self.best_epoch { "*" } else { " " };
            let _ = writeln!(out, "{mark}{:>4} {:>11.4} {:>12.4} {:>8.0}", e.epoch, e.loss, e.dev_macro_f1, e.seconds);
        }
        let (path, size, sha) = &self.adapter;
        let _ = writeln!(
            out,
            "wrote {} ({size} bytes, sha256 {sha}) in {:.0} s; next: build its graphs (models/convert_onnx.py \
             --adapter, README: Fine-tuning), then fit the head with `stancemeter train --adapter {}`",
            path.display(),
            self.seconds,
            path.display()
        );
        out
    }
}

/// Parses a method name: `lora` (rank 8), `lora-rN`, `topK` (1..=6) or `full` (all 6 blocks).
pub fn parse_method(name: &str) -> std::result::Result<Trainable, String> {
    let bad = || format!("unknown fine-tuning method {name:?}; use lora, lora-rN, top1 .. top6 or full");
    match name {
        "lora" => Ok(Trainable::Lora { rank: 8 }),
        "full" => Ok(Trainable::Top { k: finetune::bert::LAYERS }),
        _ => {
            if let Some(rank) = name.strip_prefix("lora-r") {
                let rank: usize = rank.parse().map_err(|_| bad())?;
                return if (1..=64).contains(&rank) { Ok(Trainable::Lora { rank }) } else { Err(bad()) };
            }
            let k: usize = name.strip_prefix("top").and_then(|k| k.parse().ok()).ok_or_else(bad)?;
            if (1..=finetune::bert::LAYERS).contains(&k) {
                Ok(Trainable::Top { k })
            } else {
                Err(bad())
            }
        }
    }
}

fn content(samples: &[Sample], labels: &[String]) -> Vec<(String, usize)> {
    samples
        .iter()
        .filter(|s| classify(&s.text) == Kind::Content)
        .map(|s| (s.text.clone(), labels.iter().position(|l| *l == s.label).unwrap_or(0)))
        .collect()
}

fn as_refs(set: &[(String, usize)]) -> Vec<(&str, usize)> {
    set.iter().map(|(t, l)| (t.as_str(), *l)).collect()
}

/// Runs fine-tuning and saves the adapter and its record.
pub fn run(settings: &FinetuneSettings, on_step: &mut dyn FnMut(&Step)) -> Result<FinetuneReport> {
    let started = std::time::Instant::now();
    let labels: &[String] = &LABELS.map(String::from);
    let train = content(&load_samples(&settings.labels, labels)?, labels);
    let dev = content(&load_samples(&settings.dev, labels)?, labels);
    if train.len() < labels.len() * 5 || dev.is_empty() {
        return Err(Error::TrainingData(format!(
            "too few content paragraphs to fine-tune on ({} train, {} dev)",
            train.len(),
            dev.len()
        )));
    }
    let assets = settings.encoder.assets()?;
    let weights_path = assets.verified(SAFETENSORS_MODEL, true)?;
    let tokenizer = WordPieceTokenizer::from_file(&assets.verified(TOKENIZER, true)?)?;
    let weights = finetune::load_weights(&weights_path)?;
    let model = finetune::finetune(
        &weights,
        &tokenizer,
        &as_refs(&train),
        &as_refs(&dev),
        labels.len(),
        &settings.options,
        on_step,
    )?;
    let base_sha256 = assets.sha256_of(SAFETENSORS_MODEL).unwrap_or_default().to_string();
    let (size, sha) = save(&model, &settings.adapter, &base_sha256)?;
    let seconds = started.elapsed().as_secs_f64();
    write_record(settings, &model, &base_sha256, &sha, seconds, (train.len(), dev.len()))?;
    Ok(FinetuneReport {
        epochs: model.epochs.clone(),
        best_epoch: model.best_epoch,
        adapter: (settings.adapter.clone(), size, sha),
        seconds,
    })
}

/// Writes the adapter: LoRA factors in fp32, whole layers in fp16 (they are 3.5 MB a layer in
/// fp16; the graphs are built from the stored values, so scoring sees exactly what ships).
pub fn save(model: &Finetuned, path: &Path, base_sha256: &str) -> Result<(u64, String)> {
    let storage = match model.options.method {
        Trainable::Lora { .. } => Storage::F32,
        _ => Storage::F16,
    };
    let mut metadata = BTreeMap::new();
    metadata.insert("method".to_string(), model.options.describe());
    metadata.insert("base_sha256".to_string(), base_sha256.to_string());
    let sha = adapter::save(path, &model.params(), storage, &metadata)?;
    let size = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    Ok((size, sha))
}

/// The record beside the adapter: `NAME.adapter.safetensors` -> `NAME.adapter.json`.
pub fn record_path(adapter: &Path) -> PathBuf {
    let name = adapter.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".safetensors").unwrap_or(&name);
    adapter.with_file_name(format!("{stem}.json"))
}

fn write_record(
    settings: &FinetuneSettings,
    model: &Finetuned,
    base_sha256: &str,
    adapter_sha256: &str,
    seconds: f64,
    counts: (usize, usize),
) -> Result<()> {
    let data = super::data_provenance(settings.labels.iter().chain(&settings.dev))?;
    let threads = std::env::var("RAYON_NUM_THREADS").ok().and_then(|t| t.parse::<usize>().ok());
    let record = json!({
        "format": adapter::FORMAT,
        "adapter_sha256": adapter_sha256,
        "base_sha256": base_sha256,
        "method": model.options.describe(),
        "options": model.options,
        "objective": "class-weighted cross-entropy of a linear head over the L2-normalised masked-mean-pooled embedding (scoring windows); furniture excluded",
        "threads": threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        "content_paragraphs": {"train": counts.0, "dev": counts.1},
        "epochs": model.epochs,
        "best_epoch": model.best_epoch,
        "seconds": seconds,
        "data": data,
    });
    let path = record_path(&settings.adapter);
    let text = serde_json::to_string_pretty(&record).map_err(|source| Error::Json { path: path.clone(), source })?;
    crate::output::write_atomic(&path, text.as_bytes())
}
