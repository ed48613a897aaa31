//! Integration tests: they run the real binary (and, for the encoder, the library) against
//! the fetched model. Run `bash models/fetch` first; `bash tests/run` does.

mod backends;
mod common;
mod compare;
mod embed;
mod encoder;
mod eval;
mod finetune;
mod precision;
mod score;
