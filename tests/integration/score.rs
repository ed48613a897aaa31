//! `stancemeter score` end to end: formats, columns, furniture, bad input, atomic output,
//! determinism and batch invariance.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{assets, column, files_in, read_csv, root, score, stancemeter, stancemeter_stdin};

const PARAGRAPH_COLUMNS: &[&str] = &[
    "article_id",
    "outlet",
    "paragraph",
    "kind",
    "label",
    "p_optimistic",
    "p_neutral",
    "p_skeptical",
    "stance",
    "windows",
    "words",
    "text",
];

const ARTICLE_COLUMNS: &[&str] = &[
    "article_id",
    "outlet",
    "date",
    "title",
    "url",
    "n_paragraphs",
    "n_scored",
    "stance_mean",
    "share_optimistic",
    "share_neutral",
    "share_skeptical",
    "net_tone",
    "polarity",
    "stance_sd",
    "lede_stance",
    "max_stance",
    "min_stance",
    "words",
    "lex_positive",
    "lex_negative",
    "lex_tone",
    "model",
    "head",
];

fn seed() -> std::path::PathBuf {
    root().join("data/samples/seed/witkoff-putin-moscow.txt")
}

#[test]
fn seed_article_gets_varied_labels_and_furniture_is_not_content() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let seed = seed();
    let run = score(dir.path(), &[seed.to_str().unwrap()], &[]);
    run.expect_code(0);
    let (headers, rows) = read_csv(&dir.path().join("out/paragraphs.csv"));
    assert_eq!(headers, PARAGRAPH_COLUMNS, "{}", run.show());
    let text = std::fs::read_to_string(&seed).unwrap();
    let body_lines = text.lines().filter(|l| !l.trim().is_empty()).count() - 1;
    assert_eq!(rows.len(), body_lines, "one row per line after the title");
    let kinds = column(&headers, &rows, "kind");
    let texts = column(&headers, &rows, "text");
    for (text, kind) in texts.iter().zip(&kinds) {
        let furniture =
            text.starts_with("![]") || text.contains("[Photo:") || *text == "Comments" || *text == "Post a Comment";
        assert_eq!(furniture, *kind != "content", "{text:?} is {kind}");
    }
    let labels: std::collections::BTreeSet<&str> = column(&headers, &rows, "label")
        .into_iter()
        .zip(&kinds)
        .filter(|(_, k)| **k == "content")
        .map(|(l, _)| l)
        .collect();
    assert!(labels.len() >= 2, "content paragraphs all got {labels:?}");
    for (p, s) in column(&headers, &rows, "p_optimistic").iter().zip(column(&headers, &rows, "stance")) {
        let (p, s): (f64, f64) = (p.parse().unwrap(), s.parse().unwrap());
        assert!((-1.0..=1.0).contains(&s) && (0.0..=1.0).contains(&p));
    }
    let (a_headers, articles) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!(a_headers, ARTICLE_COLUMNS);
    assert_eq!(articles.len(), 1);
    let content = kinds.iter().filter(|k| **k == "content").count().to_string();
    assert_eq!(column(&a_headers, &articles, "n_scored"), vec![content.as_str()]);
    assert_eq!(column(&a_headers, &articles, "article_id"), vec!["witkoff-putin-moscow"]);
    assert_eq!(column(&a_headers, &articles, "outlet"), vec!["seed"], "outlet of a .txt is its folder name");
    assert!(column(&a_headers, &articles, "head")[0].starts_with("head-"));
}

#[test]
fn all_three_formats_in_one_run_keep_input_order_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let samples = root().join("data/samples");
    score(dir.path(), &[samples.to_str().unwrap()], &[]).expect_code(0);
    let (h, articles) = read_csv(&dir.path().join("out/articles.csv"));
    // Folders are read in sorted order: articles.csv, articles.jsonl, seed/.
    let ids = column(&h, &articles, "article_id");
    assert_eq!(
        ids,
        vec![
            "sample-csv-01",
            "sample-csv-02",
            "sample-geneva-01",
            "sample-oped-02",
            "sample-grain-03",
            "witkoff-putin-moscow"
        ]
    );
    let (ph, paragraphs) = read_csv(&dir.path().join("out/paragraphs.csv"));
    let of_geneva = |name: &str| -> Vec<&str> {
        let ids = column(&ph, &paragraphs, "article_id");
        column(&ph, &paragraphs, name)
            .into_iter()
            .zip(ids)
            .filter(|(_, id)| *id == "sample-geneva-01")
            .map(|(v, _)| v)
            .collect()
    };
    assert_eq!(
        of_geneva("paragraph"),
        ["0", "1", "2", "3", "4", "5", "6"],
        "a given paragraph list keeps its positions"
    );
    assert_eq!(of_geneva("kind"), ["byline", "content", "content", "content", "caption", "content", "boilerplate"]);
}

#[test]
fn stdin_needs_a_format_and_reads_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let input =
        b"{\"id\":\"s1\",\"text\":\"Talks in Riyadh ended with both sides agreeing to meet again next week.\"}\n";
    let run = stancemeter_stdin(dir.path(), &["score", "-", "--out", "out", "--quiet"], Some(input));
    run.expect_code(2);
    assert!(run.stderr().contains("--format"), "{}", run.show());
    let run =
        stancemeter_stdin(dir.path(), &["score", "-", "--format", "jsonl", "--out", "out", "--quiet"], Some(input));
    run.expect_code(0);
    let (_, rows) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!(rows.len(), 1);
}

/// Bad inputs: (file name, bytes, message the error must contain).
pub const BAD_INPUTS: &[(&str, &[u8], &str)] = &[
    ("empty.jsonl", b"", "empty.jsonl: file is empty"),
    ("empty.txt", b"", "empty.txt: file is empty"),
    ("notjson.jsonl", b"{\"id\":\"ok1\",\"text\":\"Fine.\"}\nthis is not json\n", "notjson.jsonl:2: not a JSON object"),
    ("noid.jsonl", b"{\"text\":\"No id here.\"}\n", "noid.jsonl:1: missing field \"id\""),
    ("notext.jsonl", b"{\"id\":\"n1\",\"title\":\"T\"}\n", "notext.jsonl:1: article \"n1\": missing field \"text\""),
    ("columns.csv", b"id,body\nc1,Some text.\n", "columns.csv:1: header must have columns \"id\" and \"text\""),
    ("latin1.jsonl", b"{\"id\":\"l1\",\"text\":\"Caf\xe9 talks\"}\n", "latin1.jsonl:1: invalid UTF-8"),
    ("dupe.jsonl", b"{\"id\":\"good\",\"text\":\"Again.\"}\n", "dupe.jsonl:1: duplicate article id \"good\""),
    (
        "emptyarticle.jsonl",
        b"{\"id\":\"e1\",\"text\":\"   \"}\n",
        "emptyarticle.jsonl:1: article \"e1\" has empty \"text\"",
    ),
];

/// A folder with one good article (a-good.jsonl, read first) and the bad file `name`.
fn good_and_bad(name: &str, bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let good = b"{\"id\":\"good\",\"text\":\"Negotiators met in Geneva and agreed to continue talks.\"}\n";
    std::fs::write(dir.path().join("a-good.jsonl"), good).unwrap();
    std::fs::write(dir.path().join(name), bytes).unwrap();
    dir
}

#[test]
fn bad_records_are_skipped_with_file_and_line_and_exit_3() {
    for (name, bytes, message) in BAD_INPUTS {
        let dir = good_and_bad(name, bytes);
        let run = score(dir.path(), &["a-good.jsonl", name], &[]);
        run.expect_code(3);
        assert!(run.stderr().contains(message), "expected {message:?}\n{}", run.show());
        assert!(run.stderr().contains("skipped"), "{}", run.show());
        let (h, rows) = read_csv(&dir.path().join("out/articles.csv"));
        assert!(column(&h, &rows, "article_id").contains(&"good"), "{}", run.show());
    }
}

#[test]
fn strict_stops_at_the_first_bad_record_and_writes_nothing() {
    for (name, bytes, message) in BAD_INPUTS {
        let dir = good_and_bad(name, bytes);
        let run = score(dir.path(), &["a-good.jsonl", name], &["--strict"]);
        run.expect_code(1);
        assert!(run.stderr().contains(message), "expected {message:?}\n{}", run.show());
        assert_eq!(files_in(&dir.path().join("out")), Vec::<String>::new(), "output left behind\n{}", run.show());
    }
}

#[test]
fn nothing_readable_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.jsonl"), b"nope\n").unwrap();
    let run = score(dir.path(), &["bad.jsonl"], &[]);
    run.expect_code(1);
    assert!(run.stderr().contains("no article could be read"), "{}", run.show());
    assert_eq!(files_in(&dir.path().join("out")), Vec::<String>::new());
    let run = score(dir.path(), &["missing.jsonl"], &[]);
    run.expect_code(1);
    assert!(run.stderr().contains("missing.jsonl"), "{}", run.show());
    // The cause is in the message; it is not repeated as a "caused by" line.
    assert_eq!(run.stderr().matches("No such file").count(), 1, "{}", run.show());
}

#[test]
fn an_out_path_that_is_a_file_is_a_usage_error_and_the_file_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out"), b"keep me").unwrap();
    let samples = root().join("data/samples");
    let run = score(dir.path(), &[samples.to_str().unwrap()], &[]);
    run.expect_code(2);
    assert!(run.stderr().contains("--out out is a file; give a folder"), "{}", run.show());
    assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), b"keep me");
}

#[test]
fn same_input_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let samples = root().join("data/samples");
    let s = samples.to_str().unwrap();
    score(dir.path(), &[s], &[]).expect_code(0);
    let first = std::fs::read(dir.path().join("out/paragraphs.csv")).unwrap();
    let first_a = std::fs::read(dir.path().join("out/articles.csv")).unwrap();
    score(dir.path(), &[s], &[]).expect_code(0);
    assert_eq!(first, std::fs::read(dir.path().join("out/paragraphs.csv")).unwrap());
    assert_eq!(first_a, std::fs::read(dir.path().join("out/articles.csv")).unwrap());
}

fn stances(path: &Path, article: &str) -> Vec<(String, f64, f64)> {
    let (h, rows) = read_csv(path);
    let ids = column(&h, &rows, "article_id");
    let labels = column(&h, &rows, "label");
    let stance = column(&h, &rows, "stance");
    let p = column(&h, &rows, "p_neutral");
    (0..rows.len())
        .filter(|&i| ids[i] == article)
        .map(|i| (labels[i].to_string(), stance[i].parse().unwrap(), p[i].parse().unwrap()))
        .collect()
}

#[test]
fn an_article_scores_the_same_alone_and_inside_a_large_batch() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seed();
    let demo = root().join("data/demo/articles.jsonl");
    let out_alone = dir.path().join("alone");
    let out_batch = dir.path().join("batch");
    let run = |out: &Path, inputs: &[&str], batch: &str| {
        let mut args = vec!["score"];
        args.extend_from_slice(inputs);
        args.extend_from_slice(&["--out", out.to_str().unwrap(), "--quiet", "--batch-size", batch]);
        stancemeter(dir.path(), &args).expect_code(0);
    };
    run(&out_alone, &[seed.to_str().unwrap()], "1");
    run(&out_batch, &[demo.to_str().unwrap(), seed.to_str().unwrap()], "64");
    let alone = stances(&out_alone.join("paragraphs.csv"), "witkoff-putin-moscow");
    let batch = stances(&out_batch.join("paragraphs.csv"), "witkoff-putin-moscow");
    assert_eq!(alone.len(), batch.len());
    for (a, b) in alone.iter().zip(&batch) {
        assert_eq!(a.0, b.0);
        assert!((a.1 - b.1).abs() <= 2e-4 && (a.2 - b.2).abs() <= 2e-4, "{a:?} vs {b:?}");
    }
    let (h, articles) = read_csv(&out_batch.join("articles.csv"));
    assert!(column(&h, &articles, "article_id").len() > 60);
}

/// Polls `out` until its listing satisfies `done`, the child exits, or `timeout` passes;
/// returns the last listing and whether `done` held.
fn wait_for_files(
    child: &mut std::process::Child,
    out: &Path,
    timeout: Duration,
    done: impl Fn(&[String]) -> bool,
) -> (Vec<String>, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let files = files_in(out);
        if done(&files) {
            return (files, true);
        }
        if Instant::now() >= deadline || child.try_wait().expect("poll stancemeter").is_some() {
            return (files, false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_interrupted_run_leaves_no_finished_looking_file() {
    let dir = tempfile::tempdir().unwrap();
    let demo = root().join("data/demo/articles.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stancemeter"))
        .args(["score", demo.to_str().unwrap(), "--out", "out", "--quiet", "--batch-size", "1", "--threads", "1"])
        .current_dir(dir.path())
        .env("STANCEMETER_MODELS", root().join("models"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The partial files appear once the models are loaded; on a busy machine that takes a while.
    let is_partial = |f: &String| f.starts_with(".paragraphs.csv.") && f.ends_with(".partial");
    let (before, seen) = wait_for_files(&mut child, &dir.path().join("out"), Duration::from_secs(60), |files| {
        files.iter().any(is_partial)
    });
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().ok();
    child.wait().ok();
    assert!(seen, "no .paragraphs.csv.*.partial in out/ within 60 s (the run ended or stalled); saw {before:?}");
    assert!(still_running, "the run finished before it could be interrupted; make the input larger");
    let left = files_in(&dir.path().join("out"));
    assert!(!left.iter().any(|f| f == "paragraphs.csv" || f == "articles.csv"), "{left:?}");
    assert!(left.iter().all(|f| f.starts_with('.') && f.ends_with(".partial")), "{left:?}");
}
