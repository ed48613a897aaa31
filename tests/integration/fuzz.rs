//! Fuzzing the readers, the segmenter and the head loader with proptest: generated inputs
//! (random bytes, and sequences of the fragments each format is made of) must never panic or
//! hang, and every error must name the file, and a line inside the input where it names one.
//!
//! `cargo test` runs a short pass (256 cases per target). The long run recorded in
//! docs/reliability.md sets the number of cases per target:
//!
//! ```sh
//! FUZZ_CASES=1000000 cargo test --release --test integration fuzz -- --test-threads 1
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use stancemeter::input::labels::{parse_csv, parse_jsonl};
use stancemeter::input::{parse_text, Body, CsvArticles, JsonlArticles};
use stancemeter::segment::{into_paragraphs, longest_paragraph, split_text};
use stancemeter::{Error, Location};

/// The longest any one input (at most a few KB) may take; a case past it is a hang. Inputs
/// take microseconds; the margin is for a machine busy with other work.
const HANG: Duration = Duration::from_secs(10);

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
}

/// Runs `check` on `cases()` inputs from `strategy`, failing on a panic, a hang, or an
/// error `check` reports; prints how many ran and the slowest case.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(&S::Value) -> Result<(), String>)
where
    S::Value: std::fmt::Debug,
{
    let config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let slowest = std::cell::Cell::new(Duration::ZERO);
    let started = Instant::now();
    let result = runner.run(&strategy, |input| {
        let t = Instant::now();
        let outcome = check(&input);
        let took = t.elapsed();
        slowest.set(slowest.get().max(took));
        prop_assert!(took < HANG, "{name}: one input took {took:?}");
        outcome.map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    eprintln!("fuzz {name}: {} cases in {:?}, slowest {:?}", cases(), started.elapsed(), slowest.get());
}

/// Inputs: raw bytes, or a sequence of `fragments` and random bytes.
fn input(fragments: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => proptest::sample::select(fragments).prop_map(|f| f.to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 1..4),
    ];
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        4 => proptest::collection::vec(piece, 0..64).prop_map(|pieces| pieces.concat()),
    ]
}

/// Checks an error names the file and, when it names a line, one the input has.
fn names_its_place(e: &Error, file: &str, input: &[u8]) -> Result<(), String> {
    let text = e.to_string();
    if !text.starts_with(&format!("{file}:")) {
        return Err(format!("error does not start with the file name: {text:?}"));
    }
    let lines = input.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    if let Error::Record { at: Location { line, .. }, .. } = e {
        if *line > lines {
            return Err(format!("error names line {line} of a {lines}-line input: {text:?}"));
        }
    }
    Ok(())
}

const CSV: &[&[u8]] = &[
    b"id",
    b"text",
    b"title",
    b"outlet",
    b"label",
    b"article_id",
    b",",
    b",",
    b"\"",
    b"\"\"",
    b"\n",
    b"\n",
    b"\r\n",
    b"\r",
    b"a",
    b"Talks resumed.",
    b" ",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3\xa9",
    b"\t",
    b"=cmd",
    b"id,text\n",
    b"text,label\n",
    b"neutral",
    b"optimistic",
];

const JSONL: &[&[u8]] = &[
    b"{",
    b"}",
    b"\"id\"",
    b"\"text\"",
    b"\"paragraphs\"",
    b"\"label\"",
    b"\"outlet\"",
    b":",
    b",",
    b"[",
    b"]",
    b"\"a\"",
    b"\"Talks resumed.\"",
    b"1e2",
    b"-0",
    b"null",
    b"true",
    b"\n",
    b"\n",
    b"\r\n",
    b"\"\\u001b\"",
    b"\\",
    b"\"\\ud800\"",
    b"\xff",
    b" ",
    b"{\"id\":\"x\",\"text\":\"y\"}\n",
    b"\"neutral\"",
    b"\xef\xbb\xbf",
];

const TEXT: &[&[u8]] = &[
    b"Title",
    b"\n",
    b"\n\n",
    b"\r\n",
    b" ",
    b"\t",
    b"Talks resumed in Geneva.",
    b"Comments",
    b"By Anna Reyes",
    b"[Photo: AP]",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\xc2\xa0",
    b"\x1b[31m",
    b"\xe2\x80\xa8",
    b"word",
];

#[test]
fn fuzz_txt_reader() {
    fuzz("txt reader", input(TEXT), |bytes| match parse_text(&bytes[..], Path::new("fuzz.txt")) {
        Ok(article) if article.id != "fuzz" => Err(format!("id {:?} is not the file stem", article.id)),
        Ok(_) => Ok(()),
        Err(e) => names_its_place(&e, "fuzz.txt", bytes),
    });
}

#[test]
fn fuzz_jsonl_reader() {
    fuzz("jsonl reader", input(JSONL), |bytes| {
        for item in JsonlArticles::new(&bytes[..], Path::new("fuzz.jsonl")) {
            match item {
                Ok(a) if a.id.trim().is_empty() => return Err("an article with an empty id".into()),
                Ok(_) => {}
                Err(e) => names_its_place(&e, "fuzz.jsonl", bytes)?,
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_csv_reader() {
    fuzz("csv reader", input(CSV), |bytes| {
        for (n, item) in CsvArticles::new(&bytes[..], Path::new("fuzz.csv")).enumerate() {
            if n > bytes.len() + 1 {
                return Err("more records than bytes: the reader does not end".into());
            }
            match item {
                Ok(a) if a.id.is_empty() => return Err("an article with an empty id".into()),
                Ok(_) => {}
                Err(e) => names_its_place(&e, "fuzz.csv", bytes)?,
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_segmenter() {
    let text = || input(TEXT).prop_map(|b| String::from_utf8_lossy(&b).into_owned());
    let strategy = (text(), proptest::collection::vec(text(), 0..8));
    fuzz("segmenter", strategy, |(text, list): &(String, Vec<String>)| {
        let eager = split_text(text);
        let lazy: Vec<String> = into_paragraphs(Body::Text(text.to_string())).map(|p| p.text).collect();
        if eager != lazy {
            return Err(format!("lazy split {lazy:?} differs from {eager:?}"));
        }
        let longest = eager.iter().map(String::len).max().unwrap_or(0);
        if longest_paragraph(&Body::Text(text.to_string())) < longest {
            return Err("longest_paragraph is shorter than a paragraph".into());
        }
        let given: Vec<_> = into_paragraphs(Body::Paragraphs(list.clone())).collect();
        if given.len() != list.len() || given.iter().enumerate().any(|(i, p)| p.index != i) {
            return Err("given paragraphs lost their indexes".into());
        }
        Ok(())
    });
}

#[test]
fn fuzz_label_reader() {
    fuzz("label reader (jsonl)", input(JSONL), |bytes| match parse_jsonl(&bytes[..], Path::new("fuzz.jsonl")) {
        Ok(samples) if samples.iter().any(|s| s.text.trim().is_empty() || s.label.is_empty()) => {
            Err("a sample without text or label".into())
        }
        Ok(_) => Ok(()),
        Err(e) => names_its_place(&e, "fuzz.jsonl", bytes),
    });
    fuzz("label reader (csv)", input(CSV), |bytes| match parse_csv(&bytes[..], Path::new("fuzz.csv")) {
        Ok(_) => Ok(()),
        Err(e) => names_its_place(&e, "fuzz.csv", bytes),
    });
}

/// A small valid head file (two inputs), whose text the head fuzzer mutates.
fn small_head() -> String {
    let mut head = serde_json::json!({
        "format": "stancemeter-head/1",
        "id": "",
        "labels": ["optimistic", "neutral", "skeptical"],
        "encoder": {"name": "x", "onnx_sha256": "y"},
        "layers": [
            {"weights": [[0.5, -1.0], [2.0, 0.25]], "bias": [0.0, 0.1], "activation": "relu"},
            {"weights": [[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]], "bias": [0.0, 0.0, 0.5], "activation": "none"}
        ],
        "temperature": 1.5,
        "training": null,
        "validation": {"n": 0, "accuracy": 0.0, "macro_f1": 0.0, "brier": 0.0, "ece": 0.0}
    });
    let parsed: stancemeter::score::Head = serde_json::from_value(head.clone()).expect("a head");
    head["id"] = serde_json::json!(parsed.computed_id().expect("id"));
    serde_json::to_string_pretty(&head).expect("JSON")
}

/// A structured edit of the head's JSON: which field, and what goes there.
fn edit_head(head: &mut serde_json::Value, which: usize, index: usize, value: &serde_json::Value) {
    let (i, j) = (index % 2, index / 2 % 3);
    let field = match which {
        0 => format!("/layers/0/weights/{i}/{}", j % 2),
        1 => format!("/layers/1/bias/{j}"),
        2 => "/temperature".into(),
        3 => format!("/layers/{i}/weights/0"),
        4 => format!("/labels/{j}"),
        5 => format!("/layers/{i}/activation"),
        6 => "/id".into(),
        _ => "/format".into(),
    };
    match head.pointer_mut(&field) {
        Some(serde_json::Value::Array(row)) if which == 3 => {
            row.pop();
        }
        Some(slot) => *slot = value.clone(),
        None => {}
    }
}

#[test]
fn fuzz_head_loader() {
    let valid = small_head();
    let path = Path::new("fuzz-head.json");
    assert!(stancemeter::score::Head::parse(&valid, path).is_ok(), "the seed head must load");
    const TOKENS: &[&str] = &[
        "0",
        "1e39",
        "-1e39",
        "NaN",
        "null",
        "[]",
        "[[]]",
        "[1.0]",
        "\"\"",
        "\"relu\"",
        "\"none\"",
        "\"neutral\"",
        "{}",
        ",",
        "]",
        "}",
        "\"",
        "-",
        "1e-45",
        "true",
    ];
    let values: Vec<serde_json::Value> = [
        "0",
        "1e38",
        "-3e38",
        "1e-45",
        "-0.0",
        "null",
        "[]",
        "\"relu\"",
        "\"none\"",
        "\"neutral\"",
        "\"positive\"",
        "7",
        "\"head-000000000000\"",
        "\"stancemeter-head/2\"",
        "1e39",
    ]
    .iter()
    .map(|v| serde_json::from_str(v).unwrap_or(serde_json::Value::Null))
    .collect();
    let splice = proptest::collection::vec((0..valid.len(), 0..16usize, proptest::sample::select(TOKENS)), 1..6);
    let structured = proptest::collection::vec((0..8usize, 0..12usize, proptest::sample::select(values)), 1..4);
    let strategy = prop_oneof![splice.prop_map(Ok), structured.prop_map(Err)];
    let seed: serde_json::Value = serde_json::from_str(&valid).expect("seed JSON");
    let loaded = std::cell::Cell::new(0u64);
    fuzz("head loader", strategy, |edits| {
        let text = match edits {
            Ok(splices) => {
                let mut text = valid.clone().into_bytes();
                for (at, cut, token) in splices {
                    let at = (*at).min(text.len());
                    let end = (at + cut).min(text.len());
                    text.splice(at..end, token.bytes());
                }
                String::from_utf8_lossy(&text).into_owned()
            }
            Err(fields) => {
                let mut head = seed.clone();
                for (which, index, value) in fields {
                    edit_head(&mut head, *which, *index, value);
                }
                // Half the time, as if the edited head had been saved by `train`: a matching id.
                if fields.len() % 2 == 0 {
                    if let Ok(parsed) = serde_json::from_value::<stancemeter::score::Head>(head.clone()) {
                        head["id"] = serde_json::json!(parsed.computed_id().unwrap_or_default());
                    }
                }
                head.to_string()
            }
        };
        match stancemeter::score::Head::parse(&text, path) {
            Ok(head) => {
                loaded.set(loaded.get() + 1);
                let x = ndarray::Array2::from_elem((1, head.input_width()), 0.5f32);
                let probs = head.probabilities(x.view());
                if probs.iter().any(|p| !(0.0..=1.0).contains(p)) && probs.iter().all(|p| p.is_finite()) {
                    return Err(format!("a loaded head gives probabilities outside [0, 1]: {probs:?}"));
                }
                Ok(())
            }
            Err(e) if e.to_string().starts_with("fuzz-head.json: ") => Ok(()),
            Err(e) => Err(format!("error does not name the head file: {e}")),
        }
    });
    eprintln!("fuzz head loader: {} of the edited heads loaded", loaded.get());
}
