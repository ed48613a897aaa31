//! stancemeter measures how news coverage talks about a negotiated settlement.
//!
//! A document flows through these stages, each a module:
//!
//! 1. [`input`]: read articles from .txt, .jsonl or .csv, one record at a time.
//! 2. [`segment`]: split an article into paragraphs and tell content from page furniture.
//! 3. [`encode`] (tokenize): the model's WordPiece tokenizer, with long paragraphs windowed.
//! 4. [`encode`]: all-MiniLM-L6-v2 on ONNX Runtime, mean-pooled, unit length.
//! 5. [`score`]: a trained stance head turns embeddings into optimistic / neutral / skeptical
//!    probabilities; training and evaluation live there too.
//! 6. [`aggregate`]: paragraphs roll up into per-article tone metrics.
//! 7. [`output`]: rows go to CSV or Parquet files that appear only when complete, and together.
//!
//! Around them: [`settings`] builds the encoder and scorer from validated options (the binary's
//! flags, or a library user's own), [`commands`] runs each subcommand over its settings,
//! [`compare`] compares groups of scored articles, and [`progress`] is how a long run reports.

#![deny(missing_docs)]

pub mod aggregate;
pub mod assets;
pub mod commands;
pub mod compare;
pub mod encode;
pub mod error;
pub mod input;
pub(crate) mod lexicon;
pub mod output;
pub mod progress;
pub(crate) mod rng;
pub mod score;
pub mod segment;
pub mod settings;

pub use error::{Error, Location, Result};
