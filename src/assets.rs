//! Model assets: where the fetched files live and whether they match models/manifest.json.
//!
//! The binary finds the models folder without environment variables: an explicit
//! `--models DIR`, else `STANCEMETER_MODELS`, else `./models` when it holds a manifest,
//! else the folder of the checkout the binary was built from.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The fetched files stancemeter loads, relative to the models folder.
pub const ONNX_MODEL: &str = "minilm/model.onnx";
/// The same graph with 8-bit integer linear layers (`convert_onnx.py --precision int8`).
pub const ONNX_MODEL_INT8: &str = "minilm/model.int8.onnx";
/// The tokenizer definition shipped with the model.
pub const TOKENIZER: &str = "minilm/tokenizer.json";
/// The fp32 weights the ONNX graph is converted from (read directly by the rust-bert backend).
pub const SAFETENSORS_MODEL: &str = "minilm/model.safetensors";
/// The model's BERT configuration.
pub const MODEL_CONFIG: &str = "minilm/config.json";
/// The ONNX Runtime shared library from the onnxruntime wheel.
pub const RUNTIME_LIBRARY: &str = "onnxruntime/libonnxruntime.so.1.32.0";
/// The VADER sentiment lexicon (MIT licence) used for the lexicon tone columns.
pub const LEXICON: &str = "vader/vader_lexicon.txt";
/// The default stance head, trained by `stancemeter train` and committed.
pub const DEFAULT_HEAD: &str = "heads/default.json";
/// Folder (in the models folder) of the graphs models/fetch builds from fine-tuning adapters.
pub const FINETUNED_DIR: &str = "finetuned";

/// The fp32 graph built from the adapter file `adapter` (`heads/NAME.adapter.safetensors`
/// gives `finetuned/NAME.onnx`).
pub fn finetuned_graph(adapter: &Path) -> String {
    let file = adapter.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let name = file.strip_suffix(".adapter.safetensors").or_else(|| file.strip_suffix(".safetensors")).unwrap_or(&file);
    format!("{FINETUNED_DIR}/{name}.onnx")
}

/// The int8 sibling of an fp32 graph (`x.onnx` -> `x.int8.onnx`).
pub fn int8_graph(fp32: &str) -> String {
    match fp32.strip_suffix(".onnx") {
        Some(stem) => format!("{stem}.int8.onnx"),
        None => format!("{fp32}.int8"),
    }
}

/// One file the manifest promises.
#[derive(Debug, Clone)]
pub struct ManifestEntry {
    /// Path relative to the models folder.
    pub dest: String,
    /// Hex sha256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The models folder and its manifest.
#[derive(Debug, Clone)]
pub struct Assets {
    root: PathBuf,
    entries: Vec<ManifestEntry>,
    /// Files whose sha256 already matched in this process (score loads two encoders that
    /// share the tokenizer and the safetensors file; each is hashed once).
    hashed: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Assets {
    /// Finds the models folder (see the module docs) and reads its manifest.
    pub fn locate(explicit: Option<&Path>) -> Result<Assets> {
        let root = match explicit {
            Some(dir) => dir.to_path_buf(),
            None => default_root(),
        };
        Assets::open(&root)
    }

    /// Opens a models folder that holds `manifest.json`.
    pub fn open(root: &Path) -> Result<Assets> {
        let manifest = root.join("manifest.json");
        let text = std::fs::read_to_string(&manifest).map_err(|e| Error::io(&manifest, e))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Model { path: manifest.clone(), problem: format!("not valid JSON ({e})") })?;
        let mut entries = Vec::new();
        collect_entries(&value, &mut entries);
        Ok(Assets { root: root.to_path_buf(), entries, hashed: Default::default() })
    }

    /// The models folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The full path of a file in the models folder.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Returns the path of a fetched file after checking its size, and with `hash` also its
    /// sha256, against the manifest. Missing or different files name the fetch command.
    pub fn verified(&self, relative: &str, hash: bool) -> Result<PathBuf> {
        let path = self.path(relative);
        let entry = self.entries.iter().find(|e| e.dest == relative).ok_or_else(|| Error::Model {
            path: self.root.join("manifest.json"),
            problem: format!("the manifest lists no file {relative}"),
        })?;
        let meta =
            std::fs::metadata(&path).map_err(|_| Error::Model { path: path.clone(), problem: "missing".into() })?;
        if meta.len() != entry.size {
            return Err(Error::Model {
                path,
                problem: format!("size {} differs from the manifest's {}", meta.len(), entry.size),
            });
        }
        let mut hashed = self.hashed.lock().unwrap_or_else(|e| e.into_inner());
        if hash && !hashed.contains(relative) {
            let actual = sha256_file(&path)?;
            if actual != entry.sha256 {
                return Err(Error::Model {
                    path,
                    problem: format!("sha256 {actual} differs from the manifest's {}", entry.sha256),
                });
            }
            hashed.insert(relative.to_string());
        }
        Ok(path)
    }

    /// The manifest's sha256 for a file, used as provenance in heads and outputs.
    pub fn sha256_of(&self, relative: &str) -> Option<&str> {
        self.entries.iter().find(|e| e.dest == relative).map(|e| e.sha256.as_str())
    }
}

fn default_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("STANCEMETER_MODELS") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("models");
    if local.join("manifest.json").is_file() {
        return local;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))
}

/// Collects every object with `dest`, `sha256` and `size` anywhere in the manifest, so the
/// manifest can group files by source package as it likes.
fn collect_entries(value: &serde_json::Value, out: &mut Vec<ManifestEntry>) {
    match value {
        serde_json::Value::Object(map) => {
            let dest = map.get("dest").and_then(|v| v.as_str());
            let sha = map.get("sha256").and_then(|v| v.as_str());
            let size = map.get("size").and_then(|v| v.as_u64());
            if let (Some(dest), Some(sha256), Some(size)) = (dest, sha, size) {
                let dest = dest.trim_start_matches("models/").to_string();
                out.push(ManifestEntry { dest, sha256: sha256.to_lowercase(), size });
            }
            map.values().for_each(|v| collect_entries(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_entries(v, out)),
        _ => {}
    }
}

/// Hex sha256 of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Hex sha256 of bytes in memory.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
