//! `stancemeter embed`: one embedding per input line, for debugging the encoder.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::encode::{Embedding, Precision};
use crate::error::{Error, Location, Result};
use crate::output::{write_atomic, AtomicCsv};
use crate::settings::EncoderSettings;

/// What `embed` reads and writes.
#[derive(Debug, Clone)]
pub struct EmbedSettings {
    /// A text file (one paragraph per non-empty line) or JSONL with a "text" field; `-` is stdin.
    pub input: PathBuf,
    /// Output: `.npy` (float32 `[n, 384]`) or CSV (`index,windows,tokens,e0..e383`); `None` is
    /// CSV on stdout.
    pub out: Option<PathBuf>,
    /// The encoder (fp32 unless it names a precision).
    pub encoder: EncoderSettings,
}

/// Reads the inputs of `embed`: JSONL (by extension) takes each line's "text"; anything else
/// takes each non-empty line.
pub fn read_inputs(path: &Path) -> Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(crate::output::open(path)?))
    };
    let jsonl = path.extension().is_some_and(|e| e == "jsonl");
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let at = Location::line(path, i as u64 + 1);
        let line = line.map_err(|e| Error::record(at.clone(), format!("cannot read line ({e})")))?;
        if line.trim().is_empty() {
            continue;
        }
        if jsonl {
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| Error::record(at.clone(), format!("not JSON ({e})")))?;
            let text = value.get("text").and_then(|t| t.as_str());
            out.push(text.ok_or_else(|| Error::record(at, "missing field \"text\""))?.to_string());
        } else {
            out.push(line);
        }
    }
    if out.is_empty() {
        return Err(Error::record(Location::file(path), "no text to embed"));
    }
    Ok(out)
}

/// Runs `embed`: reads the inputs, loads the encoder (fp32 unless told otherwise) and writes.
pub fn run(settings: &EmbedSettings) -> Result<()> {
    let texts = read_inputs(&settings.input)?;
    let mut encoder = settings.encoder.encoder(&settings.encoder.assets()?, Precision::Fp32)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let embeddings = encoder.embed(&refs)?;
    match &settings.out {
        Some(path) if path.extension().is_some_and(|e| e == "npy") => write_atomic(path, &npy(&embeddings)),
        Some(path) => {
            let mut csv = AtomicCsv::create(path)?;
            csv.write(&header())?;
            for (i, e) in embeddings.iter().enumerate() {
                csv.write(&row(i, e))?;
            }
            csv.commit()
        }
        None => {
            let stdout = std::io::stdout();
            let mut writer = csv::Writer::from_writer(stdout.lock());
            let rows = std::iter::once(header()).chain(embeddings.iter().enumerate().map(|(i, e)| row(i, e)));
            for r in rows {
                writer.write_record(&r).map_err(|source| Error::Csv { path: "-".into(), source })?;
            }
            writer.flush().map_err(|e| Error::io("-", e))
        }
    }
}

fn header() -> Vec<String> {
    let names = ["index", "windows", "tokens"].map(String::from);
    names.into_iter().chain((0..crate::encode::DIM).map(|i| format!("e{i}"))).collect()
}

fn row(index: usize, e: &Embedding) -> Vec<String> {
    let counts = [index, e.windows, e.tokens].map(|n| n.to_string());
    counts.into_iter().chain(e.vector.iter().map(|v| v.to_string())).collect()
}

/// A float32 `.npy` file (format version 1.0) holding the vectors.
fn npy(embeddings: &[Embedding]) -> Vec<u8> {
    let dim = embeddings.first().map_or(crate::encode::DIM, |e| e.vector.len());
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}", embeddings.len());
    // Magic (6) + version (2) + length (2) + header + newline must be a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for e in embeddings {
        e.vector.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }
    out
}
