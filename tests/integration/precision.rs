//! The int8 graph against the fp32 reference: same labels and stances within the agreement the
//! speed-up is allowed (issue: labels >= 99%, stance within 0.02), and batching and worker
//! threads that change nothing.

use std::path::Path;

use stancemeter::encode::{Encoder, EncoderOptions, OnnxOptions, Precision};

use crate::common::{assert_batch_invariant, assets, column, read_csv, root, stancemeter};

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

/// Scores `inputs` into `dir/name` with extra flags; returns the paragraphs and articles tables.
fn score(dir: &Path, name: &str, inputs: &[&Path], flags: &[&str]) -> (Table, Table) {
    let out = dir.join(name);
    let mut args = vec!["score"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend_from_slice(&["--out", out.to_str().unwrap(), "--quiet"]);
    args.extend_from_slice(flags);
    stancemeter(dir, &args).expect_code(0);
    (read_csv(&out.join("paragraphs.csv")), read_csv(&out.join("articles.csv")))
}

type Table = (Vec<String>, Vec<Vec<String>>);

fn numbers(table: &Table, name: &str) -> Vec<f64> {
    column(&table.0, &table.1, name).iter().map(|v| v.parse().unwrap_or(f64::NAN)).collect()
}

/// The bar for a speed-up, measured on the demo corpus (468 content paragraphs in 66
/// articles written like wire copy): paragraph labels agree on at least 99%, paragraph stance
/// moves by at most 0.02 on average, and no article's mean stance moves by more than 0.02.
#[test]
fn int8_scores_agree_with_fp32_on_the_demo_corpus() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let demo = root().join("data/demo/articles.jsonl");
    let (fp_p, fp_a) = score(dir.path(), "fp32", &[&demo], &["--precision", "fp32"]);
    let (q_p, q_a) = score(dir.path(), "int8", &[&demo], &[]);
    let (raw_p, _) = score(dir.path(), "raw", &[&demo], &["--refine-margin", "0"]);
    assert_eq!(column(&fp_p.0, &fp_p.1, "article_id"), column(&q_p.0, &q_p.1, "article_id"));

    let kinds = column(&fp_p.0, &fp_p.1, "kind");
    let content: Vec<usize> = (0..kinds.len()).filter(|&i| kinds[i] == "content").collect();
    assert!(content.len() > 400, "{} content paragraphs", content.len());
    let agreement = |other: &Table| {
        let (a, b) = (column(&fp_p.0, &fp_p.1, "label"), column(&other.0, &other.1, "label"));
        content.iter().filter(|&&i| a[i] == b[i]).count() as f64 / content.len() as f64
    };
    let stance_gap = |other: &Table| {
        let (a, b) = (numbers(&fp_p, "stance"), numbers(other, "stance"));
        let gaps: Vec<f64> = content.iter().map(|&i| (a[i] - b[i]).abs()).collect();
        (gaps.iter().sum::<f64>() / gaps.len() as f64, gaps.iter().cloned().fold(0.0, f64::max))
    };
    let (shipped, raw) = (agreement(&q_p), agreement(&raw_p));
    let (mean, max) = stance_gap(&q_p);
    eprintln!("labels agree: int8+refine {shipped:.4}, int8 alone {raw:.4}; stance gap mean {mean:.4}, max {max:.4}");
    assert!(shipped >= 0.99, "int8 labels agree with fp32 on only {:.2}% of paragraphs", shipped * 100.0);
    assert!(shipped >= raw, "refining near-ties made agreement worse ({shipped} < {raw})");
    assert!(mean <= 0.02, "mean paragraph stance moved by {mean:.4}");

    let (a, b) = (numbers(&fp_a, "stance_mean"), numbers(&q_a, "stance_mean"));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst <= 0.02, "an article's mean stance moved by {worst:.4}");
    let model = column(&q_a.0, &q_a.1, "model");
    assert!(model.iter().all(|m| m.contains("onnxruntime-int8")), "{:?}", model.first());
}

/// Worker threads share out whole batches; which thread ran a batch must not show.
#[test]
fn worker_threads_do_not_change_a_single_byte() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let demo = root().join("data/demo/articles.jsonl");
    let one = score(dir.path(), "one", &[&demo], &["--threads", "1"]);
    let three = score(dir.path(), "three", &[&demo], &["--threads", "3"]);
    for file in ["paragraphs.csv", "articles.csv"] {
        let a = std::fs::read(dir.path().join("one").join(file)).unwrap();
        let b = std::fs::read(dir.path().join("three").join(file)).unwrap();
        assert!(a == b, "{file} differs between --threads 1 and --threads 3");
    }
    assert_eq!(one.0 .1.len(), three.0 .1.len());
}
