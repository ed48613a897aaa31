//! Shared helpers: run the binary, show everything on failure, locate fixtures and models.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stancemeter::assets::Assets;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fetched models; fails loudly (never skips) when they are missing.
pub fn assets() -> Assets {
    let assets = Assets::open(&root().join("models")).expect("models/manifest.json");
    if let Err(e) = assets.verified(stancemeter::assets::ONNX_MODEL, false) {
        panic!("{e}\nThese tests need the fetched model: run `bash models/fetch` (tests/run does it).");
    }
    assets
}

/// The result of one run of the binary.
pub struct Run {
    pub command: String,
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    /// Everything about the run, for assertion messages.
    pub fn show(&self) -> String {
        format!(
            "command: {}\nexit: {}\nstdout:\n{}\nstderr:\n{}",
            self.command,
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts the exit code, showing the run if it differs.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code(), code, "unexpected exit code\n{}", self.show());
        self
    }
}

/// Runs stancemeter with `args` in `dir`.
pub fn stancemeter(dir: &Path, args: &[&str]) -> Run {
    stancemeter_stdin(dir, args, None)
}

/// `stancemeter score INPUTS --out out --quiet EXTRA` in `dir`.
pub fn score(dir: &Path, inputs: &[&str], extra: &[&str]) -> Run {
    let mut args = vec!["score"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(&["--out", "out", "--quiet"]);
    args.extend_from_slice(extra);
    stancemeter(dir, &args)
}

/// Starts a slow `score` of the demo corpus into `dir/out` (one thread, batches of one) with
/// `extra` flags, and waits until it is writing its temporary files.
pub fn start_slow_run(dir: &Path, extra: &[&str]) -> std::process::Child {
    let demo = root().join("data/demo/articles.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_stancemeter"))
        .args(["score", demo.to_str().unwrap(), "--out", "out", "--quiet", "--batch-size", "1", "--threads", "1"])
        .args(extra)
        .current_dir(dir)
        .env("STANCEMETER_MODELS", root().join("models"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !files_in(&dir.join("out")).iter().any(|f| f.ends_with(".partial")) {
        assert!(std::time::Instant::now() < deadline, "the run never started writing");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// Sends the signal `name` (INT, TERM, ...) to `child`.
pub fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill").args(["-s", name, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Runs stancemeter with `args` in `dir`, feeding `stdin`.
pub fn stancemeter_stdin(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    stancemeter_with(dir, args, stdin, &root().join("models"))
}

/// Runs stancemeter with `args` in `dir`, feeding `stdin`, with `models` as its models folder.
pub fn stancemeter_with(dir: &Path, args: &[&str], stdin: Option<&[u8]>, models: &Path) -> Run {
    use std::io::Write;
    let exe = env!("CARGO_BIN_EXE_stancemeter");
    let command = format!("(cd {} && STANCEMETER_MODELS={} {exe} {})", dir.display(), models.display(), args.join(" "));
    let mut cmd = Command::new(exe);
    cmd.args(args).current_dir(dir).env("STANCEMETER_MODELS", models);
    cmd.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn stancemeter");
    if let Some(bytes) = stdin {
        // A run that refuses its command line exits without reading stdin; the broken pipe that
        // leaves is not the test's failure (the exit code and stderr are checked instead).
        if let Err(e) = child.stdin.take().expect("stdin").write_all(bytes) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    let output = child.wait_with_output().expect("wait for stancemeter");
    Run { command, output }
}

/// Reads a CSV into a header and rows of strings.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().expect("headers").iter().map(String::from).collect();
    let rows = reader.records().map(|r| r.expect("record").iter().map(String::from).collect()).collect();
    (headers, rows)
}

/// The column `name` of `rows`.
pub fn column<'a>(headers: &[String], rows: &'a [Vec<String>], name: &str) -> Vec<&'a str> {
    let i = headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {headers:?}"));
    rows.iter().map(|r| r[i].as_str()).collect()
}

/// The column `name` of `rows` as numbers; an empty cell (no value) is NaN.
pub fn numbers(headers: &[String], rows: &[Vec<String>], name: &str) -> Vec<f64> {
    let parse = |v: &str| v.parse().unwrap_or_else(|e| panic!("column {name}: {v:?} is not a number ({e})"));
    column(headers, rows, name).into_iter().map(|v| if v.is_empty() { f64::NAN } else { parse(v) }).collect()
}

/// Files left in a folder (names), sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// The numpy reference embeddings (tests/golden/reference_embeddings.json).
#[derive(serde::Deserialize)]
pub struct Golden {
    pub model_sha256: String,
    pub items: Vec<GoldenItem>,
}

/// One reference paragraph.
#[derive(serde::Deserialize)]
pub struct GoldenItem {
    pub text: String,
    pub windows: usize,
    pub embedding: Vec<f32>,
}

pub fn golden() -> Golden {
    let path = root().join("tests/golden/reference_embeddings.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("golden file")).expect("golden JSON")
}

/// Checks that an encoder gives every golden paragraph the same vector (max abs diff 1e-5)
/// alone, in batches of 1, 7 and 32, and with the batch order reversed.
pub fn assert_batch_invariant(make: impl Fn(usize) -> stancemeter::encode::Encoder) {
    let golden = golden();
    let texts: Vec<&str> = golden.items.iter().map(|i| i.text.as_str()).collect();
    let alone: Vec<Vec<f32>> = {
        let mut enc = make(1);
        texts.iter().map(|t| enc.embed(&[*t]).expect("embed")[0].vector.clone()).collect()
    };
    let mut reversed: Vec<&str> = texts.clone();
    reversed.reverse();
    for batch in [1, 7, 32] {
        let mut enc = make(batch);
        let forward = enc.embed(&texts).expect("embed");
        let backward = enc.embed(&reversed).expect("embed");
        for (i, a) in alone.iter().enumerate() {
            let b = &backward[texts.len() - 1 - i].vector;
            for other in [&forward[i].vector, b] {
                let diff = a.iter().zip(other).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
                assert!(diff <= 1e-5, "batch {batch}: paragraph {i} differs by {diff}");
            }
        }
    }
}
