//! Stage 4, encode (optional backend): all-MiniLM-L6-v2 on libtorch through rust-bert's
//! `BertModel`, compiled only with the `rust-bert` cargo feature.
//!
//! The weights come straight from the fp32 `model.safetensors` the ONNX graph is converted
//! from: tch 0.17's `VarStore::load` reads safetensors itself, and the sentence-transformers
//! file names its tensors `embeddings.*` / `encoder.layer.N.*` with no `bert.` prefix, which
//! are exactly the variable paths of a `BertModel` built at the store's root. The pooler is
//! left out (we pool ourselves), so the file's `pooler.*` and `embeddings.position_ids`
//! entries are simply not read.
//!
//! rust-bert's pipelines are not used: they pad without an attention mask, so a paragraph's
//! vector would depend on its batch. Here the model gets our mask, and pooling is the same
//! masked mean as the ONNX backend's.

use std::path::Path;

use rust_bert::bert::{BertConfig, BertEmbeddings, BertModel};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use super::{Backend, WindowBatch, DIM};
use crate::error::{Error, Result};

/// BERT on libtorch (CPU), loaded from a safetensors file and its `config.json`.
pub(crate) struct TorchBackend {
    model: BertModel<BertEmbeddings>,
    // The store owns the weights the model's layers point into; it must live as long.
    _store: VarStore,
}

impl TorchBackend {
    /// Builds the model from `config` and loads every weight it needs from `safetensors`.
    pub(crate) fn try_new(safetensors: &Path, config: &Path) -> Result<TorchBackend> {
        // rust-bert's own Config::from_file panics on a bad file; read it ourselves.
        let text = std::fs::read_to_string(config).map_err(|e| Error::io(config, e))?;
        let bert_config: BertConfig = serde_json::from_str(&text).map_err(|e| Error::Model {
            path: config.to_path_buf(),
            problem: format!("not a BERT config.json ({e})"),
        })?;
        if bert_config.hidden_size != DIM as i64 {
            return Err(Error::Model {
                path: config.to_path_buf(),
                problem: format!("hidden_size is {}, stancemeter needs {DIM}", bert_config.hidden_size),
            });
        }
        let mut store = VarStore::new(Device::Cpu);
        let model = BertModel::<BertEmbeddings>::new_with_optional_pooler(store.root(), &bert_config, false);
        store
            .load(safetensors)
            .map_err(|e| Error::backend(format!("loading weights from {}", safetensors.display()), e))?;
        Ok(TorchBackend { model, _store: store })
    }

    /// Sets libtorch's intra-op threads (process-wide: libtorch has one pool per process).
    pub(crate) fn with_threads(self, threads: usize) -> TorchBackend {
        tch::set_num_threads(i32::try_from(threads.max(1)).unwrap_or(i32::MAX));
        self
    }

    fn hidden_states(&self, batch: &WindowBatch) -> Result<Vec<f32>> {
        let context = || format!("running a batch of {} windows of {} tokens", batch.rows, batch.len);
        let shape = [batch.rows as i64, batch.len as i64];
        let ids = Tensor::from_slice(&batch.ids).f_view(shape).map_err(|e| Error::backend(context(), e))?;
        let mask = Tensor::from_slice(&batch.mask).f_view(shape).map_err(|e| Error::backend(context(), e))?;
        let output =
            tch::no_grad(|| self.model.forward_t(Some(&ids), Some(&mask), None, None, None, None, None, false))
                .map_err(|e| Error::backend(context(), e))?;
        let hidden = output.hidden_state;
        let expected = [batch.rows as i64, batch.len as i64, DIM as i64];
        if hidden.size() != expected || hidden.kind() != Kind::Float {
            return Err(Error::Backend {
                context: format!(
                    "{}: model returned {:?} {:?}, expected {expected:?} Float",
                    context(),
                    hidden.kind(),
                    hidden.size()
                ),
                source: None,
            });
        }
        let flat = hidden.f_contiguous().and_then(|t| t.f_view([-1])).map_err(|e| Error::backend(context(), e))?;
        Vec::<f32>::try_from(&flat).map_err(|e| Error::backend(context(), e))
    }
}

impl Backend for TorchBackend {
    fn mean_pool(&mut self, batch: &WindowBatch) -> Result<Vec<Vec<f32>>> {
        if batch.rows == 0 {
            return Ok(Vec::new());
        }
        let hidden = self.hidden_states(batch)?;
        Ok(super::pool::mean(&hidden, &batch.mask, batch.rows, batch.len))
    }

    fn name(&self) -> &str {
        "rust-bert"
    }
}
