//! Stage 5, score: stance heads, a small network over embeddings, saved as JSON with its
//! provenance.
//!
//! Label names and their order come from the head file; the three a head must have come from
//! [`super::stance::LABELS`].

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::stance::{StanceIndex, LABELS};
use crate::error::{Error, Result};

/// The head file format this build reads and writes.
pub(crate) const FORMAT: &str = "stancemeter-head/1";

/// Activation after a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Activation {
    /// Identity (the last layer: logits).
    None,
    /// max(0, x).
    Relu,
}

/// One dense layer: `y = act(x W^T + b)`. In the file, weights are a list of rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Layer {
    /// `[out, in]` weights.
    #[serde(with = "rows")]
    pub(crate) weights: Array2<f32>,
    /// `[out]` biases.
    #[serde(with = "vector")]
    pub(crate) bias: Array1<f32>,
    /// Activation applied to the output.
    pub(crate) activation: Activation,
}

/// A vector as a JSON list.
mod vector {
    use ndarray::Array1;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Array1<f32>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Array1<f32>, D::Error> {
        Vec::<f32>::deserialize(d).map(Array1::from)
    }
}

/// A matrix as a JSON list of equal-length rows, the head file's layout.
mod rows {
    use ndarray::Array2;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(m: &Array2<f32>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.rows().into_iter().map(|r| r.to_vec()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Array2<f32>, D::Error> {
        let rows = Vec::<Vec<f32>>::deserialize(d)?;
        let width = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != width) {
            return Err(D::Error::custom("weight rows have different lengths"));
        }
        Array2::from_shape_vec((rows.len(), width), rows.concat()).map_err(D::Error::custom)
    }
}

/// Which encoder a head was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderId {
    /// Model name.
    pub name: String,
    /// sha256 of the ONNX graph the embeddings came from.
    pub onnx_sha256: String,
    /// The fp32 graph (in the models folder) the head runs on; absent: the plain model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<String>,
    /// The fine-tuning adapter the graph is built from, with the base weights it adapts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterId>,
}

/// A fine-tuning adapter file and the base weights it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterId {
    /// The adapter file, relative to the models folder.
    pub file: String,
    /// Its sha256.
    pub sha256: String,
    /// sha256 of the base model.safetensors.
    pub base_sha256: String,
    /// sha256 of the base fp32 graph (minilm/model.onnx).
    pub base_onnx_sha256: String,
}

/// Quality of a head measured on data it was not fitted on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HeadMetrics {
    /// Samples.
    pub n: usize,
    /// Accuracy.
    pub accuracy: f64,
    /// Macro-averaged F1.
    pub macro_f1: f64,
    /// Multi-class Brier score.
    pub brier: f64,
    /// Expected calibration error (15 bins).
    pub ece: f64,
}

/// A trained stance head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Head {
    /// The file format, `stancemeter-head/1` for this build.
    pub format: String,
    /// Short id (hash of the weights) for provenance columns.
    pub id: String,
    /// Label names in output order.
    pub labels: Vec<String>,
    /// The encoder the head expects.
    pub encoder: EncoderId,
    /// Layers, input first.
    pub(crate) layers: Vec<Layer>,
    /// Softmax temperature fitted on dev data (calibration).
    pub temperature: f32,
    /// How the head was trained (data checksums, method, hyper-parameters).
    pub training: serde_json::Value,
    /// Metrics on data the head was not fitted on (see `training.validation` for which).
    pub validation: HeadMetrics,
}

impl Head {
    /// Reads and checks a head file.
    pub fn load(path: &Path) -> Result<Head> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Head::parse(&text, path)
    }

    /// Parses and checks a head file's text; `path` names it in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Head> {
        let bad = |message: String| Error::Head { path: path.to_path_buf(), message };
        let head: Head = serde_json::from_str(text).map_err(|e| bad(format!("not a stance head ({e})")))?;
        if head.format != FORMAT {
            return Err(bad(format!("format {:?} is not {FORMAT:?}; retrain with `stancemeter train`", head.format)));
        }
        head.check().map_err(bad)?;
        let computed = head.computed_id()?;
        if computed != head.id {
            return Err(bad(format!(
                "its id {:?} does not match its weights (they give {computed}): the file was changed after training; \
                 retrain it with `stancemeter train`, or restore the file `train` wrote",
                head.id
            )));
        }
        Ok(head)
    }

    /// Writes the head as pretty JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json =
            serde_json::to_string_pretty(self).map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
        crate::output::write_atomic(path, json.as_bytes())
    }

    fn check(&self) -> std::result::Result<(), String> {
        let mut width = None;
        for (i, layer) in self.layers.iter().enumerate() {
            let (outputs, inputs) = layer.weights.dim();
            if outputs != layer.bias.len() || inputs == 0 {
                return Err(format!("layer {i} has inconsistent shapes"));
            }
            if width.is_some_and(|w| w != inputs) {
                return Err(format!("layer {i} expects {inputs} inputs but the previous layer gives {width:?}"));
            }
            if layer.weights.iter().chain(&layer.bias).any(|v| !v.is_finite()) {
                return Err(format!("layer {i} holds a weight that is not a finite number"));
            }
            width = Some(outputs);
        }
        if width != Some(self.labels.len()) || self.labels.is_empty() {
            return Err(format!("last layer gives {width:?} outputs for {} labels", self.labels.len()));
        }
        StanceIndex::from_labels(&self.labels)
            .map_err(|missing| format!("labels {:?} lack {missing:?} (a head needs {LABELS:?})", self.labels))?;
        if !self.temperature.is_finite() || self.temperature <= 0.0 {
            return Err("temperature must be a positive number".into());
        }
        Ok(())
    }

    /// The id the layers give: `head-` and the first 12 hex digits of the sha256 of the layers
    /// as compact JSON (what `train` writes), so an edited head no longer matches its id.
    pub fn computed_id(&self) -> Result<String> {
        let layers = serde_json::to_string(&self.layers)
            .map_err(|source| Error::Json { path: "(head layers)".into(), source })?;
        Ok(format!("head-{}", &crate::assets::sha256_bytes(layers.as_bytes())[..12]))
    }

    /// Width of the input features.
    pub fn input_width(&self) -> usize {
        self.layers.first().map_or(0, |l| l.weights.ncols())
    }

    /// Where the three stances sit in this head's output.
    pub fn stance_index(&self) -> std::result::Result<StanceIndex, &'static str> {
        StanceIndex::from_labels(&self.labels)
    }

    /// Calibrated probabilities for rows of features, `[n, labels]`.
    pub fn probabilities(&self, features: ArrayView2<f32>) -> Array2<f32> {
        let mut logits = self.logits(features);
        logits.mapv_inplace(|x| x / self.temperature);
        softmax_rows(&mut logits);
        logits
    }

    /// Uncalibrated logits, `[n, labels]`.
    pub fn logits(&self, features: ArrayView2<f32>) -> Array2<f32> {
        forward(&self.layers, features)
    }
}

/// Runs features through dense layers: the logits of a head.
pub(crate) fn forward(layers: &[Layer], features: ArrayView2<f32>) -> Array2<f32> {
    let mut x = features.to_owned();
    for layer in layers {
        x = x.dot(&layer.weights.t()) + &layer.bias;
        if layer.activation == Activation::Relu {
            x.mapv_inplace(|v| v.max(0.0));
        }
    }
    x
}

/// In-place row-wise softmax, stable for large logits.
pub(crate) fn softmax_rows(x: &mut Array2<f32>) {
    for mut row in x.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn head(temperature: f32) -> Head {
        Head {
            format: FORMAT.into(),
            id: "t".into(),
            labels: LABELS.map(String::from).to_vec(),
            encoder: EncoderId { name: "x".into(), onnx_sha256: "y".into(), graph: None, adapter: None },
            layers: vec![Layer {
                weights: array![[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]],
                bias: array![0.0, 0.5, 0.0],
                activation: Activation::None,
            }],
            temperature,
            training: serde_json::Value::Null,
            validation: HeadMetrics::default(),
        }
    }

    #[test]
    fn probabilities_sum_to_one_and_temperature_flattens() {
        let x = array![[2.0f32, 0.0], [0.0, 3.0]];
        let sharp = head(1.0).probabilities(x.view());
        let flat = head(4.0).probabilities(x.view());
        for row in sharp.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
        }
        assert!(sharp[[0, 0]] > flat[[0, 0]] && flat[[0, 0]] > 1.0 / 3.0);
        assert!(sharp[[1, 2]] > 0.8);
    }

    #[test]
    fn check_refuses_heads_without_the_three_stances() {
        let mut h = head(1.0);
        assert!(h.check().is_ok());
        h.labels[0] = "positive".into();
        assert!(h.check().unwrap_err().contains("optimistic"));
        let mut h = head(1.0);
        h.layers[0].bias = array![0.0, 0.5];
        assert!(h.check().unwrap_err().contains("inconsistent"));
    }
}
