//! Stage 4, encode: which graph and which runtime the encoder uses, as configuration picks them.

use std::fmt;
use std::str::FromStr;

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

impl FromStr for Precision {
    type Err = String;

    fn from_str(name: &str) -> Result<Precision, String> {
        match name {
            "int8" => Ok(Precision::Int8),
            "fp32" => Ok(Precision::Fp32),
            _ => Err(format!("unknown precision {name:?}; use int8 or fp32")),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Int8 => "int8",
            Precision::Fp32 => "fp32",
        })
    }
}

/// Which runtime runs the transformer; both give the same embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// The project's ONNX graph on ONNX Runtime.
    #[default]
    Onnx,
    /// rust-bert's `BertModel` on libtorch (cargo feature `rust-bert`).
    RustBert,
}

impl FromStr for BackendKind {
    type Err = String;

    fn from_str(name: &str) -> Result<BackendKind, String> {
        match name {
            "onnx" => Ok(BackendKind::Onnx),
            "rust-bert" => Ok(BackendKind::RustBert),
            _ => Err(format!("unknown backend {name:?}; use onnx or rust-bert")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_say_what_to_use() {
        for p in [Precision::Int8, Precision::Fp32] {
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
        }
        assert!("fp16".parse::<Precision>().unwrap_err().contains("int8 or fp32"));
        assert_eq!("rust-bert".parse::<BackendKind>(), Ok(BackendKind::RustBert));
        assert!("torch".parse::<BackendKind>().unwrap_err().contains("onnx or rust-bert"));
    }
}
