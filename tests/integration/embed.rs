//! `stancemeter embed` through the real binary: CSV and .npy agree with the library.

use crate::common::{assets, numbers, read_csv, stancemeter};

#[test]
fn embed_writes_csv_and_npy_with_one_row_per_input() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"text\":\"Talks resumed in Geneva.\"}\n\n{\"text\":\"Comments\"}\n").unwrap();
    stancemeter(dir.path(), &["embed", "in.jsonl", "--out", "e.csv"]).expect_code(0);
    let (headers, rows) = read_csv(&dir.path().join("e.csv"));
    assert_eq!(headers.len(), 3 + 384);
    assert_eq!(&headers[..4], &["index", "windows", "tokens", "e0"]);
    assert_eq!(rows.len(), 2);
    stancemeter(dir.path(), &["embed", "in.jsonl", "--out", "e.npy"]).expect_code(0);
    let npy = std::fs::read(dir.path().join("e.npy")).unwrap();
    assert!(npy.starts_with(b"\x93NUMPY"));
    assert_eq!(npy.len() % 64, (2 * 384 * 4) % 64, "header padded to 64 bytes");
    let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let data = &npy[10 + header_len..];
    assert_eq!(data.len(), 2 * 384 * 4);
    let first: f32 = f32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let csv_first = numbers(&headers, &rows, "e0")[0];
    assert!((f64::from(first) - csv_first).abs() < 1e-6);
}

#[test]
fn embed_reports_a_missing_model_with_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "Hello\n").unwrap();
    std::fs::write(dir.path().join("manifest.json"), r#"{"generated":[{"dest":"minilm/model.onnx","sha256":"ab","size":1}], "files":[{"dest":"onnxruntime/libonnxruntime.so.1.32.0","sha256":"cd","size":1}]}"#).unwrap();
    let run = stancemeter(dir.path(), &["embed", "in.txt", "--models", dir.path().to_str().unwrap()]);
    run.expect_code(1);
    assert!(run.stderr().contains("missing") && run.stderr().contains("bash models/fetch"), "{}", run.show());
}
