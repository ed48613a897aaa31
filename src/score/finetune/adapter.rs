//! Stage 5, score (fine-tuning): the adapter file, what fine-tuning changed, as safetensors.
//!
//! Two kinds of tensor, by name:
//! - `<linear>.lora_a` `[rank, in]` and `<linear>.lora_b` `[out, rank]`: the weight becomes
//!   `W + B A` (any LoRA scale is already folded into B);
//! - any other name (`encoder.layer.5.output.dense.weight`, ...): replaces the base tensor of
//!   that name, which must exist with the same shape.
//!
//! Tensors are written in name order with a fixed header, so the same values give the same
//! bytes. `__metadata__` holds the format, the method and the base weights' sha256.
//! models/convert_onnx.py `--adapter` reads the same file.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::Tensor;

use crate::error::{Error, Result};

/// The adapter format this build writes.
pub const FORMAT: &str = "stancemeter-adapter/1";

/// Storage precision of an adapter's tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// 32-bit floats.
    F32,
    /// 16-bit floats (half the size; the merged graph is built from these rounded values).
    F16,
}

/// Writes `tensors` (name, value) with `metadata` atomically; returns the file's sha256.
pub fn save(
    path: &Path,
    tensors: &[(&str, &Tensor)],
    storage: Storage,
    metadata: &BTreeMap<String, String>,
) -> Result<String> {
    let mut sorted: Vec<&(&str, &Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut header = serde_json::Map::new();
    let mut meta = metadata.clone();
    meta.insert("format".into(), FORMAT.into());
    header.insert("__metadata__".into(), serde_json::to_value(&meta).map_err(|source| json(path, source))?);
    let mut data = Vec::new();
    for (name, tensor) in sorted {
        let values: Vec<f32> =
            tensor.flatten_all().and_then(|t| t.to_vec1()).map_err(super::candle("reading a trained tensor"))?;
        let start = data.len();
        let dtype = match storage {
            Storage::F32 => {
                values.iter().for_each(|v| data.extend_from_slice(&v.to_le_bytes()));
                "F32"
            }
            Storage::F16 => {
                values.iter().for_each(|v| data.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes()));
                "F16"
            }
        };
        let entry = serde_json::json!({"dtype": dtype, "shape": tensor.dims(), "data_offsets": [start, data.len()]});
        header.insert((*name).to_string(), entry);
    }
    let mut header = serde_json::to_vec(&header).map_err(|source| json(path, source))?;
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&data);
    crate::output::write_atomic(path, &bytes)?;
    Ok(crate::assets::sha256_bytes(&bytes))
}

fn json(path: &Path, source: serde_json::Error) -> Error {
    Error::Json { path: path.to_path_buf(), source }
}
