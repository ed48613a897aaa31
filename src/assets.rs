//! Model assets: where the fetched files live and whether they match models/manifest.json.
//!
//! The binary finds the models folder: an explicit `--models DIR`, else `STANCEMETER_MODELS`,
//! else `./models` when it holds a manifest, else the folder of the checkout the binary was
//! built from.
//!
//! Hashing the 90 MB weights and the graphs took most of a run's start-up, so a file whose
//! sha256 matched is remembered in `models/.verified.json` by its size and modification time,
//! and hashed again only when either changes (or with [`Assets::reverify`]). Sizes are always
//! checked. Where the folder is read-only the stamp is not written and every run hashes.

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
pub(crate) struct ManifestEntry {
    /// Path relative to the models folder.
    pub(crate) dest: String,
    /// Hex sha256 of the file.
    pub(crate) sha256: String,
    /// Size in bytes.
    pub(crate) size: u64,
}

/// The models folder and its manifest.
#[derive(Debug, Clone)]
pub struct Assets {
    root: PathBuf,
    entries: Vec<ManifestEntry>,
    /// Ignore the stamps of earlier runs and the files already hashed in this process.
    reverify: bool,
}

/// The name of the stamp file in the models folder.
const STAMPS: &str = ".verified.json";

/// What a file looked like when its sha256 last matched.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Stamp {
    size: u64,
    modified_ns: u128,
    sha256: String,
}

fn modified_ns(meta: &std::fs::Metadata) -> Option<u128> {
    meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_nanos())
}

/// Files whose sha256 already matched in this process: score loads two encoders that share the
/// runtime library, the tokenizer and the safetensors file, and tests load many; each file is
/// hashed once per process. Keyed by canonical path, expected sha256 and modification time, so
/// a file changed during the process is hashed again.
static HASHED: std::sync::Mutex<Vec<(PathBuf, String, Option<u128>)>> = std::sync::Mutex::new(Vec::new());

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
        Ok(Assets { root: root.to_path_buf(), entries, reverify: false })
    }

    /// Hashes every file again, whatever earlier runs recorded.
    pub fn reverify(mut self, yes: bool) -> Assets {
        self.reverify = yes;
        self
    }

    /// The stamps of earlier checks. A missing or unreadable stamp file only means every file is
    /// hashed again, so it reads as no stamps.
    fn stamps(&self) -> std::collections::HashMap<String, Stamp> {
        let text = std::fs::read_to_string(self.root.join(STAMPS)).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_default()
    }

    /// Records that `relative` matched the manifest; a failure to write only costs a re-hash.
    fn remember(&self, relative: &str, stamp: Stamp) {
        let mut stamps = self.stamps();
        stamps.insert(relative.to_string(), stamp);
        if let Ok(json) = serde_json::to_vec_pretty(&stamps) {
            let _ = crate::output::write_atomic(&self.root.join(STAMPS), &json);
        }
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
        let modified = modified_ns(&meta);
        let key = (std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()), entry.sha256.clone(), modified);
        let mut hashed = HASHED.lock().unwrap_or_else(|e| e.into_inner());
        if !hash || (!self.reverify && hashed.contains(&key)) {
            return Ok(path);
        }
        let stamp = modified.map(|modified_ns| Stamp { size: meta.len(), modified_ns, sha256: entry.sha256.clone() });
        let unchanged = stamp.as_ref().is_some_and(|s| !self.reverify && self.stamps().get(relative) == Some(s));
        if !unchanged {
            let actual = sha256_file(&path)?;
            if actual != entry.sha256 {
                return Err(Error::Model {
                    path,
                    problem: format!("sha256 {actual} differs from the manifest's {}", entry.sha256),
                });
            }
            if let Some(stamp) = stamp {
                self.remember(relative, stamp);
            }
        }
        hashed.push(key);
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
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
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
pub(crate) fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A models folder holding one file `f.bin` and a manifest that names its sha256.
    fn folder(bytes: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.bin"), bytes).unwrap();
        let manifest =
            serde_json::json!({"files": [{"dest": "f.bin", "sha256": sha256_bytes(bytes), "size": bytes.len()}]});
        std::fs::write(dir.path().join("manifest.json"), manifest.to_string()).unwrap();
        dir
    }

    /// Changes one byte of `f.bin` and puts its modification time back as it was.
    fn flip_keeping_mtime(dir: &Path) {
        let path = dir.join("f.bin");
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
    }

    #[test]
    fn a_matching_file_is_remembered_and_a_changed_one_hashed_again() {
        let dir = folder(b"model weights");
        Assets::open(dir.path()).unwrap().verified("f.bin", true).unwrap();
        assert!(dir.path().join(STAMPS).is_file(), "the match is remembered");
        // Changed content with a new modification time: hashed again, and refused.
        let path = dir.path().join("f.bin");
        std::fs::write(&path, b"model weightz").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
        let err = Assets::open(dir.path()).unwrap().verified("f.bin", true).unwrap_err().to_string();
        assert!(err.contains("differs from the manifest") && err.contains("models/fetch"), "{err}");
    }

    #[test]
    fn reverify_hashes_even_what_looks_unchanged() {
        let dir = folder(b"model weights");
        Assets::open(dir.path()).unwrap().verified("f.bin", true).unwrap();
        flip_keeping_mtime(dir.path());
        // Same size and time: trusted from the stamp (the documented trade-off) ...
        assert!(Assets::open(dir.path()).unwrap().verified("f.bin", true).is_ok());
        // ... unless asked to verify again.
        let err = Assets::open(dir.path()).unwrap().reverify(true).verified("f.bin", true).unwrap_err();
        assert!(err.to_string().contains("differs from the manifest"), "{err}");
    }
}
