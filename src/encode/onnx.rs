//! The default encoder backend: the project's ONNX export of all-MiniLM-L6-v2 on ONNX Runtime,
//! loaded from the onnxruntime wheel's shared library at run time.

use std::path::Path;
use std::sync::OnceLock;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use super::{Backend, WindowBatch, DIM};
use crate::error::{Error, Result};

/// Options for the ONNX Runtime session.
#[derive(Debug, Clone)]
pub struct OnnxOptions {
    /// Threads inside one operator; default: all cores.
    pub intra_threads: usize,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        OnnxOptions { intra_threads: cores }
    }
}

/// ONNX Runtime allows one environment per process; every session shares it.
static ENVIRONMENT: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();

fn environment(library: &Path) -> Result<&'static ort::environment::Environment> {
    let env = ENVIRONMENT.get_or_init(|| {
        let builder = ort::init_from(library).map_err(|e| e.to_string())?;
        builder.with_name("stancemeter").build().map_err(|e| e.to_string())
    });
    env.as_ref().map_err(|message| Error::Model {
        path: library.to_path_buf(),
        problem: format!("cannot load ONNX Runtime ({message})"),
    })
}

/// An ONNX Runtime session over the MiniLM graph (`input_ids`, `attention_mask` ->
/// `last_hidden_state`).
pub struct OnnxBackend {
    session: Session,
}

impl OnnxBackend {
    /// Loads the runtime library (once per process) and the model graph.
    pub fn try_new(library: &Path, model: &Path, options: &OnnxOptions) -> Result<OnnxBackend> {
        let env = environment(library)?;
        let context = || format!("loading {}", model.display());
        let session = Session::builder(env)
            .map_err(|e| Error::runtime(context(), e))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| Error::runtime(context(), e))?
            .with_intra_threads(options.intra_threads)
            .map_err(|e| Error::runtime(context(), e))?
            .commit_from_file(model)
            .map_err(|e| Error::runtime(context(), e))?;
        Ok(OnnxBackend { session })
    }
}

impl Backend for OnnxBackend {
    fn mean_pool(&mut self, batch: &WindowBatch) -> Result<Vec<Vec<f32>>> {
        if batch.rows == 0 {
            return Ok(Vec::new());
        }
        let shape = [batch.rows, batch.len];
        let context = || format!("running a batch of {} windows of {} tokens", batch.rows, batch.len);
        let ids =
            TensorRef::from_array_view((shape, batch.ids.as_slice())).map_err(|e| Error::runtime(context(), e))?;
        let mask =
            TensorRef::from_array_view((shape, batch.mask.as_slice())).map_err(|e| Error::runtime(context(), e))?;
        let outputs = self
            .session
            .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
            .map_err(|e| Error::runtime(context(), e))?;
        let (out_shape, hidden) =
            outputs["last_hidden_state"].try_extract_tensor::<f32>().map_err(|e| Error::runtime(context(), e))?;
        let expected = [batch.rows as i64, batch.len as i64, DIM as i64];
        if out_shape.as_ref() != expected {
            return Err(Error::Tokenizer {
                context: context(),
                message: format!("model returned shape {out_shape:?}, expected {expected:?}"),
            });
        }
        Ok(pool(hidden, &batch.mask, batch.rows, batch.len))
    }

    fn name(&self) -> &str {
        "onnxruntime"
    }
}

/// Masked mean over tokens of `[rows, len, DIM]` hidden states.
pub(crate) fn pool(hidden: &[f32], mask: &[i64], rows: usize, len: usize) -> Vec<Vec<f32>> {
    (0..rows)
        .map(|r| {
            let mut sum = vec![0f32; DIM];
            let mut count = 0f32;
            for t in 0..len {
                if mask[r * len + t] == 0 {
                    continue;
                }
                count += 1.0;
                let row = &hidden[(r * len + t) * DIM..(r * len + t + 1) * DIM];
                sum.iter_mut().zip(row).for_each(|(s, h)| *s += h);
            }
            let count = count.max(1.0);
            sum.iter_mut().for_each(|s| *s /= count);
            sum
        })
        .collect()
}
