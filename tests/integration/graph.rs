//! The fused graphs (models/fuse_graph.py) hold the fused operators, so a change that silently
//! builds the plain graph again, or un-fuses one part of it, fails here rather than only
//! showing up as a slower benchmark. Every graph models/fetch builds is checked: the plain
//! model's and those built from fine-tuning adapters (the manifest's `generated` entries).

use std::collections::BTreeMap;

use stancemeter::assets::{ONNX_MODEL, ONNX_MODEL_INT8};

use crate::common::{assets, root};

/// Operator type (with its domain when not the default one) -> number of nodes in the graph.
type OpCounts = BTreeMap<String, usize>;

/// One field of a protobuf message: its number and, for length-delimited fields, its bytes.
struct Field<'a> {
    number: u64,
    bytes: Option<&'a [u8]>,
}

fn varint(buf: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = buf[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

/// The top-level fields of one protobuf message (enough of the wire format for ModelProto).
fn fields(buf: &[u8]) -> Vec<Field<'_>> {
    let (mut at, mut out) = (0, Vec::new());
    while at < buf.len() {
        let key = varint(buf, &mut at);
        let bytes = match key & 7 {
            0 => {
                varint(buf, &mut at);
                None
            }
            1 => {
                at += 8;
                None
            }
            2 => {
                let len = varint(buf, &mut at) as usize;
                at += len;
                Some(&buf[at - len..at])
            }
            5 => {
                at += 4;
                None
            }
            wire => panic!("wire type {wire} at byte {at}: not an ONNX model"),
        };
        out.push(Field { number: key >> 3, bytes });
    }
    out
}

fn field(message: &[u8], number: u64) -> impl Iterator<Item = &[u8]> {
    fields(message).into_iter().filter(move |f| f.number == number).filter_map(|f| f.bytes)
}

/// Nodes per operator type of an ONNX file (ModelProto.graph = 7, GraphProto.node = 1,
/// NodeProto.op_type = 4, NodeProto.domain = 7).
fn op_counts(relative: &str) -> OpCounts {
    let path = assets().verified(relative, false).expect("fetched graph");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let graph = field(&bytes, 7).next().expect("ModelProto.graph");
    let mut counts = OpCounts::new();
    for node in field(graph, 1) {
        let text = |n| field(node, n).next().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        let (op, domain) = (text(4), text(7));
        let key = if domain.is_empty() { op } else { format!("{domain}.{op}") };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// Checks exact counts, absent operators and the total, printing the whole census on failure.
fn assert_ops(graph: &str, counts: &OpCounts, exact: &[(&str, usize)], absent: &[&str], most: usize) {
    let total: usize = counts.values().sum();
    for (op, n) in exact {
        assert_eq!(counts.get(*op).copied().unwrap_or(0), *n, "{graph}: {op} nodes; all: {counts:?}");
    }
    for op in absent {
        assert!(!counts.contains_key(*op), "{graph}: {op} is back in the graph (un-fused); all: {counts:?}");
    }
    assert!(total <= most, "{graph}: {total} nodes, more than the fused graph's {most}; all: {counts:?}");
}

/// Plain-graph operators whose work the fused ones do (attention's transposes and softmax,
/// GELU's erf), and SkipLayerNormalization, which ONNX Runtime's CPU kernel makes slower.
const UNFUSED: &[&str] = &["Softmax", "Erf", "Transpose", "Reshape", "SkipLayerNormalization"];

/// The graphs models/fetch builds (the manifest's `generated` entries), fp32 and int8 apart.
fn generated_graphs() -> (Vec<String>, Vec<String>) {
    let path = root().join("models/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let dests = manifest["generated"].as_array().expect("generated entries").iter();
    let dests: Vec<String> = dests.map(|g| g["dest"].as_str().expect("dest").to_string()).collect();
    dests.into_iter().partition(|dest| !dest.ends_with(".int8.onnx"))
}

#[test]
fn every_generated_graph_is_checked_here() {
    let (fp32, int8) = generated_graphs();
    assert!(fp32.iter().any(|g| g == ONNX_MODEL) && int8.iter().any(|g| g == ONNX_MODEL_INT8), "{fp32:?} {int8:?}");
    assert!(fp32.len() >= 2 && int8.len() == fp32.len(), "the fine-tuned graphs are missing: {fp32:?} {int8:?}");
}

#[test]
fn fp32_graphs_hold_the_fused_operators() {
    for graph in generated_graphs().0 {
        assert_fp32_fused(&graph);
    }
}

fn assert_fp32_fused(graph: &str) {
    let counts = op_counts(graph);
    let exact = [
        ("com.microsoft.EmbedLayerNormalization", 1),
        ("com.microsoft.MultiHeadAttention", 6),
        ("com.microsoft.BiasGelu", 6),
        ("MatMul", 24),
        ("LayerNormalization", 12),
    ];
    let mut absent = UNFUSED.to_vec();
    absent.push("Gather"); // the embedding lookup is inside EmbedLayerNormalization
    assert_ops(graph, &counts, &exact, &absent, 81);
}

/// Per-token quantisation: one ReduceMax per quantised input (24), codes made by QuantizeLinear
/// with a scale of 1 after a per-row division. A per-tensor DynamicQuantizeLinear would make a
/// token's codes depend on its batch neighbours, so it must never appear. The int8 graphs keep
/// the plain embeddings (Gather, LayerNormalization) and give MatMulIntegerToFloat the row scale
/// only, the column scale following as a Mul (24 more, beside the 24 smoothing ones): that is the
/// plain int8 graph's rounding, which EmbedLayerNormalization and both scales in
/// MatMulIntegerToFloat moved enough to fail tests/integration/precision.rs (fuse_graph.py).
#[test]
fn int8_graphs_hold_the_fused_operators_and_per_token_quantisation() {
    for graph in generated_graphs().1 {
        assert_int8_fused(&graph);
    }
}

fn assert_int8_fused(graph: &str) {
    let counts = op_counts(graph);
    let exact = [
        ("com.microsoft.EmbedLayerNormalization", 0),
        ("Gather", 1),
        ("com.microsoft.MultiHeadAttention", 6),
        ("com.microsoft.BiasGelu", 6),
        ("com.microsoft.MatMulIntegerToFloat", 24),
        ("Mul", 48),
        ("QuantizeLinear", 24),
        ("ReduceMax", 24),
        ("LayerNormalization", 13),
    ];
    let mut absent = UNFUSED.to_vec();
    absent.extend(["MatMulInteger", "MatMul", "Round", "Clip", "Relu", "DynamicQuantizeLinear"]);
    absent.push("com.microsoft.DynamicQuantizeMatMul");
    assert_ops(graph, &counts, &exact, &absent, 277);
}
