//! Command-line flags (clap derive structs only); `main` turns them into library settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Measures how news coverage talks about a negotiated settlement.
#[derive(Parser, Debug)]
#[command(name = "stancemeter", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Score articles: writes OUT/paragraphs.csv and OUT/articles.csv.
    Score(ScoreArgs),
    /// Evaluate a stance head on labeled paragraphs.
    Eval(EvalArgs),
    /// Train a stance head on labeled paragraphs.
    Train(TrainArgs),
    /// Compare groups of articles (outlets, dates) from articles.csv.
    Compare(CompareArgs),
    /// Write one embedding per input line (for debugging the encoder).
    Embed(EmbedArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Folder with manifest.json and the fetched model files [default: ./models, else the
    /// checkout stancemeter was built from]
    #[arg(long, value_name = "DIR", global = true)]
    pub models: Option<PathBuf>,
    /// Paragraph windows per forward pass (results do not depend on it; 8 is fastest on small
    /// CPUs and bounds memory, see BENCHMARKS.md).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch_size: usize,
    /// Most tokens per forward pass: batches of long windows get fewer rows, which bounds
    /// memory (results do not depend on it).
    #[arg(long, default_value_t = 768, value_name = "N")]
    pub batch_tokens: usize,
    /// Encoder worker threads, each running whole batches [default: all cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Encoder arithmetic: int8 (about twice as fast; labels agree with fp32 on over 99% of
    /// paragraphs, BENCHMARKS.md) or fp32 (the reference) [default: int8 for score and eval,
    /// fp32 for train and embed]
    #[arg(long, value_enum, value_name = "P")]
    pub precision: Option<Precision>,
    /// With int8: paragraphs whose two most probable labels are closer than M are encoded again
    /// in fp32 and scored from that (0 = never)
    #[arg(long, default_value_t = 0.05, value_name = "M")]
    pub refine_margin: f32,
    /// Encoder backend; rust-bert needs a binary built with `--features rust-bert` (README).
    #[arg(long, value_enum, default_value_t = Backend::Onnx, value_name = "NAME")]
    pub backend: Backend,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The ONNX graph's arithmetic.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// 8-bit integer linear layers.
    Int8,
    /// The fp32 reference graph.
    Fp32,
}

/// Which runtime runs the transformer; both give the same embeddings.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The project's ONNX graph on ONNX Runtime.
    Onnx,
    /// rust-bert's BertModel on libtorch (optional cargo feature `rust-bert`).
    RustBert,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Article files (.txt, .jsonl, .csv), folders (searched recursively), or - for stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output folder for paragraphs.csv and articles.csv.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Input format for stdin or unknown extensions: txt, jsonl or csv.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Outlet name for .txt files and for records without one [default for .txt: the folder name]
    #[arg(long, value_name = "NAME")]
    pub outlet: Option<String>,
    /// Stance head file [default: models/heads/default.json]
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,
    /// Stop at the first bad record (default: skip it, report it, exit with status 3).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Labeled paragraphs (.jsonl with text,label or .csv with text,label columns).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub labels: Vec<PathBuf>,
    /// Stance head file [default: models/heads/default.json]
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 4 when macro-F1 is below this.
    #[arg(long, value_name = "X")]
    pub min_macro_f1: Option<f64>,
    /// Also write per-sample predictions to this CSV.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training files (.jsonl or .csv with text,label).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub labels: Vec<PathBuf>,
    /// Dev files for choosing the method and calibrating [default: data/labeled/dev.jsonl]
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub dev: Vec<PathBuf>,
    /// Where to write the head (JSON).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Seed for initial weights.
    #[arg(long, default_value_t = 20251128)]
    pub seed: u64,
    /// Keep the head fitted on the training files alone (default: after choosing the method on
    /// dev, refit it on train + dev and calibrate it on article-grouped out-of-fold predictions).
    #[arg(long)]
    pub no_refit: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// articles.csv written by `stancemeter score`.
    #[arg(long, value_name = "FILE")]
    pub articles: PathBuf,
    /// Column to group by (outlet, date, month, or any column of articles.csv).
    #[arg(long, default_value = "outlet", value_name = "COLUMN")]
    pub by: String,
    /// Output CSV with one row per group.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Output CSV with one row per pair of groups [default: OUT with .pairs.csv]
    #[arg(long, value_name = "FILE")]
    pub pairs: Option<PathBuf>,
    /// Bootstrap and permutation resamples.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub resamples: usize,
    /// Seed for resampling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// Text file (one paragraph per line) or .jsonl with a "text" field; - for stdin.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Output .npy or .csv [default: CSV on stdout]
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}
