//! Integration tests: they run the real binary (and, for the encoder, the library) against
//! the fetched model. Run `bash models/fetch` first; `bash tests/run` does.

mod backends;
mod behaviour;
mod cache;
mod common;
mod compare;
mod correction;
mod data;
mod embed;
mod encoder;
mod eval;
mod fuzz;
mod graph;
mod parquet;
mod precision;
mod regression;
mod score;
mod train;
