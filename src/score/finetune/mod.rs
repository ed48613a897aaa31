//! Stage 5, score (fine-tuning): trains part of the encoder together with a linear head on
//! labeled paragraphs, on the CPU in fp32, with candle.
//!
//! The objective is the scorer's own path: the same windows (256 tokens, stride 127), the
//! same masked mean pooling and token-weighted window mean, L2 normalisation, then a linear
//! layer and class-weighted cross-entropy. Batches hold paragraphs of similar length; their
//! order is shuffled per epoch from the seed, so a run is repeatable given the seed and the
//! thread count (`RAYON_NUM_THREADS`, candle's matmul threads). After every epoch the dev
//! macro-F1 is measured; training stops when it has not improved for `patience` epochs, and
//! the best epoch's weights are kept.
//!
//! With the top-k method the frozen lower blocks' outputs are computed once and cached.
//! What changed is saved as a small safetensors adapter ([`adapter`]); models/convert_onnx.py
//! `--adapter` merges it into the base weights to build the scoring graphs.

pub mod adapter;
pub mod bert;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};

pub use bert::Trainable;
use bert::{Bert, LAYERS};

use crate::encode::{WordPieceTokenizer, DIM};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Wraps a candle error with what was being done.
pub(crate) fn candle(context: &str) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::backend(format!("fine-tuning: {context}"), e)
}

/// Inputs are scaled by sqrt(384) before the linear head, so a unit-length embedding gives
/// per-feature values near 1 and the head learns at an ordinary rate.
const HEAD_INPUT_SCALE: f64 = 19.595917942265423;

/// How to fine-tune.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FinetuneOptions {
    /// What trains.
    #[serde(skip)]
    pub method: Trainable,
    /// Most passes over the training paragraphs.
    pub epochs: usize,
    /// Epochs without a better dev macro-F1 before stopping.
    pub patience: usize,
    /// AdamW learning rate of the encoder's trainable part.
    pub learning_rate: f64,
    /// AdamW learning rate of the linear head.
    pub head_learning_rate: f64,
    /// AdamW weight decay (encoder part).
    pub weight_decay: f64,
    /// Most paragraphs per batch.
    pub batch_size: usize,
    /// Most padded tokens per batch.
    pub batch_tokens: usize,
    /// Seed for adapter initialisation and batch order.
    pub seed: u64,
}

impl FinetuneOptions {
    /// Defaults that suit `method` (learning rates from a few runs on dev, docs/quality.md).
    pub fn for_method(method: Trainable, seed: u64) -> FinetuneOptions {
        let learning_rate = match method {
            Trainable::Lora { .. } => 1e-3,
            _ => 1e-4,
        };
        FinetuneOptions {
            method,
            epochs: 4,
            patience: 1,
            learning_rate,
            head_learning_rate: 3e-3,
            weight_decay: 0.01,
            batch_size: 16,
            batch_tokens: 2048,
            seed,
        }
    }

    /// The method as written in reports and files.
    pub fn describe(&self) -> String {
        describe(self.method)
    }
}

/// A method's name, as the command line spells it.
pub fn describe(method: Trainable) -> String {
    match method {
        Trainable::Nothing => "frozen".into(),
        Trainable::Lora { rank } => format!("lora-r{rank}"),
        Trainable::Top { k } => format!("top{k}"),
    }
}

/// One labeled paragraph cut into windows.
struct Example {
    windows: Vec<Vec<u32>>,
    label: usize,
}

/// Progress after a batch (and, with `dev_macro_f1`, after an epoch).
#[derive(Debug, Clone)]
pub struct Step {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Most epochs.
    pub epochs: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Mean training loss over this epoch so far.
    pub loss: f64,
    /// Dev macro-F1 at the end of the epoch.
    pub dev_macro_f1: Option<f64>,
}

/// One epoch's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochReport {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Dev macro-F1 of the fine-tuning head.
    pub dev_macro_f1: f64,
    /// Seconds the epoch took (training and dev pass).
    pub seconds: f64,
}

/// A fine-tuned encoder and its training head.
pub struct Finetuned {
    bert: Bert,
    head: (Var, Var),
    /// Every epoch, in order.
    pub epochs: Vec<EpochReport>,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// The options used.
    pub options: FinetuneOptions,
}

/// Reads the base weights (model.safetensors) for candle.
pub fn load_weights(path: &Path) -> Result<HashMap<String, Tensor>> {
    let weights = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| Error::Model { path: path.to_path_buf(), problem: format!("cannot read the weights ({e})") })?;
    // Some exports prefix every name with "bert.".
    Ok(weights.into_iter().map(|(k, v)| (k.strip_prefix("bert.").map(str::to_string).unwrap_or(k), v)).collect())
}

/// Fine-tunes on `train` (text, label index), choosing the epoch by `dev` macro-F1.
pub(crate) fn finetune(
    weights: &HashMap<String, Tensor>,
    tokenizer: &WordPieceTokenizer,
    train: &[(&str, usize)],
    dev: &[(&str, usize)],
    labels: usize,
    options: &FinetuneOptions,
    on_step: &mut dyn FnMut(&Step),
) -> Result<Finetuned> {
    let mut rng = Rng::new(options.seed);
    let mut init = |rows: usize, cols: usize| -> Vec<f32> {
        let std = 1.0 / (cols as f64).sqrt();
        (0..rows * cols).map(|_| (rng.normal() * std) as f32).collect()
    };
    let bert = Bert::new(weights, options.method, &mut init).map_err(candle("building the model"))?;
    let head_w = Var::zeros((labels, DIM), DType::F32, &Device::Cpu).map_err(candle("head"))?;
    let head_b = Var::zeros(labels, DType::F32, &Device::Cpu).map_err(candle("head"))?;
    let mut model =
        Finetuned { bert, head: (head_w, head_b), epochs: Vec::new(), best_epoch: 0, options: options.clone() };

    let train = examples(tokenizer, train)?;
    let dev = examples(tokenizer, dev)?;
    let from = Bert::first_trained(options.method);
    let train_cache = model.cache(&train, from)?;
    let dev_cache = model.cache(&dev, from)?;
    let weights = class_weights(&train, labels);
    let batches = plan(&train, options.batch_size, options.batch_tokens);

    let encoder_vars: Vec<Var> = model.bert.params.iter().map(|p| p.var.clone()).collect();
    let adam = |vars: Vec<Var>, lr: f64, weight_decay: f64| {
        AdamW::new(vars, ParamsAdamW { lr, weight_decay, ..ParamsAdamW::default() }).map_err(candle("optimiser"))
    };
    let mut encoder_opt = adam(encoder_vars, options.learning_rate, options.weight_decay)?;
    let mut head_opt = adam(vec![model.head.0.clone(), model.head.1.clone()], options.head_learning_rate, 0.0)?;

    let mut best: Option<(f64, Vec<Tensor>)> = None;
    let mut order: Vec<usize> = (0..batches.len()).collect();
    for epoch in 1..=options.epochs {
        let started = std::time::Instant::now();
        shuffle(&mut order, &mut rng);
        let mut total = 0.0;
        for (done, &b) in order.iter().enumerate() {
            let batch: Vec<&Example> = batches[b].iter().map(|&i| &train[i]).collect();
            let cached: Option<Vec<&Vec<Tensor>>> =
                train_cache.as_ref().map(|c| batches[b].iter().map(|&i| &c[i]).collect());
            let loss = model.loss(&batch, cached.as_deref(), from, &weights)?;
            let grads = loss.backward().map_err(candle("backward pass"))?;
            encoder_opt.step(&grads).map_err(candle("optimiser step"))?;
            head_opt.step(&grads).map_err(candle("optimiser step"))?;
            total += f64::from(loss.to_scalar::<f32>().map_err(candle("loss"))?);
            let step = Step {
                epoch,
                epochs: options.epochs,
                batch: done + 1,
                batches: batches.len(),
                loss: total / (done + 1) as f64,
                dev_macro_f1: None,
            };
            on_step(&step);
        }
        let f1 = model.macro_f1(&dev, dev_cache.as_deref(), from, labels)?;
        let loss = total / batches.len().max(1) as f64;
        on_step(&Step {
            epoch,
            epochs: options.epochs,
            batch: batches.len(),
            batches: batches.len(),
            loss,
            dev_macro_f1: Some(f1),
        });
        model.epochs.push(EpochReport { epoch, loss, dev_macro_f1: f1, seconds: started.elapsed().as_secs_f64() });
        if best.as_ref().is_none_or(|(b, _)| f1 > *b + 1e-9) {
            best = Some((f1, model.snapshot()?));
            model.best_epoch = epoch;
        } else if epoch >= model.best_epoch + options.patience {
            break;
        }
    }
    if let Some((_, values)) = best {
        model.restore(&values)?;
    }
    Ok(model)
}

impl Finetuned {
    /// The plain encoder (nothing trains), for embedding in memory.
    pub fn frozen(weights: &HashMap<String, Tensor>) -> Result<Finetuned> {
        let bert =
            Bert::new(weights, Trainable::Nothing, &mut |_, _| Vec::new()).map_err(candle("building the model"))?;
        let zeros = |shape: &[usize]| Var::zeros(shape, DType::F32, &Device::Cpu).map_err(candle("head"));
        let head = (zeros(&[1, DIM])?, zeros(&[1])?);
        let options = FinetuneOptions::for_method(Trainable::Nothing, 0);
        Ok(Finetuned { bert, head, epochs: Vec::new(), best_epoch: 0, options })
    }

    /// Every trainable tensor's value (the encoder's, then the head's).
    fn vars(&self) -> Vec<&Var> {
        self.bert.params.iter().map(|p| &p.var).chain([&self.head.0, &self.head.1]).collect()
    }

    fn snapshot(&self) -> Result<Vec<Tensor>> {
        self.vars().iter().map(|v| v.as_tensor().copy().map_err(candle("snapshot"))).collect()
    }

    fn restore(&self, values: &[Tensor]) -> Result<()> {
        for (var, value) in self.vars().into_iter().zip(values) {
            var.set(value).map_err(candle("restoring the best epoch"))?;
        }
        Ok(())
    }

    /// The encoder's trainable tensors by adapter name.
    pub fn params(&self) -> Vec<(&str, &Tensor)> {
        self.bert.params.iter().map(|p| (p.name.as_str(), p.var.as_tensor())).collect()
    }

    /// Lower blocks' outputs per example window, when the method leaves them frozen.
    fn cache(&self, examples: &[Example], from: usize) -> Result<Option<Vec<Vec<Tensor>>>> {
        if from == 0 {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(examples.len());
        for chunk in examples.chunks(16) {
            let windows: Vec<&[u32]> = chunk.iter().flat_map(|e| e.windows.iter().map(Vec::as_slice)).collect();
            let (ids, mask) = padded(&windows).map_err(candle("cache"))?;
            let hidden = self.bert.embed(&ids).and_then(|h| self.bert.blocks(&h, &mask, 0, from));
            let hidden = hidden.map_err(candle("caching lower blocks"))?;
            let mut row = 0;
            for e in chunk {
                let mut kept = Vec::new();
                for w in &e.windows {
                    kept.push(hidden.get(row).and_then(|h| h.narrow(0, 0, w.len())).map_err(candle("cache"))?);
                    row += 1;
                }
                out.push(kept);
            }
        }
        Ok(Some(out))
    }

    /// Unit-length pooled embeddings `[paragraphs, 384]` of a batch.
    fn pooled(&self, batch: &[&Example], cached: Option<&[&Vec<Tensor>]>, from: usize) -> candle_core::Result<Tensor> {
        let windows: Vec<&[u32]> = batch.iter().flat_map(|e| e.windows.iter().map(Vec::as_slice)).collect();
        let (ids, mask) = padded(&windows)?;
        let len = ids.dim(1)?;
        let hidden = match cached {
            None => self.bert.embed(&ids)?,
            Some(c) => {
                let rows: Vec<Tensor> = c
                    .iter()
                    .flat_map(|w| w.iter())
                    .map(|t| t.pad_with_zeros(0, 0, len - t.dim(0).unwrap_or(len)))
                    .collect::<candle_core::Result<_>>()?;
                Tensor::stack(&rows, 0)?
            }
        };
        let hidden = self.bert.blocks(&hidden, &mask, from, LAYERS)?;
        let sums = hidden.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?; // [windows, 384]
        let counts = mask.sum_keepdim(1)?; // [windows, 1]
        let mut assign = vec![0f32; batch.len() * windows.len()];
        let mut w = 0;
        for (p, e) in batch.iter().enumerate() {
            for _ in &e.windows {
                assign[p * windows.len() + w] = 1.0;
                w += 1;
            }
        }
        let assign = Tensor::from_vec(assign, (batch.len(), windows.len()), &Device::Cpu)?;
        let mean = assign.matmul(&sums)?.broadcast_div(&assign.matmul(&counts)?)?;
        mean.broadcast_div(&mean.sqr()?.sum_keepdim(1)?.sqrt()?)
    }

    fn logits(&self, pooled: &Tensor) -> candle_core::Result<Tensor> {
        (pooled * HEAD_INPUT_SCALE)?.matmul(&self.head.0.as_tensor().t()?)?.broadcast_add(self.head.1.as_tensor())
    }

    fn loss(
        &self,
        batch: &[&Example],
        cached: Option<&[&Vec<Tensor>]>,
        from: usize,
        weights: &[f32],
    ) -> Result<Tensor> {
        let run = || -> candle_core::Result<Tensor> {
            let logits = self.logits(&self.pooled(batch, cached, from)?)?;
            let y: Vec<u32> = batch.iter().map(|e| e.label as u32).collect();
            let w: Vec<f32> = batch.iter().map(|e| weights[e.label]).collect();
            let y = Tensor::from_vec(y, (batch.len(), 1), &Device::Cpu)?;
            let w = Tensor::from_vec(w, batch.len(), &Device::Cpu)?;
            let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?.gather(&y, 1)?.squeeze(1)?;
            (logp * &w)?.sum_all()?.neg()? / f64::from(w.sum_all()?.to_scalar::<f32>()?)
        };
        run().map_err(candle("loss"))
    }

    /// Dev macro-F1 of the training head.
    fn macro_f1(&self, examples: &[Example], cache: Option<&[Vec<Tensor>]>, from: usize, labels: usize) -> Result<f64> {
        let mut probs = Vec::new();
        for (start, chunk) in (0..examples.len()).step_by(16).map(|s| (s, &examples[s..(s + 16).min(examples.len())])) {
            let batch: Vec<&Example> = chunk.iter().collect();
            let cached: Option<Vec<&Vec<Tensor>>> = cache.map(|c| c[start..start + chunk.len()].iter().collect());
            let logits = self.pooled(&batch, cached.as_deref(), from).and_then(|p| self.logits(&p.detach()));
            let rows = logits.and_then(|l| candle_nn::ops::softmax(&l, D::Minus1)?.to_vec2::<f32>());
            probs.extend(rows.map_err(candle("dev pass"))?);
        }
        let names: Vec<String> = (0..labels).map(|i| i.to_string()).collect();
        let truth: Vec<usize> = examples.iter().map(|e| e.label).collect();
        let probs = ndarray::Array2::from_shape_fn((probs.len(), labels), |(i, j)| probs[i][j]);
        Ok(crate::score::metrics::evaluate(&names, &truth, probs.view()).macro_f1)
    }

    /// Unit-length embeddings of paragraphs from the fine-tuned encoder, in input order (for
    /// checking a built graph against the model in memory). Batching changes nothing.
    #[cfg(test)]
    pub(crate) fn embed(&self, tokenizer: &WordPieceTokenizer, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let labeled: Vec<(&str, usize)> = texts.iter().map(|t| (*t, 0)).collect();
        let examples = examples(tokenizer, &labeled)?;
        let mut out = Vec::with_capacity(texts.len());
        for chunk in examples.chunks(8) {
            let batch: Vec<&Example> = chunk.iter().collect();
            out.extend(self.pooled(&batch, None, 0).and_then(|p| p.to_vec2::<f32>()).map_err(candle("embedding"))?);
        }
        Ok(out)
    }
}

fn examples(tokenizer: &WordPieceTokenizer, labeled: &[(&str, usize)]) -> Result<Vec<Example>> {
    let texts: Vec<&str> = labeled.iter().map(|(t, _)| *t).collect();
    let windows = tokenizer.windows(&texts)?;
    Ok(windows.into_iter().zip(labeled).map(|(w, &(_, label))| Example { windows: w.windows, label }).collect())
}

/// `[rows, len]` ids (u32) and mask (f32) of windows padded to the longest.
fn padded(windows: &[&[u32]]) -> candle_core::Result<(Tensor, Tensor)> {
    let len = windows.iter().map(|w| w.len()).max().unwrap_or(1);
    let mut ids = vec![0u32; windows.len() * len];
    let mut mask = vec![0f32; windows.len() * len];
    for (r, w) in windows.iter().enumerate() {
        ids[r * len..r * len + w.len()].copy_from_slice(w);
        mask[r * len..r * len + w.len()].iter_mut().for_each(|m| *m = 1.0);
    }
    let shape = (windows.len(), len);
    Ok((Tensor::from_vec(ids, shape, &Device::Cpu)?, Tensor::from_vec(mask, shape, &Device::Cpu)?))
}

/// Inverse class frequency, normalised so a balanced set weighs 1 per paragraph.
fn class_weights(examples: &[Example], labels: usize) -> Vec<f32> {
    let mut counts = vec![0usize; labels];
    examples.iter().for_each(|e| counts[e.label] += 1);
    counts.iter().map(|&c| examples.len() as f32 / (labels as f32 * c.max(1) as f32)).collect()
}

/// Batches of paragraphs of similar length (longest window first, ties in input order), at
/// most `size` paragraphs and `tokens` padded tokens each.
fn plan(examples: &[Example], size: usize, tokens: usize) -> Vec<Vec<usize>> {
    let width = |e: &Example| e.windows.iter().map(Vec::len).max().unwrap_or(0);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by(|&a, &b| width(&examples[b]).cmp(&width(&examples[a])).then(a.cmp(&b)));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut rows = 0;
    for i in order {
        let n = examples[i].windows.len();
        let longest = current.first().map_or(width(&examples[i]), |&f| width(&examples[f]));
        if !current.is_empty() && (current.len() >= size || (rows + n) * longest > tokens) {
            batches.push(std::mem::take(&mut current));
            rows = 0;
        }
        current.push(i);
        rows += n;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn shuffle(order: &mut [usize], rng: &mut Rng) {
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
}
