//! The subcommands, as library functions over validated settings. The binary only parses
//! flags into these settings and maps results to exit codes.

pub mod behaviour;
pub mod embed;
pub mod eval;
pub mod finetune;
pub mod int8_correction;
pub mod score;
pub mod train;
