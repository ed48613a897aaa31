//! Stage 5, score (fine-tuning): all-MiniLM-L6-v2 written out in candle, so gradients can
//! reach the encoder. The same arithmetic as models/convert_onnx.py builds into the ONNX graph
//! (exact erf GELU, LayerNorm eps 1e-12, an additive f32::MIN mask on the keys), so what
//! trains here is what the graph built from the saved adapter computes.
//!
//! What trains is chosen per linear layer: frozen, frozen with a low-rank adapter beside it
//! (LoRA: `y = x W^T + b + x A^T B^T`), or wholly trainable (the top-k-layers method, where
//! LayerNorms of those layers train too).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, D};

/// Layers, width and heads of the model (checked against the weights on load).
pub const LAYERS: usize = 6;
const HIDDEN: usize = 384;
const HEADS: usize = 12;
const HEAD_DIM: usize = HIDDEN / HEADS;
const LN_EPS: f64 = 1e-12;

/// The linear layers of one transformer block, by their names in the weights file.
pub const LINEARS: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// A trainable tensor and the name it is saved under.
pub struct Param {
    /// Name in the adapter file.
    pub name: String,
    /// The variable the optimiser updates.
    pub var: Var,
}

/// A linear layer, frozen or not, with an optional low-rank adapter.
struct Linear {
    weight: Tensor,
    bias: Tensor,
    lora: Option<(Tensor, Tensor)>,
}

impl Linear {
    /// `[rows, len, in]` -> `[rows, len, out]`, as one 2-D matmul (a batched one would run a
    /// small gemm per row).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, len, inp) = x.dims3()?;
        let flat = x.reshape((rows * len, inp))?;
        let mut y = flat.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?;
        if let Some((a, b)) = &self.lora {
            y = (y + flat.matmul(&a.t()?)?.matmul(&b.t()?)?)?;
        }
        y.reshape((rows, len, ()))
    }
}

struct LayerNorm {
    gamma: Tensor,
    beta: Tensor,
}

impl LayerNorm {
    /// Written with differentiable tensor ops (candle's fused layer norm has no backward pass).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred.broadcast_div(&(var + LN_EPS)?.sqrt()?)?.broadcast_mul(&self.gamma)?.broadcast_add(&self.beta)
    }
}

struct Block {
    linears: Vec<Linear>,
    attention_ln: LayerNorm,
    output_ln: LayerNorm,
}

impl Block {
    fn forward(&self, x: &Tensor, mask_bias: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, len, _) = x.dims3()?;
        let heads = |t: Tensor| t.reshape((rows, len, HEADS, HEAD_DIM))?.transpose(1, 2)?.contiguous();
        let q = heads(self.linears[0].forward(x)?)?;
        let k = heads(self.linears[1].forward(x)?)?;
        let v = heads(self.linears[2].forward(x)?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (HEAD_DIM as f64).sqrt())?.broadcast_add(mask_bias)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((rows, len, HIDDEN))?;
        let x1 = self.attention_ln.forward(&(self.linears[3].forward(&context)? + x)?)?;
        let inner = self.linears[4].forward(&x1)?.gelu_erf()?;
        self.output_ln.forward(&(self.linears[5].forward(&inner)? + x1)?)
    }
}

/// How the encoder trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trainable {
    /// Nothing (plain forward passes).
    Nothing,
    /// Rank-`rank` adapters on every linear layer of every block.
    Lora {
        /// Rank of the adapters.
        rank: usize,
    },
    /// The top `k` blocks entirely (linear layers and LayerNorms).
    Top {
        /// Number of blocks.
        k: usize,
    },
}

/// The MiniLM encoder, with some of it trainable.
pub struct Bert {
    words: Tensor,
    positions: Tensor,
    token_type: Tensor,
    embeddings_ln: LayerNorm,
    blocks: Vec<Block>,
    /// What the optimiser trains, in a fixed order.
    pub params: Vec<Param>,
}

/// Reads a tensor from the weights, as fp32.
fn take(w: &HashMap<String, Tensor>, name: &str) -> candle_core::Result<Tensor> {
    w.get(name)
        .ok_or_else(|| candle_core::Error::Msg(format!("the weights have no tensor {name}")))?
        .to_dtype(DType::F32)
}

impl Bert {
    /// Builds the model from the base weights (names as in model.safetensors), with the given
    /// part trainable; adapter matrices start from `init` (A random, B zero, so the start is
    /// the plain model).
    pub fn new(
        w: &HashMap<String, Tensor>,
        trainable: Trainable,
        init: &mut dyn FnMut(usize, usize) -> Vec<f32>,
    ) -> candle_core::Result<Bert> {
        let ln = |prefix: &str| -> candle_core::Result<LayerNorm> {
            Ok(LayerNorm { gamma: take(w, &format!("{prefix}.weight"))?, beta: take(w, &format!("{prefix}.bias"))? })
        };
        let mut params = Vec::new();
        let mut blocks = Vec::new();
        for layer in 0..LAYERS {
            let p = format!("encoder.layer.{layer}");
            let whole = matches!(trainable, Trainable::Top { k } if layer + k >= LAYERS);
            let mut var = |name: String, t: Tensor| -> candle_core::Result<Tensor> {
                let var = Var::from_tensor(&t)?;
                let tensor = var.as_tensor().clone();
                params.push(Param { name, var });
                Ok(tensor)
            };
            let mut linears = Vec::new();
            for linear in LINEARS {
                let name = format!("{p}.{linear}");
                let (mut weight, mut bias) = (take(w, &format!("{name}.weight"))?, take(w, &format!("{name}.bias"))?);
                let mut lora = None;
                if whole {
                    weight = var(format!("{name}.weight"), weight)?;
                    bias = var(format!("{name}.bias"), bias)?;
                } else if let Trainable::Lora { rank } = trainable {
                    let (out, inp) = weight.dims2()?;
                    let a = Tensor::from_vec(init(rank, inp), (rank, inp), &Device::Cpu)?;
                    let a = var(format!("{name}.lora_a"), a)?;
                    let b = var(format!("{name}.lora_b"), Tensor::zeros((out, rank), DType::F32, &Device::Cpu)?)?;
                    lora = Some((a, b));
                }
                linears.push(Linear { weight, bias, lora });
            }
            let mut norm = |name: &str| -> candle_core::Result<LayerNorm> {
                let plain = ln(&format!("{p}.{name}"))?;
                if !whole {
                    return Ok(plain);
                }
                let gamma = var(format!("{p}.{name}.weight"), plain.gamma)?;
                let beta = var(format!("{p}.{name}.bias"), plain.beta)?;
                Ok(LayerNorm { gamma, beta })
            };
            let attention_ln = norm("attention.output.LayerNorm")?;
            let output_ln = norm("output.LayerNorm")?;
            blocks.push(Block { linears, attention_ln, output_ln });
        }
        Ok(Bert {
            words: take(w, "embeddings.word_embeddings.weight")?,
            positions: take(w, "embeddings.position_embeddings.weight")?,
            token_type: take(w, "embeddings.token_type_embeddings.weight")?.get(0)?,
            embeddings_ln: ln("embeddings.LayerNorm")?,
            blocks,
            params,
        })
    }

    /// The embedding layer's output for padded ids `[rows, len]`: `[rows, len, 384]`.
    pub fn embed(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, len) = ids.dims2()?;
        let words = self.words.index_select(&ids.flatten_all()?, 0)?.reshape((rows, len, HIDDEN))?;
        let sum = words.broadcast_add(&self.token_type)?.broadcast_add(&self.positions.narrow(0, 0, len)?)?;
        self.embeddings_ln.forward(&sum)
    }

    /// Runs blocks `from..to` over hidden states `[rows, len, 384]`; `mask` is `[rows, len]`
    /// (1 real, 0 padding). Padding never reaches a real token: its keys get f32::MIN added.
    pub fn blocks(&self, hidden: &Tensor, mask: &Tensor, from: usize, to: usize) -> candle_core::Result<Tensor> {
        let (rows, len) = mask.dims2()?;
        let bias = ((mask.ones_like()? - mask)? * f64::from(f32::MIN))?.reshape((rows, 1, 1, len))?;
        let mut x = hidden.clone();
        for block in &self.blocks[from.min(to)..to.min(LAYERS)] {
            x = block.forward(&x, &bias)?;
        }
        Ok(x)
    }

    /// The first block whose output depends on trained parameters (lower blocks can be cached).
    pub fn first_trained(trainable: Trainable) -> usize {
        match trainable {
            Trainable::Top { k } => LAYERS.saturating_sub(k),
            _ => 0,
        }
    }
}
