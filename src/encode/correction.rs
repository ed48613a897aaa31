//! Stage 4, encode: the int8 graph's drift from fp32, corrected after pooling.
//!
//! The int8 graph's paragraph vectors drift from the fp32 graph's in a direction that grows
//! with the paragraph's length (docs/quality.md, "Correcting the int8 drift after the fact").
//! A correction is two vectors fitted by least squares on labeled paragraphs, per dimension:
//! `fp32 - int8 ~= constant + per_length * sqrt(n / 100)`, with `n` the paragraph's tokens
//! including `[CLS]` and `[SEP]`, capped at one window (256). Applying it adds the shift and
//! normalises again. It depends only on the paragraph's own vector and length, so batching
//! stays invisible. A correction names the int8 graph it was fitted on and refuses any other.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Embedding, DIM};
use crate::error::{Error, Result};

/// The file format's name, checked on load.
pub const FORMAT: &str = "stancemeter-int8-correction/1";

/// Where a fine-tuned int8 graph's correction lives: `finetuned/NAME.onnx` ->
/// `heads/NAME.int8-correction.json`, beside the adapter it was built from. The plain graph
/// has none.
pub fn path_for(fp32_graph: &str) -> Option<String> {
    let name = fp32_graph.strip_prefix("finetuned/")?.strip_suffix(".onnx")?;
    Some(format!("heads/{name}.int8-correction.json"))
}

/// A length-aware shift of int8 paragraph vectors toward their fp32 values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Int8Correction {
    /// [`FORMAT`].
    pub format: String,
    /// sha256 of the int8 graph the correction was fitted on (the manifest's entry).
    pub int8_graph_sha256: String,
    /// sha256 of the fp32 graph it corrects toward.
    pub fp32_graph_sha256: String,
    /// How it was made: the command, data files and their checksums, paragraph count, and the
    /// mean distance to fp32 before and after on the fitting paragraphs.
    pub provenance: serde_json::Value,
    /// Added to every int8 vector.
    pub constant: Vec<f32>,
    /// Added times sqrt(n / 100).
    pub per_length: Vec<f32>,
}

/// The length feature: sqrt of the paragraph's tokens (with `[CLS]`, `[SEP]`, capped at 256)
/// over 100.
pub fn length_feature(content_tokens: usize) -> f64 {
    ((content_tokens + 2).min(256) as f64 / 100.0).sqrt()
}

impl Int8Correction {
    /// Fits the shift on paired embeddings of the same paragraphs (fp32, int8).
    /// `provenance` is stored as given; the graph checksums name what was fitted.
    pub fn fit(
        fp32: &[Embedding],
        int8: &[Embedding],
        graphs: (&str, &str),
        provenance: serde_json::Value,
    ) -> Result<Int8Correction> {
        if fp32.len() != int8.len() || fp32.len() < 2 {
            return Err(Error::TrainingData(format!(
                "an int8 correction needs the same paragraphs from both graphs, at least 2 (got {} fp32, {} int8)",
                fp32.len(),
                int8.len()
            )));
        }
        let s: Vec<f64> = int8.iter().map(|e| length_feature(e.tokens)).collect();
        let n = s.len() as f64;
        let s_mean = s.iter().sum::<f64>() / n;
        let s_var: f64 = s.iter().map(|x| (x - s_mean).powi(2)).sum();
        let (mut constant, mut per_length) = (vec![0f32; DIM], vec![0f32; DIM]);
        for d in 0..DIM {
            let r: Vec<f64> = fp32.iter().zip(int8).map(|(f, q)| f64::from(f.vector[d] - q.vector[d])).collect();
            let r_mean = r.iter().sum::<f64>() / n;
            // Paragraphs all of one length leave the slope undetermined: a constant shift.
            let slope = if s_var > 0.0 {
                s.iter().zip(&r).map(|(x, y)| (x - s_mean) * (y - r_mean)).sum::<f64>() / s_var
            } else {
                0.0
            };
            per_length[d] = slope as f32;
            constant[d] = (r_mean - slope * s_mean) as f32;
        }
        Ok(Int8Correction {
            format: FORMAT.into(),
            int8_graph_sha256: graphs.1.into(),
            fp32_graph_sha256: graphs.0.into(),
            provenance,
            constant,
            per_length,
        })
    }

    /// Shifts one int8 embedding and makes it unit length again.
    pub fn apply(&self, embedding: &mut Embedding) {
        let s = length_feature(embedding.tokens) as f32;
        let shifted: Vec<f64> = embedding
            .vector
            .iter()
            .zip(self.constant.iter().zip(&self.per_length))
            .map(|(v, (a, b))| f64::from(v + a + b * s))
            .collect();
        embedding.vector = super::normalise(&shifted);
    }

    /// Reads a correction file and checks it fits `int8_sha256`, the graph it will correct.
    pub fn load(path: &Path, int8_sha256: &str) -> Result<Int8Correction> {
        let bad = |problem: String| Error::Model { path: path.to_path_buf(), problem };
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let correction: Int8Correction = serde_json::from_str(&text).map_err(|e| {
            bad(format!("line {}: {e}; fit it again with `stancemeter train --int8-correction`", e.line()))
        })?;
        if correction.format != FORMAT {
            return Err(bad(format!("has format {:?}, expected {FORMAT:?}", correction.format)));
        }
        for (name, v) in [("constant", &correction.constant), ("per_length", &correction.per_length)] {
            if v.len() != DIM || v.iter().any(|x| !x.is_finite()) {
                return Err(bad(format!("{name} must be {DIM} finite numbers (has {})", v.len())));
            }
        }
        if correction.int8_graph_sha256 != int8_sha256 {
            return Err(bad(format!(
                "was fitted on int8 graph {} but that graph is {int8_sha256} here; run `bash models/fetch` to build \
                 the graphs the models folder lists, or fit it again with `stancemeter train --int8-correction` \
                 (or pass --refine-margin 1 to score every paragraph in fp32)",
                correction.int8_graph_sha256
            )));
        }
        Ok(correction)
    }

    /// Writes the correction as JSON, whole or not at all.
    pub fn save(&self, path: &Path) -> Result<PathBuf> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Model {
            path: path.to_path_buf(),
            problem: format!("cannot serialise the correction: {e}"),
        })?;
        crate::output::write_atomic(path, format!("{text}\n").as_bytes())?;
        Ok(path.to_path_buf())
    }
}

/// Mean Euclidean distance between paired unit vectors (how far int8 is from fp32).
pub fn mean_distance(a: &[Embedding], b: &[Embedding]) -> f64 {
    let total: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.vector.iter().zip(&y.vector).map(|(p, q)| f64::from(p - q).powi(2)).sum::<f64>().sqrt())
        .sum();
    total / a.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, tokens: usize) -> Embedding {
        let raw: Vec<f64> = (0..DIM).map(|d| (((seed * 31 + d as u64 * 17) % 101) as f64 - 50.0) / 50.0).collect();
        Embedding { vector: crate::encode::normalise(&raw), windows: 1, tokens }
    }

    #[test]
    fn path_for_names_the_adapters_correction_and_none_for_the_plain_graph() {
        assert_eq!(path_for("finetuned/default.onnx").as_deref(), Some("heads/default.int8-correction.json"));
        assert_eq!(path_for("minilm/model.onnx"), None);
    }

    #[test]
    fn fit_recovers_a_shift_that_grows_with_length_and_apply_removes_it() {
        let fp32: Vec<Embedding> = (0..40).map(|i| unit(i, 10 + 7 * i as usize)).collect();
        // An "int8" copy drifted by 0.01 + 0.02 * sqrt(n / 100) along the first dimension.
        let int8: Vec<Embedding> = fp32
            .iter()
            .map(|e| {
                let mut v = e.vector.clone();
                v[0] -= (0.01 + 0.02 * length_feature(e.tokens)) as f32;
                Embedding { vector: v, ..e.clone() }
            })
            .collect();
        let c = Int8Correction::fit(&fp32, &int8, ("a", "b"), serde_json::Value::Null).unwrap();
        assert!((c.constant[0] - 0.01).abs() < 1e-5 && (c.per_length[0] - 0.02).abs() < 1e-5, "{c:?}");
        assert!(c.constant[1..].iter().chain(&c.per_length[1..]).all(|x| x.abs() < 1e-6));
        let mut fixed = int8.clone();
        fixed.iter_mut().for_each(|e| c.apply(e));
        assert!(mean_distance(&fixed, &fp32) < 1e-5, "{}", mean_distance(&fixed, &fp32));
        assert!(mean_distance(&int8, &fp32) > 1e-2);
        let norm: f32 = fixed[3].vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn fit_refuses_unpaired_embeddings() {
        let e = vec![unit(1, 5), unit(2, 9)];
        assert!(Int8Correction::fit(&e, &e[..1], ("a", "b"), serde_json::Value::Null).is_err());
    }

    #[test]
    fn load_names_the_file_and_refuses_another_graph_or_a_damaged_vector() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let e = vec![unit(1, 5), unit(2, 90)];
        let mut c = Int8Correction::fit(&e, &e, ("fp", "int"), serde_json::Value::Null).unwrap();
        c.save(&path).unwrap();
        assert!(Int8Correction::load(&path, "int").is_ok());
        let wrong = Int8Correction::load(&path, "other").unwrap_err().to_string();
        assert!(wrong.contains("c.json") && wrong.contains("--int8-correction"), "{wrong}");
        c.per_length.pop();
        c.save(&path).unwrap();
        let short = Int8Correction::load(&path, "int").unwrap_err().to_string();
        assert!(short.contains("per_length must be 384"), "{short}");
        std::fs::write(&path, "{\"format\": 3").unwrap();
        let broken = Int8Correction::load(&path, "int").unwrap_err().to_string();
        assert!(broken.contains("c.json") && broken.contains("line 1"), "{broken}");
    }
}
