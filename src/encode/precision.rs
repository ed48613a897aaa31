//! Which arithmetic the encoder graph uses.

/// The ONNX graph the encoder runs.
///
/// Both are built from the same fp32 weights by `models/convert_onnx.py`. Int8 runs every
/// linear layer as an 8-bit integer matmul (per-token activation scales, so batching still
/// never changes a score) and is about twice as fast on CPUs with VNNI; its labels and stances
/// stay within the agreement recorded in BENCHMARKS.md and enforced by the precision tests.
/// Heads are always trained on fp32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 8-bit integer linear layers (`minilm/model.int8.onnx`).
    Int8,
    /// The fp32 reference graph (`minilm/model.onnx`).
    Fp32,
}

impl Precision {
    /// The graph's path in the models folder.
    pub fn graph(self) -> &'static str {
        match self {
            Precision::Int8 => crate::assets::ONNX_MODEL_INT8,
            Precision::Fp32 => crate::assets::ONNX_MODEL,
        }
    }
}
