//! The int8 graph against the fp32 reference: same labels and stances within the agreement the
//! speed-up is allowed (issue: labels >= 99%, stance within 0.02), and batching and worker
//! threads that change nothing.

use std::path::{Path, PathBuf};

use stancemeter::encode::{Encoder, EncoderOptions, OnnxOptions, Precision};

use crate::common::{assert_batch_invariant, assets, column, numbers, read_csv, root, stancemeter};

fn int8(batch_size: usize) -> Encoder {
    let onnx = OnnxOptions { precision: Precision::Int8, ..OnnxOptions::default() };
    Encoder::load(&assets(), &onnx, EncoderOptions::default().with_batch_size(batch_size)).expect("load int8 encoder")
}

#[test]
fn int8_batch_size_and_batch_company_do_not_change_embeddings() {
    assert_batch_invariant(int8);
}

/// The int8 graph the shipped head runs on (built from its fine-tuning adapter, when it names
/// one): batch invariance holds there too. Label and stance agreement with fp32 is checked on
/// it by the demo-corpus test below, since `score` uses the shipped head.
#[test]
fn int8_graph_of_the_shipped_head_is_batch_invariant() {
    let head = stancemeter::score::Head::load(&root().join("models/heads/default.json")).expect("shipped head");
    let graph = head.encoder.graph.unwrap_or_else(|| stancemeter::assets::ONNX_MODEL.to_string());
    assert_batch_invariant(|batch_size| {
        let onnx = OnnxOptions { precision: Precision::Int8, ..OnnxOptions::default() };
        let options = EncoderOptions::default().with_batch_size(batch_size);
        Encoder::load_graph(&assets(), &graph, &onnx, options).expect("load the shipped int8 graph")
    });
}

/// A CSV file's header and rows.
type Table = (Vec<String>, Vec<Vec<String>>);

/// Scores the demo corpus into `dir/name` with extra flags; returns that folder.
fn score_demo(dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    let (demo, out) = (root().join("data/demo/articles.jsonl"), dir.join(name));
    let mut args = vec!["score", demo.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(flags);
    stancemeter(dir, &args).expect_code(0);
    out
}

/// The bar for a speed-up, measured on the demo corpus (468 content paragraphs in 66
/// articles written like wire copy): paragraph labels agree on at least 99%, paragraph stance
/// moves by at most 0.02 on average, and no article's mean stance moves by more than 0.02.
#[test]
fn int8_scores_agree_with_fp32_on_the_demo_corpus() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let fp32 = score_demo(dir.path(), "fp32", &["--precision", "fp32"]);
    let int8 = score_demo(dir.path(), "int8", &[]);
    let raw = score_demo(dir.path(), "raw", &["--refine-margin", "0"]);
    let paragraphs = |out: &Path| read_csv(&out.join("paragraphs.csv"));
    let (fp_p, q_p, raw_p) = (paragraphs(&fp32), paragraphs(&int8), paragraphs(&raw));
    assert_eq!(column(&fp_p.0, &fp_p.1, "article_id"), column(&q_p.0, &q_p.1, "article_id"));

    let kinds = column(&fp_p.0, &fp_p.1, "kind");
    let content: Vec<usize> = (0..kinds.len()).filter(|&i| kinds[i] == "content").collect();
    assert!(content.len() > 400, "{} content paragraphs", content.len());
    let agreement = |other: &Table| {
        let (a, b) = (column(&fp_p.0, &fp_p.1, "label"), column(&other.0, &other.1, "label"));
        content.iter().filter(|&&i| a[i] == b[i]).count() as f64 / content.len() as f64
    };
    let stance_gap = |other: &Table| {
        let (a, b) = (numbers(&fp_p.0, &fp_p.1, "stance"), numbers(&other.0, &other.1, "stance"));
        let gaps: Vec<f64> = content.iter().map(|&i| (a[i] - b[i]).abs()).collect();
        (gaps.iter().sum::<f64>() / gaps.len() as f64, gaps.iter().cloned().fold(0.0, f64::max))
    };
    let (shipped, unrefined) = (agreement(&q_p), agreement(&raw_p));
    let (mean, max) = stance_gap(&q_p);
    let (fp_a, q_a) = (read_csv(&fp32.join("articles.csv")), read_csv(&int8.join("articles.csv")));
    let (a, b) = (numbers(&fp_a.0, &fp_a.1, "stance_mean"), numbers(&q_a.0, &q_a.1, "stance_mean"));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    eprintln!(
        "labels agree: int8+refine {shipped:.4}, int8 alone {unrefined:.4}; stance gap mean {mean:.4}, max {max:.4}; \
         article stance_mean gap max {worst:.4}"
    );
    assert!(shipped >= 0.99, "int8 labels agree with fp32 on only {:.2}% of paragraphs", shipped * 100.0);
    assert!(shipped >= unrefined, "refining near-ties made agreement worse ({shipped} < {unrefined})");
    assert!(mean <= 0.02, "mean paragraph stance moved by {mean:.4}");
    assert!(worst <= 0.02, "an article's mean stance moved by {worst:.4}");
    let model = column(&q_a.0, &q_a.1, "model");
    // The shipped int8 graph runs with its correction (heads/default.int8-correction.json).
    assert!(model.iter().all(|m| m.contains("onnxruntime-int8-corrected")), "{:?}", model.first());
}

/// Worker threads share out whole batches; which thread ran a batch must not show.
#[test]
fn worker_threads_do_not_change_a_single_byte() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let one = score_demo(dir.path(), "one", &["--threads", "1"]);
    let three = score_demo(dir.path(), "three", &["--threads", "3"]);
    for file in ["paragraphs.csv", "articles.csv"] {
        let (a, b) = (std::fs::read(one.join(file)).unwrap(), std::fs::read(three.join(file)).unwrap());
        assert!(a == b, "{file} differs between --threads 1 and --threads 3");
    }
}
