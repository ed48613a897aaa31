//! `stancemeter train --int8-correction`: fits the shift that brings a fine-tuned int8 graph's
//! paragraph vectors back toward its fp32 graph's (stage 4, `encode::correction`).
//!
//! Both graphs embed the same labeled content paragraphs; the fit needs no labels, only
//! paragraphs like those that will be scored. The file goes beside the adapter
//! (`heads/NAME.int8-correction.json`), where the int8 encoder finds it.

use std::path::PathBuf;

use serde_json::json;

use crate::assets::int8_graph;
use crate::encode::correction::{mean_distance, Int8Correction};
use crate::encode::{Encoder, OnnxOptions, Precision};
use crate::error::{Error, Result};
use crate::input::labels::load_samples;
use crate::score::LABELS;
use crate::segment::{classify, Kind};
use crate::settings::EncoderSettings;

/// What `train --int8-correction` reads and writes.
#[derive(Debug, Clone)]
pub struct CorrectionSettings {
    /// Labeled files whose content paragraphs the two graphs embed.
    pub labels: Vec<PathBuf>,
    /// Where to write the correction (JSON).
    pub out: PathBuf,
    /// The encoder; its graph must be a fine-tuned one (an adapter's).
    pub encoder: EncoderSettings,
}

/// What the fit produced.
pub struct CorrectionReport {
    /// The saved correction.
    pub correction: Int8Correction,
    /// Paragraphs fitted on.
    pub paragraphs: usize,
    /// Mean distance of int8 vectors from fp32 before and after, on those paragraphs.
    pub distance: (f64, f64),
}

impl CorrectionReport {
    /// One line for a terminal.
    pub fn render(&self, out: &std::path::Path) -> String {
        format!(
            "wrote {}: fitted on {} paragraphs; mean distance of int8 from fp32 {:.5} -> {:.5}\n",
            crate::error::shown(out),
            self.paragraphs,
            self.distance.0,
            self.distance.1
        )
    }
}

/// Runs the fit: embeds the content paragraphs with the fp32 graph and with the int8 graph
/// (uncorrected), fits, and saves.
pub fn run(settings: &CorrectionSettings) -> Result<CorrectionReport> {
    let labels: &[String] = &LABELS.map(String::from);
    let samples = load_samples(&settings.labels, labels)?;
    let texts: Vec<&str> =
        samples.iter().filter(|s| classify(&s.text) == Kind::Content).map(|s| s.text.as_str()).collect();
    let graph = settings.encoder.graph.clone().ok_or_else(|| {
        Error::Usage("--int8-correction needs --adapter: the plain int8 graph has no correction".into())
    })?;
    let assets = settings.encoder.assets()?;
    let int8 = int8_graph(&graph);
    let sha = |g: &str| {
        assets.sha256_of(g).map(str::to_string).ok_or_else(|| Error::Model {
            path: assets.path("manifest.json"),
            problem: format!("lists no {g}; add the graphs built from the adapter (README: Fine-tuning)"),
        })
    };
    let (fp32_sha, int8_sha) = (sha(&graph)?, sha(&int8)?);
    let mut exact = settings.encoder.encoder(&assets, Precision::Fp32)?;
    let fp32 = exact.embed(&texts)?;
    drop(exact);
    // The int8 graph as it runs without any correction: an old one, for another graph, must
    // neither shape the fit nor stop it.
    let raw =
        OnnxOptions { precision: Precision::Int8, int8_correction: false, ..settings.encoder.onnx(Precision::Int8) };
    let q = Encoder::load_graph(&assets, &graph, &raw, settings.encoder.batches.clone())?.embed(&texts)?;
    let data = super::data_provenance(&settings.labels)?;
    let before = mean_distance(&q, &fp32);
    let provenance = json!({
        "command": "stancemeter train --int8-correction",
        "graphs": {"fp32": graph, "int8": int8},
        "data": data,
        "paragraphs": texts.len(),
        "feature": "sqrt(min(tokens + 2, 256) / 100)",
    });
    let mut correction = Int8Correction::fit(&fp32, &q, (&fp32_sha, &int8_sha), provenance)?;
    let mut fixed = q.clone();
    fixed.iter_mut().for_each(|e| correction.apply(e));
    let after = mean_distance(&fixed, &fp32);
    correction.provenance["mean_distance_to_fp32"] = json!({"before": before, "after": after});
    correction.save(&settings.out)?;
    Ok(CorrectionReport { correction, paragraphs: texts.len(), distance: (before, after) })
}
