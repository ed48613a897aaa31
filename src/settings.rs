//! Between the command line and the stages: validated settings that find the model files and
//! build the encoder and the scorer. The binary fills these from its flags; a library user (or
//! the Python package) fills them directly. Defaults live here and in the stages, once.

use std::path::PathBuf;

use crate::assets::{Assets, DEFAULT_HEAD, ONNX_MODEL};
use crate::encode::{BackendKind, Encoder, EncoderOptions, OnnxOptions, Precision};
use crate::error::{Error, Result};
use crate::score::{Head, Scorer};

/// How to build an encoder.
#[derive(Debug, Clone, Default)]
pub struct EncoderSettings {
    /// The models folder; `None` searches as [`Assets::locate`] does.
    pub models: Option<PathBuf>,
    /// Which runtime runs the transformer.
    pub backend: BackendKind,
    /// Which graph; `None` takes the command's default.
    pub precision: Option<Precision>,
    /// Encoder worker threads; `None` is every core.
    pub threads: Option<usize>,
    /// Batch shape (never changes a result).
    pub batches: EncoderOptions,
    /// Hash every model file again instead of trusting the stamps of earlier checks.
    pub reverify: bool,
    /// The fp32 graph (in the models folder) of a fine-tuned encoder; `None` is the plain
    /// model, or for scoring the graph the head names.
    pub graph: Option<String>,
}

impl EncoderSettings {
    /// Finds the models folder and reads its manifest.
    pub fn assets(&self) -> Result<Assets> {
        Ok(Assets::locate(self.models.as_deref())?.reverify(self.reverify))
    }

    /// The ONNX Runtime options these settings give, `default` precision when none was set.
    pub(crate) fn onnx(&self, default: Precision) -> OnnxOptions {
        let mut onnx = OnnxOptions { precision: self.precision.unwrap_or(default), ..OnnxOptions::default() };
        if let Some(threads) = self.threads {
            onnx.workers = threads;
        }
        onnx
    }

    /// The fp32 graph these settings load.
    pub fn fp32_graph(&self) -> &str {
        self.graph.as_deref().unwrap_or(ONNX_MODEL)
    }

    /// Loads the encoder, in `default` precision unless the settings name one.
    pub fn encoder(&self, assets: &Assets, default: Precision) -> Result<Encoder> {
        let onnx = self.onnx(default);
        match self.backend {
            BackendKind::Onnx => Encoder::load_graph(assets, self.fp32_graph(), &onnx, self.batches.clone()),
            // (A binary without the feature says how to build it first, from load_rust_bert.)
            BackendKind::RustBert if self.graph.is_some() && cfg!(feature = "rust-bert") => Err(Error::Usage(
                "the rust-bert backend serves the plain encoder only, and this head needs a fine-tuned one: use \
                 --backend onnx, or a head fitted on the plain encoder (--head models/heads/plain.json)"
                    .into(),
            )),
            // rust-bert runs fp32 only; a command's int8 default applies to the onnx backend.
            BackendKind::RustBert if self.precision == Some(Precision::Int8) => {
                Err(Error::Usage("--precision int8 needs the onnx backend; rust-bert runs fp32".into()))
            }
            BackendKind::RustBert => Encoder::load_rust_bert(assets, onnx.workers, self.batches.clone()),
        }
    }
}

/// The default `refine_margin`: with the shipped adapter (LoRA rank 16 on the adjudicated
/// labels), its head and its int8 correction (`heads/default.int8-correction.json`), 0.03 keeps
/// at least 99.2% of labels equal to fp32 on the demo and benchmark corpora and on dev, test and
/// test-unseen, and every article's mean stance within 0.02. 0.02 is the smallest margin that
/// keeps both (the demo at 99.04%), so 0.03 is one step of headroom; about 3% of paragraphs are
/// then encoded twice (BENCHMARKS.md, "A rank-16 adapter on the final labels").
pub const DEFAULT_REFINE_MARGIN: f32 = 0.03;

/// How to build a scorer: an encoder, a head, and the fp32 refinement of near-ties.
#[derive(Debug, Clone)]
pub struct ScorerSettings {
    /// The encoder (int8 unless it names a precision).
    pub encoder: EncoderSettings,
    /// The head file; `None` is the models folder's default head.
    pub head: Option<PathBuf>,
    /// With int8 on ONNX: paragraphs whose two most probable labels are closer than this are
    /// encoded again in fp32 (0 turns it off).
    pub refine_margin: f32,
    /// Distinct paragraphs whose scores are kept for repeats within a run (0 turns it off).
    pub cache: usize,
}

impl Default for ScorerSettings {
    fn default() -> Self {
        ScorerSettings {
            encoder: EncoderSettings::default(),
            head: None,
            refine_margin: DEFAULT_REFINE_MARGIN,
            cache: 65_536,
        }
    }
}

impl ScorerSettings {
    /// The precision `score` and `eval` run in unless told otherwise.
    pub const DEFAULT_PRECISION: Precision = Precision::Int8;

    /// Loads the head, the encoder and (for int8) the fp32 refiner.
    pub fn build(&self) -> Result<(Assets, Scorer)> {
        let assets = self.encoder.assets()?;
        let head_path = self.head.clone().unwrap_or_else(|| assets.path(DEFAULT_HEAD));
        let head = Head::load(&head_path)?;
        // The head names the graph it was fitted on (a fine-tuned one, or the plain model).
        let mut encoder_settings = self.encoder.clone();
        if encoder_settings.graph.is_none() {
            encoder_settings.graph = head.encoder.graph.clone();
        }
        let graph = encoder_settings.fp32_graph().to_string();
        let sha256 = assets.sha256_of(&graph).ok_or_else(|| Error::Model {
            path: assets.path("manifest.json"),
            problem: format!("lists no {graph}, the graph head {} needs", head_path.display()),
        })?;
        let encoder = encoder_settings.encoder(&assets, Self::DEFAULT_PRECISION)?;
        let scorer = Scorer::try_new(encoder, head, &head_path, Some(sha256))?.with_cache(self.cache);
        let onnx = self.encoder.onnx(Self::DEFAULT_PRECISION);
        let refine = self.encoder.backend == BackendKind::Onnx && onnx.precision == Precision::Int8;
        if !refine || self.refine_margin <= 0.0 {
            return Ok((assets, scorer));
        }
        // Near-ties are few: one fp32 session using every core, not one per worker.
        let exact = OnnxOptions { precision: Precision::Fp32, workers: 1, intra_threads: onnx.workers, ..onnx };
        // Checked now, so a missing or damaged fp32 graph is reported before any work is done;
        // the session itself is made when the first near-tie needs it.
        assets.verified(&graph, true)?;
        let (lazy_assets, batches) = (assets.clone(), self.encoder.batches.clone());
        let load = Box::new(move || Encoder::load_graph(&lazy_assets, &graph, &exact, batches.clone()));
        Ok((assets, scorer.with_refiner("onnxruntime", load, self.refine_margin)))
    }
}
