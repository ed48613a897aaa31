//! Regression tests for issue #12: each is named after what broke, runs the real binary where
//! the fault is visible to a user, and is listed in docs/reliability.md with what the user gets.

use std::path::{Path, PathBuf};

use crate::common::{column, files_in, read_csv, root, stancemeter, stancemeter_with};

/// One good JSONL article.
const GOOD: &[u8] =
    b"{\"id\":\"good\",\"text\":\"Negotiators met in Geneva and agreed to continue talks next week.\"}\n";

/// `stancemeter score INPUTS --out out --quiet EXTRA` in `dir`.
fn score(dir: &Path, inputs: &[&str], extra: &[&str]) -> crate::common::Run {
    let mut args = vec!["score"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(&["--out", "out", "--quiet"]);
    args.extend_from_slice(extra);
    stancemeter(dir, &args)
}

/// A temporary folder holding `files` (name, bytes).
fn folder(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

fn assert_contains(run: &crate::common::Run, needle: &str) {
    assert!(run.stderr().contains(needle), "stderr should contain {needle:?}\n{}", run.show());
}

/// The shipped head as JSON, to edit.
fn default_head() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("models/heads/default.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn write_json(path: &Path, value: &serde_json::Value) -> PathBuf {
    std::fs::write(path, serde_json::to_string(value).unwrap()).unwrap();
    path.to_path_buf()
}

// 8: NaN passes silently.

#[test]
fn head_with_a_weight_too_large_for_f32_is_refused_before_scoring() {
    let dir = folder(&[("a.jsonl", GOOD)]);
    let mut head = default_head();
    head["layers"][0]["weights"][0][0] = serde_json::json!(1e39);
    write_json(&dir.path().join("huge.json"), &head);
    let run = score(dir.path(), &["a.jsonl"], &["--head", "huge.json"]);
    run.expect_code(1);
    assert_contains(&run, "huge.json: layer 0 holds a weight that is not a finite number");
    assert_eq!(files_in(&dir.path().join("out")), Vec::<String>::new(), "{}", run.show());
}

#[test]
fn head_whose_weights_overflow_to_nan_stops_the_run_with_a_message() {
    let dir = folder(&[("a.jsonl", GOOD)]);
    let mut head = default_head();
    for row in head["layers"][0]["weights"].as_array_mut().unwrap() {
        for w in row.as_array_mut().unwrap() {
            *w = serde_json::json!(3e38);
        }
    }
    for b in head["layers"][0]["bias"].as_array_mut().unwrap() {
        *b = serde_json::json!(3e38);
    }
    let parsed: stancemeter::score::Head = serde_json::from_value(head.clone()).unwrap();
    head["id"] = serde_json::json!(parsed.computed_id().unwrap());
    write_json(&dir.path().join("overflow.json"), &head);
    let run = score(dir.path(), &["a.jsonl"], &["--head", "overflow.json", "--refine-margin", "0"]);
    run.expect_code(1);
    assert_contains(&run, "overflow.json: gave a probability that is not a number");
    assert_eq!(files_in(&dir.path().join("out")), Vec::<String>::new(), "{}", run.show());
}

#[test]
fn compare_refuses_a_nan_stance_with_file_and_line() {
    let csv = "article_id,outlet,stance_mean,n_paragraphs,n_scored,share_optimistic,share_neutral,share_skeptical\n\
               a,X,0.5,2,2,1,0,0\nb,Y,NaN,2,2,0,1,0\n";
    let dir = folder(&[("articles.csv", csv.as_bytes())]);
    let run = stancemeter(dir.path(), &["compare", "--articles", "articles.csv", "--out", "g.csv"]);
    run.expect_code(1);
    assert_contains(&run, "articles.csv:3: stance_mean is not a finite number");
    assert!(!dir.path().join("g.csv").exists());
}

// 9: train accepts one-class or missing-class data.

fn labeled(lines: &[(&str, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (i, (label, text)) in lines.iter().enumerate() {
        let row =
            serde_json::json!({"id": format!("s{i}"), "article_id": format!("a{i}"), "text": text, "label": label});
        out.push_str(&row.to_string());
        out.push('\n');
    }
    out.into_bytes()
}

#[test]
fn train_refuses_one_class_and_missing_class_data_and_writes_no_head() {
    let sentence = |i: usize| format!("Negotiators from both delegations met again on day {i} of the talks in Geneva.");
    let texts: Vec<String> = (0..20).map(sentence).collect();
    let one_class: Vec<(&str, &str)> = texts.iter().map(|t| ("optimistic", t.as_str())).collect();
    let two_classes: Vec<(&str, &str)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (if i % 2 == 0 { "optimistic" } else { "neutral" }, t.as_str()))
        .collect();
    let dev = labeled(&[("neutral", texts[0].as_str()), ("skeptical", texts[1].as_str())]);
    for (name, data, missing) in [("one", labeled(&one_class), "neutral"), ("two", labeled(&two_classes), "skeptical")]
    {
        let dir = folder(&[("train.jsonl", &data), ("dev.jsonl", &dev)]);
        let args = ["train", "--labels", "train.jsonl", "--dev", "dev.jsonl", "--out", "head.json"];
        let run = stancemeter(dir.path(), &args);
        run.expect_code(1);
        assert_contains(&run, &format!("0 content paragraphs labeled \"{missing}\""));
        assert!(!dir.path().join("head.json").exists(), "{name}: a head was written\n{}", run.show());
    }
}

// 14: --format overrides a known extension.

#[test]
fn format_flag_does_not_override_a_known_extension_but_names_unknown_ones() {
    let dir = folder(&[("a.jsonl", GOOD), ("b.data", b"id,text\nb1,Talks resumed in Geneva on Monday.\n")]);
    let run = score(dir.path(), &["a.jsonl", "b.data"], &["--format", "csv"]);
    run.expect_code(0);
    let (h, rows) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!(column(&h, &rows, "article_id"), vec!["good", "b1"], "{}", run.show());
    let run = score(dir.path(), &["b.data"], &[]);
    run.expect_code(2);
    assert_contains(&run, "b.data: unknown input format");
}

// 17: invalid numbers accepted.

#[test]
fn invalid_numbers_on_the_command_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["eval", "--labels", "x.jsonl", "--min-macro-f1", "NaN"],
        &["eval", "--labels", "x.jsonl", "--min-macro-f1", "1.5"],
        &["compare", "--articles", "a.csv", "--out", "g.csv", "--resamples", "0"],
        &["score", "x.jsonl", "--out", "o", "--refine-margin", "NaN"],
        &["score", "x.jsonl", "--out", "o", "--batch-size", "0"],
        &["score", "x.jsonl", "--out", "o", "--threads", "0"],
        &["score", "x.jsonl", "--out", "o", "--batch-tokens=0"],
    ];
    for args in cases {
        let run = stancemeter(dir.path(), args);
        run.expect_code(2);
        assert_contains(&run, "invalid value");
    }
}

// 19: command-line errors reported only after the models load.

#[test]
fn command_line_errors_exit_2_before_any_model_loads() {
    let dir = folder(&[("a.jsonl", GOOD)]);
    let broken = dir.path().join("no-models");
    std::fs::create_dir(&broken).unwrap();
    for args in [
        &["score", "a.jsonl", "--out", "o", "--format", "xml"][..],
        &["score", "a.jsonl", "--out", "o", "--precision", "int4"],
        &["score", "-", "--out", "o"],
        &["eval", "--labels", "a.jsonl", "--backend", "tensorflow"],
    ] {
        let run = stancemeter_with(dir.path(), args, Some(b""), &broken);
        run.expect_code(2);
        assert!(!run.stderr().contains("manifest.json"), "models were looked at\n{}", run.show());
    }
}

// 18: compare does not create its --out folder; --by month cuts non-ISO dates.

#[test]
fn compare_creates_its_out_folder_and_refuses_non_iso_months() {
    let csv =
        "article_id,outlet,date,stance_mean,n_paragraphs,n_scored,share_optimistic,share_neutral,share_skeptical\n\
               a,X,2025-03-01,0.5,2,2,1,0,0\nb,Y,14/03/2025,0.1,2,2,0,1,0\n";
    let dir = folder(&[("articles.csv", csv.as_bytes())]);
    let run = stancemeter(dir.path(), &["compare", "--articles", "articles.csv", "--out", "new/deeper/g.csv"]);
    run.expect_code(0);
    assert!(dir.path().join("new/deeper/g.csv").is_file() && dir.path().join("new/deeper/g.pairs.csv").is_file());
    let run = stancemeter(dir.path(), &["compare", "--articles", "articles.csv", "--by", "month", "--out", "m/g.csv"]);
    run.expect_code(1);
    assert_contains(&run, "articles.csv:3: date \"14/03/2025\" is not ISO 8601");
    assert_eq!(files_in(&dir.path().join("m")), Vec::<String>::new());
}
