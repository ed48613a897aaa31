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

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};

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

/// Reads an adapter's tensors (as fp32).
pub fn load(path: &Path) -> Result<HashMap<String, Tensor>> {
    let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        problem: format!("not a readable adapter ({e}); train one with `stancemeter train --finetune`"),
    })?;
    let mut out = HashMap::new();
    for (name, t) in tensors {
        let t = t.to_dtype(DType::F32).map_err(super::candle("adapter dtype"))?;
        out.insert(name, t);
    }
    Ok(out)
}

/// The base weights with an adapter merged in (as models/convert_onnx.py `--adapter` does).
pub fn merge(
    base: &HashMap<String, Tensor>,
    adapter: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<HashMap<String, Tensor>> {
    let bad = |problem: String| Error::Head { path: path.to_path_buf(), message: problem };
    let mut merged = base.clone();
    for (name, value) in adapter {
        if let Some(linear) = name.strip_suffix(".lora_a") {
            let b = adapter
                .get(&format!("{linear}.lora_b"))
                .ok_or_else(|| bad(format!("has {name} without its lora_b")))?;
            let key = format!("{linear}.weight");
            let w = base.get(&key).ok_or_else(|| bad(format!("adapts {key}, which the base weights lack")))?;
            let delta = b.matmul(value).map_err(super::candle("merging LoRA factors"))?;
            if delta.dims() != w.dims() {
                return Err(bad(format!("{linear}: B A has shape {:?}, the weight {:?}", delta.dims(), w.dims())));
            }
            merged.insert(key, (w + delta).map_err(super::candle("merging LoRA factors"))?);
        } else if name.ends_with(".lora_b") {
            continue;
        } else {
            let w = base.get(name).ok_or_else(|| bad(format!("replaces {name}, which the base weights lack")))?;
            if w.dims() != value.dims() {
                return Err(bad(format!("{name} has shape {:?}, the base {:?}", value.dims(), w.dims())));
            }
            merged.insert(name.clone(), value.clone());
        }
    }
    Ok(merged)
}
