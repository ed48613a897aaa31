//! Encoder backends: the optional rust-bert backend against the numpy reference and the default
//! ONNX backend, and the message a binary built without it gives.
//!
//! The libtorch tests need a build with the feature, run through the libtorch environment:
//! `bash models/fetch-libtorch && models/with-libtorch env CARGO_TARGET_DIR=target/rust-bert
//! cargo test --release --features rust-bert --test integration backends` (tests/run does it).

#[cfg(not(feature = "rust-bert"))]
#[test]
fn rust_bert_backend_without_the_feature_says_how_to_build_it() {
    use crate::common::{assets, files_in, root, stancemeter};
    assets();
    let dir = tempfile::tempdir().unwrap();
    let input = root().join("data/samples/seed/witkoff-putin-moscow.txt");
    let run = stancemeter(dir.path(), &["score", &input.to_string_lossy(), "--out", "out", "--backend", "rust-bert"]);
    run.expect_code(1);
    for needle in ["rust-bert", "bash models/fetch-libtorch", "cargo build --release --features rust-bert"] {
        assert!(run.stderr().contains(needle), "stderr lacks {needle:?}\n{}", run.show());
    }
    assert!(files_in(&dir.path().join("out")).is_empty(), "wrote output\n{}", run.show());
}

#[cfg(feature = "rust-bert")]
mod torch {
    use stancemeter::encode::{cosine, Encoder, EncoderOptions, OnnxOptions};

    use crate::common::{assert_batch_invariant, assets, column, files_in, golden, read_csv, root, stancemeter};

    fn threads() -> usize {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }

    fn rust_bert(batch_size: usize) -> Encoder {
        let options = EncoderOptions::default().with_batch_size(batch_size);
        let encoder = Encoder::load_rust_bert(&assets(), threads(), options).expect("load the rust-bert encoder");
        assert_eq!(encoder.backend_name(), "rust-bert");
        encoder
    }

    #[test]
    fn rust_bert_embeddings_match_the_numpy_reference() {
        let golden = golden();
        let texts: Vec<&str> = golden.items.iter().map(|i| i.text.as_str()).collect();
        let got = rust_bert(32).embed(&texts).expect("embed");
        let onnx = Encoder::load(&assets(), &OnnxOptions::default(), EncoderOptions::default())
            .expect("load the onnx encoder")
            .embed(&texts)
            .expect("embed");
        let (mut worst, mut worst_text, mut max_diff_onnx) = (1.0f32, "", 0.0f32);
        for ((item, e), o) in golden.items.iter().zip(&got).zip(&onnx) {
            assert_eq!(e.windows, item.windows, "windows for {:?}", &item.text[..item.text.len().min(60)]);
            let c = cosine(&item.embedding, &e.vector);
            if c < worst {
                (worst, worst_text) = (c, &item.text);
            }
            let diff = e.vector.iter().zip(&o.vector).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            max_diff_onnx = max_diff_onnx.max(diff);
        }
        eprintln!(
            "rust-bert vs numpy reference: lowest cosine {worst:.9} over {} items; \
             largest component difference from onnx {max_diff_onnx:.2e}",
            golden.items.len()
        );
        assert!(worst >= 0.9999, "lowest cosine {worst} for {worst_text:?}");
        assert!(golden.items.iter().any(|i| i.windows > 1), "golden set must exercise windowing");
    }

    #[test]
    fn rust_bert_batch_size_and_batch_company_do_not_change_embeddings() {
        assert_batch_invariant(rust_bert);
    }

    /// data/labeled/test.jsonl as articles: one article per sample, its text the only paragraph.
    fn write_test_split_as_articles(path: &std::path::Path) -> usize {
        let text = std::fs::read_to_string(root().join("data/labeled/test.jsonl")).expect("test split");
        let mut out = String::new();
        let mut n = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let sample: serde_json::Value = serde_json::from_str(line).expect("test split line is JSON");
            let article = serde_json::json!({
                "id": format!("t{n:04}"),
                "paragraphs": [sample["text"].as_str().expect("sample text")],
            });
            out.push_str(&article.to_string());
            out.push('\n');
            n += 1;
        }
        std::fs::write(path, out).expect("write articles");
        n
    }

    #[test]
    fn the_shipped_fine_tuned_head_is_refused_on_rust_bert_with_the_plain_head_named() {
        assets();
        let dir = tempfile::tempdir().unwrap();
        let input = root().join("data/demo/articles.jsonl");
        let run =
            stancemeter(dir.path(), &["score", input.to_str().unwrap(), "--out", "out", "--backend", "rust-bert"]);
        run.expect_code(2);
        assert!(run.stderr().contains("models/heads/plain.json"), "{}", run.show());
        assert!(files_in(&dir.path().join("out")).is_empty(), "wrote output despite the error\n{}", run.show());
    }

    #[test]
    fn rust_bert_scores_like_onnx_on_the_labeled_test_split() {
        let dir = tempfile::tempdir().unwrap();
        let n = write_test_split_as_articles(&dir.path().join("test-articles.jsonl"));
        let mut results = Vec::new();
        for backend in ["onnx", "rust-bert"] {
            let out = format!("out-{backend}");
            // Same arithmetic on both sides: the fp32 graph, not the int8 default.
            // rust-bert serves the plain encoder, so both sides use the plain-encoder head.
            let head = root().join("models/heads/plain.json");
            let head = head.to_str().unwrap();
            let args = [
                "score",
                "test-articles.jsonl",
                "--out",
                &out,
                "--quiet",
                "--backend",
                backend,
                "--precision",
                "fp32",
                "--head",
                head,
            ];
            stancemeter(dir.path(), &args).expect_code(0);
            let (headers, rows) = read_csv(&dir.path().join(&out).join("paragraphs.csv"));
            let ids: Vec<String> = column(&headers, &rows, "article_id").into_iter().map(String::from).collect();
            let labels: Vec<String> = column(&headers, &rows, "label").into_iter().map(String::from).collect();
            let stance: Vec<f64> =
                column(&headers, &rows, "stance").iter().map(|s| s.parse().expect("stance is a number")).collect();
            assert_eq!(rows.len(), n, "{backend}: one row per sample");
            results.push((ids, labels, stance));
        }
        let (onnx, torch) = (&results[0], &results[1]);
        assert_eq!(onnx.0, torch.0, "same paragraphs in the same order");
        let agree = onnx.1.iter().zip(&torch.1).filter(|(a, b)| a == b).count();
        let max_diff = onnx.2.iter().zip(&torch.2).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let share = agree as f64 / n as f64;
        eprintln!(
            "rust-bert vs onnx on {n} test paragraphs: labels agree {agree}/{n}; max |stance diff| {max_diff:.4}"
        );
        assert!(share >= 0.99, "labels agree on {agree} of {n}");
        assert!(max_diff <= 0.02, "max |stance diff| {max_diff}");
    }
}
