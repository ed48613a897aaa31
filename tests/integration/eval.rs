//! Quality regression tests: the shipped head on the held-out test split (never used for
//! training or model selection), through the real binary.

use crate::common::{assets, read_csv, root, stancemeter};

/// Floors for the shipped head (docs/quality.md, "Fine-tuning"), set from measurement a little
/// under what it scores on the default (int8) path, so a real regression fails and noise (one
/// macro-F1 over ~800 paragraphs has a standard error near 0.015) does not.
const FLOORS: [Floor; 2] = [
    Floor { split: "data/labeled/test.jsonl", macro_f1: TEST_F1, accuracy: TEST_F1, ece: 0.12, class_f1: 0.55 },
    Floor {
        split: "data/labeled/test-unseen.jsonl",
        macro_f1: UNSEEN_F1,
        accuracy: UNSEEN_F1,
        ece: 0.15,
        class_f1: 0.5,
    },
];
/// Measured test macro-F1 minus a margin.
const TEST_F1: f64 = 0.68;
/// Measured test-unseen macro-F1 (styles absent from train) minus a margin.
const UNSEEN_F1: f64 = 0.66;

struct Floor {
    split: &'static str,
    macro_f1: f64,
    accuracy: f64,
    ece: f64,
    class_f1: f64,
}

fn eval_split(split: &str, args: &[&str]) -> serde_json::Value {
    assets();
    let mut all = vec!["eval", "--labels", split, "--json"];
    all.extend_from_slice(args);
    let run = stancemeter(&root(), &all);
    run.expect_code(0);
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("not JSON ({e})\n{}", run.show()))
}

#[test]
fn test_and_unseen_style_quality_stay_above_their_floors() {
    for floor in FLOORS {
        let e = eval_split(floor.split, &[]);
        for key in ["n", "accuracy", "macro_f1", "per_class", "confusion", "brier", "ece"] {
            assert!(e.get(key).is_some(), "missing {key} in {e}");
        }
        let (n, _) = read_csv_lines(floor.split);
        assert_eq!(e["n"].as_u64(), Some(n as u64));
        let split = floor.split;
        let f1 = e["macro_f1"].as_f64().unwrap();
        let acc = e["accuracy"].as_f64().unwrap();
        let ece = e["ece"].as_f64().unwrap();
        assert!(f1 >= floor.macro_f1, "{split}: macro-F1 {f1:.4} fell below {}", floor.macro_f1);
        assert!(acc >= floor.accuracy, "{split}: accuracy {acc:.4} fell below {}", floor.accuracy);
        assert!(ece <= floor.ece, "{split}: ECE {ece:.4} rose above {}", floor.ece);
        for label in ["optimistic", "neutral", "skeptical"] {
            let f1 = e["per_class"][label]["f1"].as_f64().unwrap();
            assert!(f1 >= floor.class_f1, "{split}: {label} F1 {f1:.3} collapsed");
        }
    }
}

fn read_csv_lines(path: &str) -> (usize, ()) {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    (text.lines().filter(|l| !l.trim().is_empty()).count(), ())
}

#[test]
fn min_macro_f1_gate_fails_with_status_4() {
    assets();
    let run = stancemeter(&root(), &["eval", "--labels", "data/labeled/test.jsonl", "--min-macro-f1", "0.999"]);
    run.expect_code(4);
    assert!(run.stderr().contains("below the floor"), "{}", run.show());
    assert!(run.stdout().contains("macro-F1") && run.stdout().contains("confusion"), "{}", run.show());
}

#[test]
fn eval_reads_csv_labels_too() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("labels.csv");
    std::fs::write(
        &csv,
        "text,label\n\"Talks collapsed after Moscow rejected the proposal outright.\",skeptical\nComments,neutral\n",
    )
    .unwrap();
    let run = stancemeter(&root(), &["eval", "--labels", csv.to_str().unwrap(), "--json"]);
    run.expect_code(0);
    let e: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(e["n"], 2);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "text,label\nSomething,hopeful\n").unwrap();
    let run = stancemeter(&root(), &["eval", "--labels", bad.to_str().unwrap()]);
    run.expect_code(1);
    assert!(run.stderr().contains("bad.csv:2: label \"hopeful\" is not one of"), "{}", run.show());
}

/// Per-sample predictions of the fp32 reference path on the test split must not change
/// silently (the int8 default is held to them in precision.rs). After a deliberate change (new
/// head, new data), regenerate with the command in tests/golden/README.md.
#[test]
fn test_split_predictions_match_the_golden_file() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("predictions.csv");
    let run = stancemeter(
        &root(),
        &[
            "eval",
            "--labels",
            "data/labeled/test.jsonl",
            "--predictions",
            out.to_str().unwrap(),
            "--json",
            "--precision",
            "fp32",
        ],
    );
    run.expect_code(0);
    let (h_new, new) = read_csv(&out);
    let (h_old, old) = read_csv(&root().join("tests/golden/test_predictions.csv"));
    assert_eq!(h_new, h_old);
    assert_eq!(new.len(), old.len(), "sample count changed");
    let mut changed = Vec::new();
    for (a, b) in new.iter().zip(&old) {
        assert_eq!(a[0], b[0], "sample order changed");
        let drift =
            (4..7).map(|i| (a[i].parse::<f64>().unwrap() - b[i].parse::<f64>().unwrap()).abs()).fold(0.0, f64::max);
        if a[3] != b[3] || drift > 0.002 {
            changed.push(format!("{}: {} -> {} (max prob drift {drift:.4})", a[0], b[3], a[3]));
        }
    }
    assert!(changed.is_empty(), "{} predictions changed:\n{}", changed.len(), changed.join("\n"));
}

#[test]
fn head_trained_for_another_encoder_is_refused_with_a_remedy() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let mut head: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("models/heads/default.json")).unwrap()).unwrap();
    head["encoder"]["onnx_sha256"] = "0000".into();
    let path = dir.path().join("other.json");
    std::fs::write(&path, serde_json::to_string(&head).unwrap()).unwrap();
    let run = stancemeter(&root(), &["eval", "--labels", "data/labeled/test.jsonl", "--head", path.to_str().unwrap()]);
    run.expect_code(1);
    assert!(run.stderr().contains("other.json") && run.stderr().contains("stancemeter train"), "{}", run.show());
}
