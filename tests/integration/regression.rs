//! Regression tests for issue #12: each is named after what broke, runs the real binary where
//! the fault is visible to a user, and is listed in docs/reliability.md with what the user gets.

use std::path::{Path, PathBuf};

use crate::common::{column, files_in, read_csv, root, score, signal, stancemeter, stancemeter_with, start_slow_run};

/// One good JSONL article.
const GOOD: &[u8] =
    b"{\"id\":\"good\",\"text\":\"Negotiators met in Geneva and agreed to continue talks next week.\"}\n";

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

// 1: a CSV with an unclosed quote silently merges records.

const UNCLOSED: &[u8] =
    b"id,text\nu1,\"never closed.\nu2,\"Second paragraph of talks.\"\nu3,\"Talks resumed in Geneva.\"\n";

#[test]
fn csv_unclosed_quote_is_a_bad_record_not_a_merged_paragraph() {
    let dir = folder(&[("x.csv", UNCLOSED)]);
    let run = score(dir.path(), &["x.csv"], &[]);
    run.expect_code(3);
    assert_contains(
        &run,
        "skipped: x.csv:2: malformed CSV record: the quoted field that opens on line 2 closes on line 3",
    );
    let (h, rows) = read_csv(&dir.path().join("out/paragraphs.csv"));
    assert_eq!(column(&h, &rows, "article_id"), vec!["u3"], "{}", run.show());
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    let run = score(dir.path(), &["x.csv"], &["--strict"]);
    run.expect_code(1);
    assert_contains(&run, "x.csv:2: malformed CSV record");
    assert_eq!(files_in(&dir.path().join("out")), Vec::<String>::new(), "{}", run.show());
}

#[test]
fn csv_quote_open_to_the_end_of_the_file_is_a_bad_record() {
    let dir = folder(&[("a.jsonl", GOOD), ("x.csv", b"id,text\nu1,\"never closed.\nu2,Second.\nu3,Third.\n")]);
    let run = score(dir.path(), &["a.jsonl", "x.csv"], &[]);
    run.expect_code(3);
    assert_contains(&run, "x.csv:2: malformed CSV record: the quoted field that opens on line 2 is never closed");
}

#[test]
fn labeled_csv_with_an_unclosed_quote_is_refused_with_its_line() {
    let dir = folder(&[("l.csv", b"text,label\n\"open,neutral\nTalks resumed.,\"optimistic\"\n")]);
    let run = stancemeter(dir.path(), &["eval", "--labels", "l.csv"]);
    run.expect_code(1);
    assert_contains(&run, "l.csv:2: malformed CSV record: the quoted field that opens on line 2");
}

// 13: numeric JSONL ids.

#[test]
fn numeric_jsonl_id_is_a_bad_record_that_says_to_quote_it() {
    let dir = folder(&[("a.jsonl", GOOD), ("n.jsonl", b"{\"id\":1e2,\"text\":\"Talks resumed in Geneva.\"}\n")]);
    let run = score(dir.path(), &["a.jsonl", "n.jsonl"], &[]);
    run.expect_code(3);
    assert_contains(&run, "n.jsonl:1: \"id\" is the number 100.0; ids must be strings");
    let (h, rows) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!(column(&h, &rows, "article_id"), vec!["good"]);
}

// 15: an unreadable file aborts the whole run.

/// Runs `score` as an unprivileged user when the tests run as root (root reads any file).
fn score_unprivileged(dir: &Path, inputs: &[&str], extra: &[&str]) -> crate::common::Run {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let root_user = std::fs::read(dir.join("secret.jsonl")).is_ok();
    let mut args = vec!["score"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(&["--out", "out", "--quiet"]);
    args.extend_from_slice(extra);
    let exe = env!("CARGO_BIN_EXE_stancemeter");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(&args).current_dir(dir).env("STANCEMETER_MODELS", root().join("models"));
    if root_user {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        cmd.uid(65534).gid(65534);
    }
    let output = cmd.output().unwrap();
    crate::common::Run { command: format!("(cd {} && {exe} {})", dir.display(), args.join(" ")), output }
}

#[test]
fn unreadable_file_is_skipped_as_a_bad_record_and_strict_stops() {
    use std::os::unix::fs::PermissionsExt;
    let dir = folder(&[("a.jsonl", GOOD), ("secret.jsonl", GOOD)]);
    let secret = dir.path().join("secret.jsonl");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::os::unix::fs::symlink("nowhere.jsonl", dir.path().join("dangling.jsonl")).unwrap();
    let run = score_unprivileged(dir.path(), &["."], &[]);
    run.expect_code(3);
    assert!(run.stderr().contains("skipped: ./secret.jsonl: cannot be read (Permission denied"), "{}", run.show());
    assert_contains(&run, "skipped: ./dangling.jsonl: cannot be read (No such file");
    let (h, rows) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!(column(&h, &rows, "article_id"), vec!["good"]);
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    let run = score_unprivileged(dir.path(), &["."], &["--strict"]);
    run.expect_code(1);
    assert_contains(&run, "dangling.jsonl: cannot be read");
    assert_eq!(files_in(&dir.path().join("out")), Vec::<String>::new());
}

// 16: a header-only CSV is accepted silently.

#[test]
fn header_only_csv_is_reported_and_strict_refuses_it() {
    let dir = folder(&[("a.jsonl", GOOD), ("h.csv", b"id,text\n")]);
    let run = score(dir.path(), &["a.jsonl", "h.csv"], &[]);
    run.expect_code(3);
    assert_contains(&run, "skipped: h.csv: has a header but no articles");
    let run = score(dir.path(), &["a.jsonl", "h.csv"], &["--strict"]);
    run.expect_code(1);
    assert_contains(&run, "h.csv: has a header but no articles");
}

// 6: hangs on a FIFO and on symlinks that loop.

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

/// Runs `score` with a deadline: a hang fails the test instead of stalling the suite.
fn score_within(dir: &Path, args: &[&str], seconds: u64) -> crate::common::Run {
    let exe = env!("CARGO_BIN_EXE_stancemeter");
    let mut child = std::process::Command::new(exe)
        .args(args)
        .current_dir(dir)
        .env("STANCEMETER_MODELS", root().join("models"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("stancemeter {} hung for {seconds} s", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    crate::common::Run { command: format!("(cd {} && {exe} {})", dir.display(), args.join(" ")), output }
}

#[test]
fn fifo_in_a_folder_is_passed_over_and_a_named_fifo_is_refused() {
    let dir = folder(&[("in/a.jsonl", GOOD)]);
    mkfifo(&dir.path().join("in/pipe.txt"));
    let run = score_within(dir.path(), &["score", "in", "--out", "out", "--quiet"], 60);
    run.expect_code(0);
    assert_contains(&run, "passed over in/pipe.txt: it is a named pipe (FIFO), not a file");
    let run = score_within(dir.path(), &["score", "in/pipe.txt", "--out", "out", "--quiet"], 60);
    run.expect_code(2);
    assert_contains(&run, "in/pipe.txt: is a named pipe (FIFO), not a regular file; to read from a pipe, give `-`");
}

#[test]
fn symlinks_that_loop_are_searched_once() {
    let dir = folder(&[("in/a.jsonl", GOOD)]);
    std::os::unix::fs::symlink(".", dir.path().join("in/self")).unwrap();
    std::os::unix::fs::symlink("..", dir.path().join("in/parent")).unwrap();
    let run = score_within(dir.path(), &["score", "in", "--out", "out", "--quiet"], 60);
    run.expect_code(0);
    assert_contains(&run, "passed over in/self: it is");
    assert_contains(&run, "already searched (a link back to it)");
    let (h, rows) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!(column(&h, &rows, "article_id"), vec!["good"], "{}", run.show());
}

// 3, 4, 7: the output pair, concurrent runs, stray temporary files.

#[test]
fn second_file_that_cannot_be_committed_leaves_neither_file() {
    let dir = folder(&[("a.jsonl", GOOD)]);
    std::fs::create_dir_all(dir.path().join("out/articles.csv/x")).unwrap();
    let run = score(dir.path(), &["a.jsonl"], &[]);
    run.expect_code(1);
    assert_contains(&run, "out/articles.csv: is a folder where the output file goes");
    assert_eq!(files_in(&dir.path().join("out")), vec!["articles.csv"], "{}", run.show());
}

#[test]
fn concurrent_runs_into_one_out_are_refused_while_the_first_writes() {
    let dir = folder(&[("a.jsonl", GOOD)]);
    let mut first = start_slow_run(dir.path(), &[]);
    let second = score(dir.path(), &["a.jsonl"], &[]);
    let still_running = first.try_wait().unwrap().is_none();
    signal(&first, "TERM");
    first.wait().unwrap();
    assert!(still_running, "the first run ended before the second started; the test proves nothing");
    second.expect_code(1);
    assert_contains(&second, "out: another stancemeter run is writing into this folder");
    assert!(!files_in(&dir.path().join("out")).iter().any(|f| f.ends_with(".csv")), "{}", second.show());
}

#[test]
fn sigint_and_sigterm_remove_the_partial_files() {
    for (name, format) in [("INT", "csv"), ("TERM", "csv"), ("INT", "parquet"), ("TERM", "parquet")] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = start_slow_run(dir.path(), &["--out-format", format]);
        let partial = files_in(&dir.path().join("out"));
        assert!(partial.iter().any(|f| f.starts_with(&format!(".paragraphs.{format}."))), "{partial:?}");
        signal(&child, name);
        let status = child.wait().unwrap();
        assert!(!status.success(), "SIG{name}, {format}: {status:?}");
        assert_eq!(files_in(&dir.path().join("out")), Vec::<String>::new(), "SIG{name} left {format} files behind");
    }
}

#[test]
fn partial_files_of_a_killed_run_are_swept_by_the_next_run() {
    let dir = folder(&[("a.jsonl", GOOD)]);
    let mut child = start_slow_run(dir.path(), &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::write(dir.path().join("out/.notes.csv.abcdef.partial"), "not ours").unwrap();
    let left = files_in(&dir.path().join("out"));
    assert_eq!(left.iter().filter(|f| f.ends_with(".partial")).count(), 3, "{left:?}");
    let run = score(dir.path(), &["a.jsonl"], &[]);
    run.expect_code(0);
    assert_contains(&run, "removed 2 temporary files an interrupted run left in out");
    assert_eq!(
        files_in(&dir.path().join("out")),
        vec![".notes.csv.abcdef.partial", "articles.csv", "paragraphs.csv"],
        "{}",
        run.show()
    );
}

// 5: spreadsheet formula injection.

#[test]
fn formula_leading_cells_are_neutralised_unless_raw_cells() {
    let article = serde_json::json!({
        "id": "=HYPERLINK(\"http://x\",\"y\")",
        "outlet": "+Wire",
        "title": "@Title",
        "date": "-2025",
        "paragraphs": ["-Talks collapsed after Moscow rejected the proposal outright.", "=1+1 said nothing."]
    });
    let dir = folder(&[("f.jsonl", format!("{article}\n").as_bytes())]);
    let run = score(dir.path(), &["f.jsonl"], &[]);
    run.expect_code(0);
    let (h, rows) = read_csv(&dir.path().join("out/paragraphs.csv"));
    assert_eq!(column(&h, &rows, "article_id")[0], "'=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(column(&h, &rows, "outlet")[0], "'+Wire");
    assert_eq!(
        column(&h, &rows, "text"),
        vec!["'-Talks collapsed after Moscow rejected the proposal outright.", "'=1+1 said nothing."]
    );
    let stance: f64 = column(&h, &rows, "stance")[0].parse().expect("stance stays a number");
    assert!(stance < 0.0, "a skeptical paragraph has a negative stance: {stance}");
    let (h, rows) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!((column(&h, &rows, "title")[0], column(&h, &rows, "date")[0]), ("'@Title", "'-2025"));
    let run = score(dir.path(), &["f.jsonl"], &["--raw-cells"]);
    run.expect_code(0);
    let (h, rows) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!(column(&h, &rows, "article_id")[0], "=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(column(&h, &rows, "outlet")[0], "+Wire");
}

// 10: the ONNX Runtime library was only size-checked.

#[test]
fn runtime_library_with_a_flipped_byte_is_refused_naming_the_file_and_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(models.join("onnxruntime")).unwrap();
    std::fs::create_dir_all(models.join("heads")).unwrap();
    let real = root().join("models");
    for file in ["manifest.json", "heads/default.json"] {
        std::fs::copy(real.join(file), models.join(file)).unwrap();
    }
    for linked in ["minilm", "vader"] {
        std::os::unix::fs::symlink(std::fs::canonicalize(real.join(linked)).unwrap(), models.join(linked)).unwrap();
    }
    let library = stancemeter::assets::RUNTIME_LIBRARY;
    let mut bytes = std::fs::read(real.join(library)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(models.join(library), bytes).unwrap();
    std::fs::write(dir.path().join("a.jsonl"), GOOD).unwrap();
    let run = stancemeter_with(dir.path(), &["score", "a.jsonl", "--out", "out", "--quiet"], None, &models);
    run.expect_code(1);
    assert_contains(&run, "libonnxruntime.so.1.32.0: sha256");
    assert_contains(&run, "run `bash models/fetch`");
    assert!(!dir.path().join("out/paragraphs.csv").exists());
}

// 11: an edited head keeps its id.

#[test]
fn edited_head_whose_id_no_longer_matches_its_weights_is_refused() {
    let dir = folder(&[("a.jsonl", GOOD)]);
    let mut head = default_head();
    let w = head["layers"][1]["weights"][0][0].as_f64().unwrap();
    head["layers"][1]["weights"][0][0] = serde_json::json!(w + 0.5);
    write_json(&dir.path().join("edited.json"), &head);
    let run = score(dir.path(), &["a.jsonl"], &["--head", "edited.json"]);
    run.expect_code(1);
    assert_contains(&run, "edited.json: its id \"head-");
    assert_contains(&run, "does not match its weights");
    assert_contains(&run, "retrain it with `stancemeter train`");
    let shipped = stancemeter::score::Head::load(&root().join("models/heads/default.json")).expect("shipped head");
    assert_eq!(shipped.computed_id().unwrap(), shipped.id, "the shipped head's id is its weights' hash");
}

// 12: terminal escape sequences from input echoed raw.

#[test]
fn escape_sequences_from_input_never_reach_the_terminal_raw() {
    let dup = b"{\"id\":\"dup\\u001b[31mred\",\"text\":\"Talks resumed in Geneva today.\"}\n";
    let mut twice = dup.to_vec();
    twice.extend_from_slice(dup);
    twice.extend_from_slice(b"{\"id\":\"x\",\"text\":7,\"title\":\"\\u001b]0;pwned\\u0007\"}\n");
    let dir = folder(&[("d.jsonl", &twice), ("e\x1b[2J.jsonl", b"not json\n")]);
    let out = "out\x1b[5m";
    let run = stancemeter(dir.path(), &["score", "d.jsonl", "e\x1b[2J.jsonl", "--out", out, "--quiet"]);
    run.expect_code(3);
    assert!(!run.output.stderr.contains(&0x1b) && !run.output.stderr.contains(&0x07), "raw escapes\n{}", run.show());
    assert_contains(&run, "d.jsonl:2: duplicate article id \"dup\\u{1b}[31mred\"");
    assert_contains(&run, "e\\u{1b}[2J.jsonl:1: not a JSON object");
    assert_contains(&run, "wrote out\\u{1b}[5m/paragraphs.csv");
    let run = stancemeter(dir.path(), &["score", "d.jsonl", "--out", out, "--quiet", "--strict"]);
    run.expect_code(1);
    assert!(!run.output.stderr.contains(&0x1b), "raw escapes in the error\n{}", run.show());
}

// 2: memory is not flat for one huge record.

#[test]
fn paragraph_over_the_cap_is_a_bad_record_with_the_cap_and_the_remedy() {
    let huge = serde_json::json!({"id": "huge", "text": "ceasefire ".repeat(110_000)});
    let mut bytes = GOOD.to_vec();
    bytes.extend_from_slice(format!("{huge}\n").as_bytes());
    let dir = folder(&[("h.jsonl", &bytes)]);
    let run = score(dir.path(), &["h.jsonl"], &[]);
    run.expect_code(3);
    assert_contains(&run, "h.jsonl:2: article \"huge\": a paragraph of 1.1 MB is longer than the 1 MiB one paragraph");
    assert_contains(&run, "split it at its paragraph breaks");
    let (h, rows) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!(column(&h, &rows, "article_id"), vec!["good"]);
}

#[test]
fn jsonl_line_over_the_cap_is_a_bad_record_and_the_next_line_is_read() {
    let mut bytes = b"{\"id\":\"long\",\"text\":\"".to_vec();
    bytes.resize(stancemeter::input::MAX_RECORD_BYTES as usize + 10, b'x');
    bytes.extend_from_slice(b"\"}\n");
    bytes.extend_from_slice(GOOD);
    let dir = folder(&[("l.jsonl", &bytes)]);
    let run = score(dir.path(), &["l.jsonl"], &[]);
    run.expect_code(3);
    assert_contains(&run, "l.jsonl:1: the line is larger than 64 MiB, the most one article may take");
    let (h, rows) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!(column(&h, &rows, "article_id"), vec!["good"]);
}

#[test]
fn article_of_many_paragraphs_is_scored_in_chunks_with_exact_metrics() {
    let paragraph = |i: usize| {
        if i.is_multiple_of(100) {
            format!("Negotiators said on day {i} that the talks had made real progress toward a ceasefire.")
        } else {
            format!("Day {i} of talks")
        }
    };
    let article = serde_json::json!({"id": "long", "paragraphs": (0..6000).map(paragraph).collect::<Vec<_>>()});
    let dir = folder(&[("long.jsonl", format!("{article}\n").as_bytes())]);
    let run = score(dir.path(), &["long.jsonl"], &[]);
    run.expect_code(0);
    let (h, rows) = read_csv(&dir.path().join("out/paragraphs.csv"));
    assert_eq!(rows.len(), 6000, "{}", run.show());
    let index: Vec<usize> = column(&h, &rows, "paragraph").iter().map(|p| p.parse().unwrap()).collect();
    assert!(index.iter().enumerate().all(|(i, p)| i == *p), "rows keep article order across chunks");
    let (kinds, stances, words) = (column(&h, &rows, "kind"), column(&h, &rows, "stance"), column(&h, &rows, "words"));
    let (mut weighted, mut weight, mut scored) = (0.0, 0.0, 0);
    for i in (0..rows.len()).filter(|&i| kinds[i] == "content") {
        let w: f64 = words[i].parse().unwrap();
        weighted += stances[i].parse::<f64>().unwrap() * w;
        weight += w;
        scored += 1;
    }
    let (ah, articles) = read_csv(&dir.path().join("out/articles.csv"));
    assert_eq!(column(&ah, &articles, "n_paragraphs"), vec!["6000"]);
    assert_eq!(column(&ah, &articles, "n_scored"), vec![scored.to_string().as_str()]);
    let mean: f64 = column(&ah, &articles, "stance_mean")[0].parse().unwrap();
    assert!((mean - weighted / weight).abs() < 1e-3, "article mean {mean} from rows {}", weighted / weight);
}

// 20: the README's sample rows do not match what this build writes.

/// The ```csv blocks of the README, as lines.
fn readme_csv_blocks() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim()) {
            (None, "```csv") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(lines), _) => lines.push(line.to_string()),
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn readme_sample_header_and_rows_are_what_this_build_writes() {
    let dir = tempfile::tempdir().unwrap();
    let samples = root().join("data/samples");
    score(dir.path(), &[samples.to_str().unwrap()], &[]).expect_code(0);
    let blocks = readme_csv_blocks();
    assert_eq!(blocks.len(), 2, "the README shows paragraphs.csv and articles.csv");
    for (block, file) in blocks.iter().zip(["paragraphs.csv", "articles.csv"]) {
        let written = std::fs::read_to_string(dir.path().join("out").join(file)).unwrap();
        let written: Vec<&str> = written.lines().collect();
        // Shortened lines end in "..." (or `..."` inside a quoted field): the rest must match.
        let shown = |line: &str| line.trim_end_matches('"').trim_end_matches("...").to_string();
        let header = &block[0];
        if header.ends_with("...") {
            assert!(written[0].starts_with(&shown(header)), "README header {header:?} vs {:?}", written[0]);
        } else {
            assert_eq!(header, written[0], "README header of {file}");
        }
        for row in &block[1..] {
            assert!(
                written.iter().any(|w| w.starts_with(&shown(row))),
                "README row of {file} is not what this build writes:\n{row}\nwritten:\n{}\n\
                 regenerate it: stancemeter score data/samples --out out",
                written.join("\n")
            );
        }
    }
}
