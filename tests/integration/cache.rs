//! The paragraph cache: repeated paragraphs (syndicated copy) are scored once, and the output
//! is the same bytes with the cache off, tiny (evicting all the time) or at its default.

use crate::common::{assets, root, stancemeter};

/// Demo articles, then each of them again under another outlet and id with one paragraph
/// changed, as wire copy is republished.
fn syndicated_corpus(dir: &std::path::Path) -> std::path::PathBuf {
    let demo = std::fs::read_to_string(root().join("data/demo/articles.jsonl")).unwrap();
    let mut lines: Vec<String> = demo.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
    let copies: Vec<String> = lines
        .iter()
        .take(20)
        .map(|line| {
            let mut a: serde_json::Value = serde_json::from_str(line).unwrap();
            a["id"] = format!("copy-{}", a["id"].as_str().unwrap()).into();
            a["outlet"] = "Syndicating Daily".into();
            a
        })
        .map(|a| a.to_string())
        .collect();
    lines.extend(copies);
    let path = dir.join("syndicated.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn cached_and_uncached_runs_write_the_same_bytes() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let input = syndicated_corpus(dir.path());
    let mut outputs = Vec::new();
    for cache in ["0", "3", "65536"] {
        let out = format!("out-{cache}");
        let run =
            stancemeter(dir.path(), &["score", input.to_str().unwrap(), "--out", &out, "--quiet", "--cache", cache]);
        run.expect_code(0);
        let read = |f: &str| std::fs::read(dir.path().join(&out).join(f)).unwrap();
        outputs.push((cache, read("paragraphs.csv"), read("articles.csv")));
    }
    let (_, p0, a0) = &outputs[0];
    assert!(p0.len() > 10_000, "the corpus was scored");
    for (cache, p, a) in &outputs[1..] {
        assert!(p == p0 && a == a0, "--cache {cache} changed the output");
    }
}
