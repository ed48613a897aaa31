//! Fine-tuning: a few steps on a small sample lower the loss, batching leaves the fine-tuned
//! encoder's vectors alone, and the saved adapter round-trips: models/convert_onnx.py
//! `--adapter` builds a graph whose embeddings are those of the model in memory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::assets::{Assets, ONNX_MODEL, RUNTIME_LIBRARY, SAFETENSORS_MODEL, TOKENIZER};
use crate::encode::{Encoder, EncoderOptions, OnnxBackend, OnnxOptions, Precision, WordPieceTokenizer};
use crate::input::labels::read_samples;
use crate::score::finetune::{self, adapter, FinetuneOptions, Trainable};
use crate::score::LABELS;
use crate::segment::{classify, Kind};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fetched models; fails loudly (never skips) when they are missing.
fn assets() -> Assets {
    let assets = Assets::open(&root().join("models")).expect("models/manifest.json");
    if let Err(e) = assets.verified(ONNX_MODEL, false) {
        panic!("{e}\nThese tests need the fetched model: run `bash models/fetch` (tests/run does it).");
    }
    assets
}

/// The numpy reference embeddings (tests/golden/reference_embeddings.json): text and vector.
fn golden() -> Vec<(String, Vec<f32>)> {
    let path = root().join("tests/golden/reference_embeddings.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("golden file")).expect("golden JSON");
    let items = json["items"].as_array().expect("items");
    items
        .iter()
        .map(|i| {
            let vector =
                i["embedding"].as_array().expect("embedding").iter().map(|x| x.as_f64().expect("number") as f32);
            (i["text"].as_str().expect("text").to_string(), vector.collect())
        })
        .collect()
}

/// `per_label` content paragraphs of each label from a labeled file, in file order.
fn sample(path: &Path, per_label: usize) -> Vec<(String, usize)> {
    let mut taken = [0usize; 3];
    let mut out = Vec::new();
    for s in read_samples(path).expect("labeled file") {
        let label = LABELS.iter().position(|l| *l == s.label).expect("known label");
        if classify(&s.text) == Kind::Content && taken[label] < per_label {
            taken[label] += 1;
            out.push((s.text, label));
        }
    }
    out
}

fn refs(set: &[(String, usize)]) -> Vec<(&str, usize)> {
    set.iter().map(|(t, l)| (t.as_str(), *l)).collect()
}

#[test]
fn a_few_lora_steps_lower_the_loss_and_the_adapter_round_trips() {
    let assets = assets();
    let weights = finetune::load_weights(&assets.verified(SAFETENSORS_MODEL, true).expect("weights")).expect("load");
    let tokenizer = WordPieceTokenizer::from_file(&assets.path(TOKENIZER)).expect("tokenizer");
    let train = sample(&root().join("data/labeled/train.jsonl"), 6);
    let dev = sample(&root().join("data/labeled/dev.jsonl"), 3);
    let mut options = FinetuneOptions::for_method(Trainable::Lora { rank: 2 }, 7);
    (options.epochs, options.patience, options.batch_size, options.head_learning_rate) = (3, 3, 6, 1e-2);
    let model = finetune::finetune(&weights, &tokenizer, &refs(&train), &refs(&dev), 3, &options, &mut |_| {})
        .expect("fine-tune");
    let losses: Vec<f64> = model.epochs.iter().map(|e| e.loss).collect();
    assert_eq!(losses.len(), 3, "{losses:?}");
    assert!(losses[2] < losses[0], "training loss must fall: {losses:?}");

    // Save, build the fp32 graph from base + adapter, and embed through ONNX Runtime.
    let dir = tempfile::tempdir().expect("tempdir");
    let adapter_path = dir.path().join("tiny.adapter.safetensors");
    let metadata = [("method".to_string(), "lora-r2".to_string())].into_iter().collect();
    adapter::save(&adapter_path, &model.params(), adapter::Storage::F32, &metadata).expect("save adapter");
    let graph = dir.path().join("tiny.onnx");
    let python = root().join("models/.venv/bin/python");
    let output = Command::new(&python)
        .arg(root().join("models/convert_onnx.py"))
        .args(["--weights-dir", "minilm", "--adapter"])
        .arg(&adapter_path)
        .arg("--out")
        .arg(&graph)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run `bash models/fetch` to create the venv)", python.display()));
    assert!(output.status.success(), "convert_onnx.py failed:\n{}", String::from_utf8_lossy(&output.stderr));

    let texts: Vec<&str> = train.iter().chain(&dev).map(|(t, _)| t.as_str()).collect();
    let in_memory = model.embed(&tokenizer, &texts).expect("embed in memory");
    let onnx = OnnxOptions { precision: Precision::Fp32, workers: 1, intra_threads: 2, int8_correction: true };
    let backend = OnnxBackend::try_new(&assets.path(RUNTIME_LIBRARY), &graph, &assets.path(SAFETENSORS_MODEL), &onnx)
        .expect("load built graph");
    let mut encoder = Encoder::new(tokenizer, Box::new(backend), EncoderOptions::default().with_batch_size(3));
    let built = encoder.embed(&texts).expect("embed through the built graph");
    let worst = in_memory
        .iter()
        .zip(&built)
        .flat_map(|(a, b)| a.iter().zip(&b.vector).map(|(x, y)| (x - y).abs()))
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "built graph differs from the model in memory by {worst}");

    // The plain model's vectors moved: the adapter is not a no-op.
    let plain = finetune::Finetuned::frozen(&weights).expect("plain").embed(encoder_tokenizer(), &texts[..2]);
    let plain = plain.expect("plain embed");
    let moved = plain[0].iter().zip(&in_memory[0]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(moved > 1e-4, "the adapter changed nothing ({moved})");
}

fn encoder_tokenizer() -> &'static WordPieceTokenizer {
    static CACHED: std::sync::OnceLock<WordPieceTokenizer> = std::sync::OnceLock::new();
    CACHED.get_or_init(|| WordPieceTokenizer::from_file(&assets().path(TOKENIZER)).expect("tokenizer"))
}

#[test]
fn fine_tuned_vectors_do_not_depend_on_the_batch() {
    let assets = assets();
    let weights = finetune::load_weights(&assets.path(SAFETENSORS_MODEL)).expect("load");
    let model = finetune::Finetuned::frozen(&weights).expect("model");
    let golden = golden();
    let texts: Vec<&str> = golden.iter().take(12).map(|(text, _)| text.as_str()).collect();
    let together = model.embed(encoder_tokenizer(), &texts).expect("embed");
    for (i, text) in texts.iter().enumerate() {
        let alone = model.embed(encoder_tokenizer(), &[*text]).expect("embed");
        let d = alone[0].iter().zip(&together[i]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d < 1e-5, "paragraph {i} moved by {d} with batching");
    }
    // And the candle model is the reference model: golden vectors within 1e-4.
    for ((text, embedding), v) in golden.iter().zip(&together) {
        let d = embedding.iter().zip(v).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d < 1e-4, "{d} for {:?}", &text[..text.len().min(60)]);
    }
}
