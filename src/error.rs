//! Errors for every stage: one enum, each variant saying where it happened and what to do.

use std::fmt;
use std::path::{Path, PathBuf};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `text` with control characters (terminal escape sequences from input among them) shown as
/// Rust escapes, so nothing read from input can drive the user's terminal. Newlines stay.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// A path as shown in messages: [`printable`], since file names come from users too.
pub fn shown(path: &Path) -> String {
    printable(&path.display().to_string())
}

/// A place in an input: a file (or `-` for stdin) and a 1-based line or record number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it.
    pub path: PathBuf,
    /// 1-based line number; 0 when the error concerns the whole file.
    pub line: u64,
}

impl Location {
    /// A location for a whole file.
    pub fn file(path: impl Into<PathBuf>) -> Location {
        Location { path: path.into(), line: 0 }
    }

    /// A location for one line of a file.
    pub fn line(path: impl Into<PathBuf>, line: u64) -> Location {
        Location { path: path.into(), line }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", shown(&self.path))
        } else {
            write!(f, "{}:{}", shown(&self.path), self.line)
        }
    }
}

/// Everything that can go wrong in stancemeter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", shown(path))]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An input record (article, labeled sample) is malformed.
    #[error("{at}: {}", printable(message))]
    Record {
        /// Where the record is.
        at: Location,
        /// What is wrong and, where possible, what to do.
        message: String,
    },
    /// A model file is missing or does not match the manifest.
    #[error("{}: {}; run `bash models/fetch` to download and verify the model files", shown(path), printable(problem))]
    Model {
        /// The file that is missing or wrong.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// ONNX Runtime failed.
    #[error("ONNX Runtime: {context}")]
    Runtime {
        /// What stancemeter was doing.
        context: String,
        /// The runtime's own error.
        #[source]
        source: ort::Error,
    },
    /// An encoder backend other than ONNX Runtime failed, or is not built into this binary.
    #[error("encoder backend: {context}")]
    Backend {
        /// What stancemeter was doing, or what to do.
        context: String,
        /// The backend's own error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The tokenizer failed.
    #[error("tokenizer: {context}")]
    Tokenizer {
        /// What stancemeter was doing.
        context: String,
        /// The tokenizer's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A model's weight file could not be read.
    #[error("{}: {context}; run `bash models/fetch` to download and verify the model files", shown(path))]
    Weights {
        /// The weight file.
        path: PathBuf,
        /// What stancemeter was reading.
        context: String,
        /// What is wrong with the file.
        #[source]
        source: crate::encode::WeightsError,
    },
    /// A head file is malformed or does not fit the encoder.
    #[error("{}: {}", shown(path), printable(message))]
    Head {
        /// The head file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// Writing CSV failed.
    #[error("{}: {source}", shown(path))]
    Csv {
        /// The output or input file.
        path: PathBuf,
        /// The csv crate's error.
        #[source]
        source: csv::Error,
    },
    /// Writing Parquet failed.
    #[error("{}: {source}", shown(path))]
    Parquet {
        /// The output file.
        path: PathBuf,
        /// The parquet crate's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The command line asks for something that cannot be done (a bad option combination, stdin
    /// without a format). The binary exits with status 2 for this and nothing else.
    #[error("{}", printable(.0))]
    Usage(String),
    /// The labeled data cannot train a head (too few paragraphs, a label with no examples).
    #[error("{}", printable(.0))]
    TrainingData(String),
    /// Writing JSON failed.
    #[error("{}: cannot write JSON", shown(path))]
    Json {
        /// The file being written (`-` for stdout).
        path: PathBuf,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// Another run holds the output folder.
    #[error(
        "{}: another stancemeter run is writing into this folder; wait for it to finish, or choose another --out",
        shown(path)
    )]
    Busy {
        /// The output folder.
        path: PathBuf,
    },
    /// The inputs hold nothing usable (every record was bad, or there were none).
    #[error("{}", printable(.0))]
    NoInput(String),
}

impl Error {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    /// A malformed record at `at`.
    pub fn record(at: Location, message: impl Into<String>) -> Error {
        Error::Record { at, message: message.into() }
    }

    /// A runtime error with what we were doing.
    pub(crate) fn runtime(context: impl Into<String>, source: impl Into<ort::Error>) -> Error {
        Error::Runtime { context: context.into(), source: source.into() }
    }

    /// A backend error with what we were doing.
    pub(crate) fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Backend { context: context.into(), source: Some(source.into()) }
    }

    /// True when the error concerns a single input record, so a lenient run may skip it.
    pub fn is_record(&self) -> bool {
        matches!(self, Error::Record { .. })
    }
}
