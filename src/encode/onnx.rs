//! The default encoder backend: the project's ONNX export of all-MiniLM-L6-v2 on ONNX Runtime,
//! loaded from the onnxruntime wheel's shared library at run time.
//!
//! Parallelism is across batches, not inside operators: each worker thread owns a
//! single-threaded session and takes the next batch when it is free. The int8 graph has many
//! small operators, and on a small VM the barrier at the end of each multi-threaded operator
//! stalled it by up to half (BENCHMARKS.md); whole batches per thread have no such barrier.
//! A batch's result does not depend on which worker ran it: the sessions are identical and
//! single-threaded.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::session::Session;
use ort::value::TensorRef;

use super::{Backend, Precision, WindowBatch, DIM};
use crate::error::{Error, Result};

/// Options for the ONNX Runtime sessions.
#[derive(Debug, Clone)]
pub struct OnnxOptions {
    /// Which graph runs: the fp32 reference (default) or the int8 one, which the command line
    /// uses for `score` and `eval`.
    pub precision: Precision,
    /// Worker threads, one session each; default: all cores.
    pub workers: usize,
    /// Threads inside each session's operators; default 1 (parallel across batches instead).
    pub intra_threads: usize,
    /// With int8: apply the graph's int8 correction when it has one (default). Off only to fit
    /// a new correction, which must not depend on the old one.
    pub int8_correction: bool,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        OnnxOptions { precision: Precision::Fp32, workers: cores, intra_threads: 1, int8_correction: true }
    }
}

/// ONNX Runtime allows one environment per process; every session shares it.
static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();
/// Held while the environment is built, so two threads never build it at once.
static BUILDING: Mutex<()> = Mutex::new(());

fn environment(library: &Path) -> Result<&'static ort::environment::Environment> {
    let _building = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let context = || format!("loading {}; run `bash models/fetch` to download and verify it", library.display());
    let env = ort::init_from(library)
        .map_err(|e| Error::backend(context(), e))?
        .with_name("stancemeter")
        .build()
        .map_err(|e| Error::runtime(context(), e))?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// ONNX Runtime sessions over the MiniLM graph (`input_ids`, `attention_mask` ->
/// `last_hidden_state`), one per worker.
pub(crate) struct OnnxBackend {
    sessions: Vec<Session>,
    name: &'static str,
}

impl OnnxBackend {
    /// Loads the runtime library (once per process) and one session of the graph per worker.
    /// `weights` is the fp32 safetensors file the graph was made from: its word-embedding
    /// table (47 MB) is read once and shared by every session instead of copied into each.
    pub(crate) fn try_new(library: &Path, model: &Path, weights: &Path, options: &OnnxOptions) -> Result<OnnxBackend> {
        let env = environment(library)?;
        let words = word_table(weights)?;
        let context = || format!("loading {}", model.display());
        // The workers' sessions keep one copy of the packed weights between them.
        let packed = PrepackedWeights::new();
        let sessions = (0..options.workers.max(1))
            .map(|_| {
                Session::builder(env)
                    .map_err(|e| Error::runtime(context(), e))?
                    .with_prepacked_weights(&packed)
                    .map_err(|e| Error::runtime(context(), e))?
                    .with_optimization_level(GraphOptimizationLevel::Level3)
                    .map_err(|e| Error::runtime(context(), e))?
                    .with_initializer(WORD_TABLE, std::sync::Arc::clone(&words))
                    .map_err(|e| Error::runtime(context(), e))?
                    .with_intra_threads(options.intra_threads.max(1))
                    .map_err(|e| Error::runtime(context(), e))?
                    .commit_from_file(model)
                    .map_err(|e| Error::runtime(context(), e))
            })
            .collect::<Result<Vec<_>>>()?;
        let name = match options.precision {
            Precision::Int8 => "onnxruntime-int8",
            Precision::Fp32 => "onnxruntime",
        };
        Ok(OnnxBackend { sessions, name })
    }
}

impl Backend for OnnxBackend {
    fn mean_pool(&mut self, batch: &WindowBatch) -> Result<Vec<Vec<f32>>> {
        run(&mut self.sessions[0], batch)
    }

    fn mean_pool_all(&mut self, batches: &[WindowBatch]) -> Result<Vec<Vec<Vec<f32>>>> {
        if self.sessions.len() == 1 || batches.len() <= 1 {
            return batches.iter().map(|b| run(&mut self.sessions[0], b)).collect();
        }
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<Pooled>>>> = Mutex::new((0..batches.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for session in &mut self.sessions {
                let (next, results) = (&next, &results);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(batch) = batches.get(i) else { break };
                    let pooled = run(session, batch);
                    let failed = pooled.is_err();
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(pooled);
                    if failed {
                        next.store(batches.len(), Ordering::Relaxed);
                    }
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        // The first failure in batch order wins; batches after it may not have run.
        results.into_iter().map_while(|r| r).collect::<Result<Vec<_>>>().and_then(|done| {
            if done.len() == batches.len() {
                Ok(done)
            } else {
                Err(Error::Backend { context: "an encoder worker stopped before its batch".into(), source: None })
            }
        })
    }

    fn name(&self) -> &str {
        self.name
    }
}

/// One batch's mean-pooled vectors, one per window.
type Pooled = Vec<Vec<f32>>;

/// The graph initializer that [`word_table`] replaces, in both graphs.
const WORD_TABLE: &str = "embeddings.word_embeddings.weight";

/// The word-embedding table, read once per process from the safetensors file.
static WORDS: OnceLock<std::sync::Arc<ort::value::DynValue>> = OnceLock::new();

fn word_table(weights: &Path) -> Result<std::sync::Arc<ort::value::DynValue>> {
    if let Some(words) = WORDS.get() {
        return Ok(std::sync::Arc::clone(words));
    }
    let (shape, data) = super::safetensors::read_f32(weights, WORD_TABLE).map_err(|source| Error::Weights {
        path: weights.to_path_buf(),
        context: format!("reading {WORD_TABLE}"),
        source,
    })?;
    let tensor = ort::value::Tensor::from_array((shape, data))
        .map_err(|e| Error::runtime(format!("loading {WORD_TABLE} from {}", weights.display()), e))?;
    Ok(std::sync::Arc::clone(WORDS.get_or_init(|| std::sync::Arc::new(tensor.into_dyn()))))
}

/// One forward pass and masked mean pooling.
fn run(session: &mut Session, batch: &WindowBatch) -> Result<Vec<Vec<f32>>> {
    if batch.rows == 0 {
        return Ok(Vec::new());
    }
    let shape = [batch.rows, batch.len];
    let context = || format!("running a batch of {} windows of {} tokens", batch.rows, batch.len);
    let ids = TensorRef::from_array_view((shape, batch.ids.as_slice())).map_err(|e| Error::runtime(context(), e))?;
    let mask = TensorRef::from_array_view((shape, batch.mask.as_slice())).map_err(|e| Error::runtime(context(), e))?;
    let outputs = session
        .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
        .map_err(|e| Error::runtime(context(), e))?;
    let (out_shape, hidden) =
        outputs["last_hidden_state"].try_extract_tensor::<f32>().map_err(|e| Error::runtime(context(), e))?;
    let expected = [batch.rows as i64, batch.len as i64, DIM as i64];
    if out_shape.as_ref() != expected {
        return Err(Error::Backend {
            context: format!("{}: the model returned shape {out_shape:?}, expected {expected:?}", context()),
            source: None,
        });
    }
    Ok(super::pool::mean(hidden, &batch.mask, batch.rows, batch.len))
}
