//! The int8 correction (`heads/NAME.int8-correction.json`): the shipped one fits the shipped
//! int8 graph and brings it closer to fp32 on paragraphs it was not fitted on; `train
//! --int8-correction` fits one and records what it was fitted on; a correction made for
//! another graph is refused before anything is written.

use std::path::Path;

use stancemeter::encode::correction::mean_distance;
use stancemeter::encode::{Encoder, EncoderOptions, OnnxOptions, Precision};
use stancemeter::segment::{classify, Kind};

use crate::common::{assets, root, stancemeter, stancemeter_with};

/// The graph the shipped head runs on.
fn shipped_graph() -> String {
    let head = stancemeter::score::Head::load(&root().join("models/heads/default.json")).expect("shipped head");
    head.encoder.graph.expect("the shipped head names a fine-tuned graph")
}

fn load(graph: &str, precision: Precision, int8_correction: bool) -> Encoder {
    let onnx = OnnxOptions { precision, int8_correction, ..OnnxOptions::default() };
    Encoder::load_graph(&assets(), graph, &onnx, EncoderOptions::default()).expect("load the shipped graph")
}

/// The sha256 models/manifest.json gives `dest`, read independently of the library.
fn manifest_sha256(dest: &str) -> String {
    let text = std::fs::read_to_string(root().join("models/manifest.json")).expect("models/manifest.json");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest JSON");
    let generated = manifest["generated"].as_array().expect("generated files in the manifest");
    let entry = generated.iter().find(|g| g["dest"] == dest).unwrap_or_else(|| panic!("{dest} in the manifest"));
    entry["sha256"].as_str().expect("its sha256").to_string()
}

#[test]
fn the_shipped_correction_brings_int8_closer_to_fp32_on_the_demo_corpus() {
    let text = std::fs::read_to_string(root().join("data/demo/articles.jsonl")).unwrap();
    let mut paragraphs = Vec::new();
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        match record["paragraphs"].as_array() {
            Some(list) => paragraphs.extend(list.iter().map(|p| p.as_str().unwrap().to_string())),
            None => paragraphs.extend(record["text"].as_str().unwrap().split("\n\n").map(str::to_string)),
        }
    }
    let texts: Vec<&str> = paragraphs.iter().map(String::as_str).filter(|t| classify(t) == Kind::Content).collect();
    assert!(texts.len() > 300, "{} content paragraphs", texts.len());
    let graph = shipped_graph();
    let fp32 = load(&graph, Precision::Fp32, true).embed(&texts).unwrap();
    let (mut corrected, mut plain) = (load(&graph, Precision::Int8, true), load(&graph, Precision::Int8, false));
    assert!(corrected.corrected(), "the shipped int8 graph has no correction beside its adapter");
    assert!(!plain.corrected());
    let (with, without) = (corrected.embed(&texts).unwrap(), plain.embed(&texts).unwrap());
    let (after, before) = (mean_distance(&with, &fp32), mean_distance(&without, &fp32));
    eprintln!("demo: mean distance of int8 from fp32 {before:.5} without the correction, {after:.5} with it");
    assert!(after < before * 0.97, "the correction does not bring int8 closer ({before:.5} -> {after:.5})");
}

/// Runs `train --int8-correction` on 60 training paragraphs in `dir`.
fn fit(dir: &Path, extra: &[&str]) -> crate::common::Run {
    let text = std::fs::read_to_string(root().join("data/labeled/train.jsonl")).unwrap();
    let sample: Vec<&str> = text.lines().take(60).collect();
    std::fs::write(dir.join("train.jsonl"), sample.join("\n")).unwrap();
    let mut args = vec!["train", "--int8-correction", "--labels", "train.jsonl", "--out", "c.json", "--quiet"];
    args.extend_from_slice(extra);
    stancemeter(dir, &args)
}

#[test]
fn train_int8_correction_fits_a_correction_that_names_its_graphs_and_data() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let adapter = root().join("models/heads/default.adapter.safetensors");
    let run = fit(dir.path(), &["--adapter", adapter.to_str().unwrap()]);
    run.expect_code(0);
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("c.json")).unwrap()).unwrap();
    assert_eq!(c["format"], "stancemeter-int8-correction/1");
    assert_eq!(c["int8_graph_sha256"].as_str().unwrap(), manifest_sha256("finetuned/default.int8.onnx"));
    assert_eq!(c["fp32_graph_sha256"].as_str().unwrap(), manifest_sha256("finetuned/default.onnx"));
    assert_eq!(c["constant"].as_array().unwrap().len(), 384);
    assert!(c["per_length"].as_array().unwrap().iter().any(|x| x.as_f64().unwrap() != 0.0));
    assert_eq!(c["provenance"]["data"][0]["file"], "train.jsonl");
    let distance = &c["provenance"]["mean_distance_to_fp32"];
    let (before, after) = (distance["before"].as_f64().unwrap(), distance["after"].as_f64().unwrap());
    assert!(after < before, "the fit does not bring int8 closer on its own paragraphs: {before} -> {after}");
    assert!(run.stderr().contains("wrote c.json: fitted on"), "{}", run.show());
}

#[test]
fn train_int8_correction_without_an_adapter_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let run = fit(dir.path(), &[]);
    run.expect_code(2);
    assert!(run.stderr().contains("--adapter"), "{}", run.show());
    assert!(!dir.path().join("c.json").exists());
}

#[test]
fn a_correction_fitted_on_another_int8_graph_is_refused_naming_the_file() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let real = root().join("models");
    std::fs::create_dir_all(models.join("heads")).unwrap();
    for file in ["manifest.json", "heads/default.json", "heads/default.adapter.safetensors"] {
        std::fs::copy(real.join(file), models.join(file)).unwrap();
    }
    for linked in ["minilm", "vader", "onnxruntime", "finetuned"] {
        std::os::unix::fs::symlink(std::fs::canonicalize(real.join(linked)).unwrap(), models.join(linked)).unwrap();
    }
    let name = "heads/default.int8-correction.json";
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(real.join(name)).unwrap()).unwrap();
    c["int8_graph_sha256"] = serde_json::json!("0".repeat(64));
    std::fs::write(models.join(name), serde_json::to_vec(&c).unwrap()).unwrap();
    std::fs::write(dir.path().join("a.jsonl"), "{\"id\":\"a\",\"text\":\"Talks resumed in Geneva today.\"}\n").unwrap();
    let run = stancemeter_with(dir.path(), &["score", "a.jsonl", "--out", "out", "--quiet"], None, &models);
    run.expect_code(1);
    for needle in ["default.int8-correction.json", "was fitted on int8 graph 0000", "--int8-correction"] {
        assert!(run.stderr().contains(needle), "no {needle:?} in\n{}", run.show());
    }
    assert!(!dir.path().join("out").join("paragraphs.csv").exists());

    // Fitting again must not trip over the stale file it replaces; scoring then works.
    let adapter = models.join("heads/default.adapter.safetensors");
    let out = models.join(name);
    let (adapter, out) = (adapter.to_str().unwrap(), out.to_str().unwrap());
    let text = std::fs::read_to_string(root().join("data/labeled/train.jsonl")).unwrap();
    std::fs::write(dir.path().join("t.jsonl"), text.lines().take(40).collect::<Vec<_>>().join("\n")).unwrap();
    let fit = ["train", "--int8-correction", "--adapter", adapter, "--labels", "t.jsonl", "--out", out, "--quiet"];
    stancemeter_with(dir.path(), &fit, None, &models).expect_code(0);
    let run = stancemeter_with(dir.path(), &["score", "a.jsonl", "--out", "out", "--quiet"], None, &models);
    run.expect_code(0);
}
