//! Stage 4, encode: paragraphs -> tokens -> transformer -> one unit-length embedding each.
//!
//! Long paragraphs are never truncated. A paragraph whose content tokens exceed the window
//! (254 tokens + `[CLS]` + `[SEP]` = 256) is cut into windows that start every 127 tokens, plus a
//! last window that ends at the paragraph's end. Each window is mean-pooled over its tokens
//! (`[CLS]` and `[SEP]` included, as sentence-transformers does), the paragraph vector is the
//! token-count-weighted mean of its window vectors, and it is then L2-normalised. Rows report
//! how many windows a paragraph took.
//!
//! Batching is invisible: windows are sorted by length and padded to the longest in their
//! batch, and the attention mask keeps padding out of every real token's state, so a paragraph
//! gets the same vector whatever else is in its batch.

pub mod correction;
mod onnx;
mod pool;
mod precision;
mod safetensors;
mod tokenize;
#[cfg(feature = "rust-bert")]
mod torch;

pub(crate) use onnx::OnnxBackend;
pub use onnx::OnnxOptions;
pub use precision::{BackendKind, Precision};
pub use safetensors::WeightsError;
pub(crate) use tokenize::WordPieceTokenizer;
#[cfg(feature = "rust-bert")]
use torch::TorchBackend;

use crate::error::Result;

/// Width of the MiniLM embedding.
pub const DIM: usize = 384;

/// A batch of token windows padded to one length.
#[derive(Debug, Clone)]
pub(crate) struct WindowBatch {
    /// Token ids, row-major `[rows, len]`, padded with 0.
    pub(crate) ids: Vec<i64>,
    /// Attention mask `[rows, len]`: 1 for real tokens, 0 for padding.
    pub(crate) mask: Vec<i64>,
    /// Number of windows in the batch.
    pub(crate) rows: usize,
    /// Padded length.
    pub(crate) len: usize,
}

impl WindowBatch {
    /// Pads windows to the longest among them.
    pub(crate) fn pad(windows: &[&[u32]]) -> WindowBatch {
        let len = windows.iter().map(|w| w.len()).max().unwrap_or(0);
        let rows = windows.len();
        let mut ids = vec![0i64; rows * len];
        let mut mask = vec![0i64; rows * len];
        for (r, window) in windows.iter().enumerate() {
            for (c, &id) in window.iter().enumerate() {
                ids[r * len + c] = i64::from(id);
                mask[r * len + c] = 1;
            }
        }
        WindowBatch { ids, mask, rows, len }
    }
}

/// A transformer that turns padded windows into per-window mean-pooled vectors.
///
/// One job: run the network and pool. Tokenizing, windowing and normalising live in
/// [`Encoder`], so every backend produces the same embeddings from the same vectors.
pub(crate) trait Backend: Send {
    /// Mean of the last hidden states over each window's real tokens, one `DIM` vector per row.
    fn mean_pool(&mut self, batch: &WindowBatch) -> Result<Vec<Vec<f32>>>;

    /// [`Backend::mean_pool`] over several batches, results in batch order. Backends with
    /// parallel workers override it; the results must not depend on how batches were shared.
    fn mean_pool_all(&mut self, batches: &[WindowBatch]) -> Result<Vec<Vec<Vec<f32>>>> {
        batches.iter().map(|batch| self.mean_pool(batch)).collect()
    }

    /// A short name for provenance columns.
    fn name(&self) -> &str;
}

/// One paragraph's embedding with how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// Unit-length vector of `DIM` floats.
    pub vector: Vec<f32>,
    /// Number of windows the paragraph took (1 unless it was longer than a window).
    pub windows: usize,
    /// Number of content tokens (without `[CLS]`/`[SEP]`).
    pub tokens: usize,
}

/// Options for [`Encoder`].
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// Most windows per forward pass.
    pub batch_size: usize,
    /// Most tokens per forward pass (rows x padded length); a batch of long windows gets fewer
    /// rows, so the attention tensors (rows x 12 x len x len) stay bounded.
    pub batch_tokens: usize,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        // Small, length-sorted batches waste almost no padding and keep the attention tensors
        // small: faster and flatter in memory than 32. 768 tokens is six news paragraphs of 128
        // tokens, or three full 256-token windows: peak RSS stays under 400 MB even when every
        // window is full length (BENCHMARKS.md).
        EncoderOptions { batch_size: 8, batch_tokens: 768 }
    }
}

impl EncoderOptions {
    /// Sets the batch size (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Sets the token budget per batch (a batch always takes at least one window).
    pub fn with_batch_tokens(mut self, batch_tokens: usize) -> Self {
        self.batch_tokens = batch_tokens.max(1);
        self
    }

    /// Cuts `order` (window indices, longest first) into batches of at most `batch_size` rows
    /// and `batch_tokens` padded tokens; `len` gives a window's length.
    fn plan<'a>(&self, order: &'a [usize], len: impl Fn(usize) -> usize) -> Vec<&'a [usize]> {
        let mut batches = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let width = len(order[start]).max(1); // the longest in the batch: it comes first
            let rows = (self.batch_tokens / width).clamp(1, self.batch_size);
            let end = (start + rows).min(order.len());
            batches.push(&order[start..end]);
            start = end;
        }
        batches
    }
}

/// Tokenizer + backend: paragraphs in, embeddings out, in input order.
pub struct Encoder {
    tokenizer: WordPieceTokenizer,
    backend: Box<dyn Backend>,
    options: EncoderOptions,
    /// For an int8 graph that has one: its drift from fp32, removed after pooling.
    correction: Option<correction::Int8Correction>,
}

impl Encoder {
    /// Puts a tokenizer and a backend together.
    pub(crate) fn new(tokenizer: WordPieceTokenizer, backend: Box<dyn Backend>, options: EncoderOptions) -> Encoder {
        Encoder { tokenizer, backend, options, correction: None }
    }

    /// The default encoder: the fetched MiniLM graph (int8 or fp32) on ONNX Runtime, files
    /// checked against the manifest first so a missing or corrupted download names the command
    /// that fixes it.
    pub fn load(assets: &crate::assets::Assets, onnx: &OnnxOptions, options: EncoderOptions) -> Result<Encoder> {
        Encoder::load_graph(assets, crate::assets::ONNX_MODEL, onnx, options)
    }

    /// [`Encoder::load`] with another fp32 graph (one built from a fine-tuning adapter); with
    /// int8 precision its `.int8.onnx` sibling runs.
    pub fn load_graph(
        assets: &crate::assets::Assets,
        fp32_graph: &str,
        onnx: &OnnxOptions,
        options: EncoderOptions,
    ) -> Result<Encoder> {
        let graph = match onnx.precision {
            Precision::Fp32 => fp32_graph.to_string(),
            Precision::Int8 => crate::assets::int8_graph(fp32_graph),
        };
        // Hashed like every other file: a corrupted runtime library may load and compute
        // nonsense, or die with SIGILL, before any check of its output could say why.
        let library = assets.verified(crate::assets::RUNTIME_LIBRARY, true)?;
        let model = assets.verified(&graph, true)?;
        let weights = assets.verified(crate::assets::SAFETENSORS_MODEL, true)?;
        let tokenizer = WordPieceTokenizer::from_file(&assets.verified(crate::assets::TOKENIZER, true)?)?;
        let backend = OnnxBackend::try_new(&library, &model, &weights, onnx)?;
        let mut encoder = Encoder::new(tokenizer, Box::new(backend), options);
        if onnx.precision == Precision::Int8 && onnx.int8_correction {
            encoder.correction = int8_correction(assets, fp32_graph, &graph)?;
        }
        Ok(encoder)
    }

    /// Whether an int8 correction is applied.
    pub fn corrected(&self) -> bool {
        self.correction.is_some()
    }

    /// The optional encoder: the same MiniLM weights (the fp32 safetensors file the ONNX graph
    /// is made from) on libtorch through rust-bert, with `threads` intra-op threads.
    #[cfg(feature = "rust-bert")]
    pub fn load_rust_bert(assets: &crate::assets::Assets, threads: usize, options: EncoderOptions) -> Result<Encoder> {
        let weights = assets.verified(crate::assets::SAFETENSORS_MODEL, true)?;
        let config = assets.verified(crate::assets::MODEL_CONFIG, true)?;
        let tokenizer = WordPieceTokenizer::from_file(&assets.verified(crate::assets::TOKENIZER, true)?)?;
        let backend = TorchBackend::try_new(&weights, &config)?.with_threads(threads);
        Ok(Encoder::new(tokenizer, Box::new(backend), options))
    }

    /// Without the `rust-bert` feature: an error that says how to build a binary that has it.
    #[cfg(not(feature = "rust-bert"))]
    pub fn load_rust_bert(
        _assets: &crate::assets::Assets,
        _threads: usize,
        _options: EncoderOptions,
    ) -> Result<Encoder> {
        Err(crate::error::Error::Backend {
            context: "this stancemeter was built without the rust-bert backend; run `bash models/fetch-libtorch`, \
                      then rebuild with `cargo build --release --features rust-bert` and run it through \
                      `models/with-libtorch` (README: rust-bert backend)"
                .into(),
            source: None,
        })
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &str {
        self.backend.name()
    }

    /// Embeds paragraphs; the output has one entry per input, in input order.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Embedding>> {
        let windows = self.tokenizer.windows(texts)?;
        let flat: Vec<(usize, &[u32])> = windows
            .iter()
            .enumerate()
            .flat_map(|(p, w)| w.windows.iter().map(move |ids| (p, ids.as_slice())))
            .collect();
        // Longest first, ties in input order: little padding, and a deterministic plan.
        let mut order: Vec<usize> = (0..flat.len()).collect();
        order.sort_by(|&a, &b| flat[b].1.len().cmp(&flat[a].1.len()).then(a.cmp(&b)));

        let plan = self.options.plan(&order, |i| flat[i].1.len());
        let batches: Vec<WindowBatch> =
            plan.iter().map(|chunk| WindowBatch::pad(&chunk.iter().map(|&i| flat[i].1).collect::<Vec<_>>())).collect();
        let pooled = self.backend.mean_pool_all(&batches)?;

        let mut sums = vec![vec![0f64; DIM]; texts.len()];
        let mut weights = vec![0f64; texts.len()];
        for (chunk, pooled) in plan.into_iter().zip(pooled) {
            for (&i, vector) in chunk.iter().zip(pooled) {
                let (paragraph, ids) = flat[i];
                let weight = ids.len() as f64;
                for (s, v) in sums[paragraph].iter_mut().zip(vector) {
                    *s += f64::from(v) * weight;
                }
                weights[paragraph] += weight;
            }
        }
        Ok(sums
            .into_iter()
            .zip(windows)
            .map(|(sum, w)| {
                let mut e = Embedding { vector: normalise(&sum), windows: w.windows.len(), tokens: w.content_tokens };
                if let Some(correction) = &self.correction {
                    correction.apply(&mut e);
                }
                e
            })
            .collect())
    }
}

/// The correction of a fine-tuned int8 graph, if the models folder has one: checked against the
/// int8 graph's manifest checksum, so a correction never runs on a graph it was not fitted on.
fn int8_correction(
    assets: &crate::assets::Assets,
    fp32_graph: &str,
    int8_graph: &str,
) -> Result<Option<correction::Int8Correction>> {
    let Some(relative) = correction::path_for(fp32_graph) else { return Ok(None) };
    let path = assets.path(&relative);
    if !path.exists() {
        return Ok(None);
    }
    let sha = assets.sha256_of(int8_graph).ok_or_else(|| crate::error::Error::Model {
        path: assets.path("manifest.json"),
        problem: format!("lists no {int8_graph}, the graph {relative} corrects"),
    })?;
    correction::Int8Correction::load(&path, sha).map(Some)
}

/// L2-normalises a vector (the weighting cancels out, so sums need no division first).
fn normalise(sum: &[f64]) -> Vec<f32> {
    let norm = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm == 0.0 {
        return vec![0.0; sum.len()];
    }
    sum.iter().map(|x| (x / norm) as f32).collect()
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pad_masks_only_real_tokens() {
        let a: &[u32] = &[101, 7, 102];
        let b: &[u32] = &[101, 102];
        let batch = WindowBatch::pad(&[a, b]);
        assert_eq!((batch.rows, batch.len), (2, 3));
        assert_eq!(batch.ids, vec![101, 7, 102, 101, 102, 0]);
        assert_eq!(batch.mask, vec![1, 1, 1, 1, 1, 0]);
    }

    #[test]
    fn plan_caps_rows_and_tokens() {
        let options = EncoderOptions::default().with_batch_size(4).with_batch_tokens(600);
        let lens = [256, 256, 256, 200, 100, 100, 100, 100, 100, 10];
        let order: Vec<usize> = (0..lens.len()).collect();
        let plan = options.plan(&order, |i| lens[i]);
        let sizes: Vec<usize> = plan.iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![2, 2, 4, 2]);
        assert_eq!(plan.concat(), order);
        let huge = EncoderOptions::default().with_batch_tokens(10);
        assert_eq!(huge.plan(&order, |i| lens[i]).len(), lens.len(), "one window per batch at least");
    }

    proptest! {
        /// Windows in the order `embed` gives them (longest first, ties in input order) with
        /// any lengths and any limits: the plan keeps that order and honours both limits, except
        /// that a window longer than the token budget still gets a batch of its own.
        #[test]
        fn plan_keeps_the_order_and_both_limits(
            lens in prop::collection::vec(0usize..=256, 0..200),
            batch_size in 1usize..64,
            batch_tokens in 1usize..4096,
        ) {
            let mut order: Vec<usize> = (0..lens.len()).collect();
            order.sort_by(|&a, &b| lens[b].cmp(&lens[a]).then(a.cmp(&b)));
            let options = EncoderOptions::default().with_batch_size(batch_size).with_batch_tokens(batch_tokens);
            let plan = options.plan(&order, |i| lens[i]);
            prop_assert_eq!(&plan.concat(), &order);
            for batch in plan {
                let width = batch.iter().map(|&i| lens[i]).max().unwrap_or(0);
                prop_assert!(!batch.is_empty() && batch.len() <= batch_size, "{} rows", batch.len());
                prop_assert!(
                    batch.len() * width <= batch_tokens || batch.len() == 1,
                    "{} rows of {width} tokens over a budget of {batch_tokens}",
                    batch.len()
                );
            }
        }
    }

    #[test]
    fn normalise_gives_unit_length_and_keeps_zero() {
        let v = normalise(&[3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        assert_eq!(normalise(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
