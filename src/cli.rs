//! Command-line flags (clap derive structs only) and their conversion into the library's
//! settings. Value types (formats, precisions, backends) are the library's own, parsed through
//! their `FromStr`; numbers are checked here, so a bad command line exits 2 before any model
//! loads.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use stancemeter::commands::{behaviour, embed, eval, finetune, int8_correction, score, train};
use stancemeter::compare::CompareSettings;
use stancemeter::encode::{BackendKind, EncoderOptions, Precision};
use stancemeter::error::{Error, Result};
use stancemeter::input::Format;
use stancemeter::output::OutFormat;
use stancemeter::score::{FinetuneOptions, Trainable};
use stancemeter::settings::{EncoderSettings, ScorerSettings};

/// Measures how news coverage talks about a negotiated settlement.
///
/// Model files are found in --models DIR, else in $STANCEMETER_MODELS, else in ./models when it
/// holds a manifest.json, else in the checkout this binary was built from. `bash models/fetch`
/// downloads and verifies them.
#[derive(Parser, Debug)]
#[command(name = "stancemeter", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Score articles: writes OUT/paragraphs.csv and OUT/articles.csv (or .parquet with
    /// --out-format parquet).
    Score(ScoreArgs),
    /// Evaluate a stance head on labeled paragraphs.
    Eval(EvalArgs),
    /// Train a stance head on labeled paragraphs (fp32 encoder).
    Train(TrainArgs),
    /// Compare groups of articles (outlets, dates) from articles.csv.
    Compare(CompareArgs),
    /// Write one embedding per input line (for debugging the encoder).
    Embed(EmbedArgs),
}

/// Flags every command that loads the encoder takes.
#[derive(Args, Debug, Clone)]
pub struct EncoderArgs {
    /// Folder with manifest.json and the fetched model files [default: $STANCEMETER_MODELS,
    /// else ./models, else the checkout stancemeter was built from]
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Paragraph windows per forward pass (results do not depend on it; 8 is fastest on small
    /// CPUs and bounds memory, see BENCHMARKS.md) [default: 8]
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub batch_size: Option<usize>,
    /// Most tokens per forward pass: batches of long windows get fewer rows, which bounds
    /// memory (results do not depend on it) [default: 768]
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub batch_tokens: Option<usize>,
    /// Encoder worker threads, each running whole batches [default: all cores]
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub threads: Option<usize>,
    /// Encoder backend: onnx, or rust-bert (needs a binary built with `--features rust-bert`,
    /// README)
    #[arg(long, value_name = "NAME", default_value = "onnx")]
    pub backend: BackendKind,
    /// Hash every model file again (normally a file whose sha256 matched is re-hashed only
    /// when its size or modification time changes; models/.verified.json remembers them).
    #[arg(long)]
    pub verify_models: bool,
    /// Use the encoder fine-tuned with this adapter (the graphs models/fetch builds from it);
    /// score and eval take it from the head, embed uses the plain model unless given.
    #[arg(long, value_name = "FILE")]
    pub adapter: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Flags of the commands that score paragraphs with a head.
#[derive(Args, Debug, Clone)]
pub struct ScorerArgs {
    /// Stance head file [default: models/heads/default.json]
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,
    /// Encoder arithmetic: int8 (about twice as fast; labels agree with fp32 on over 99% of
    /// paragraphs, BENCHMARKS.md) or fp32 (the reference) [default: int8]
    #[arg(long, value_name = "P")]
    pub precision: Option<Precision>,
    /// With int8: paragraphs whose two most probable labels are closer than M are encoded again
    /// in fp32 and scored from that (0 = never)
    #[arg(long, default_value_t = stancemeter::settings::DEFAULT_REFINE_MARGIN, value_name = "M", value_parser = unit_interval)]
    pub refine_margin: f32,
    /// Distinct paragraphs whose scores are kept, so repeats (syndicated wire copy) are encoded
    /// once; about 100 bytes each; results are identical with any value (0 = off) [default: 65536]
    #[arg(long, value_name = "N")]
    pub cache: Option<usize>,
    #[command(flatten)]
    pub encoder: EncoderArgs,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Article files (.txt, .jsonl, .csv), folders (searched recursively), or - for stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output folder for paragraphs.csv and articles.csv (or the .parquet files).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Output files: csv, or parquet (paragraphs.parquet and articles.parquet: the same columns,
    /// typed, missing values as nulls, text as read since formula guarding is a spreadsheet
    /// concern; docs/columns.md).
    #[arg(long, value_name = "FORMAT", default_value = "csv")]
    pub out_format: OutFormat,
    /// Input format for stdin and for files whose extension names none: txt, jsonl or csv.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Outlet name for .txt files and for records without one [default for .txt: the folder name]
    #[arg(long, value_name = "NAME")]
    pub outlet: Option<String>,
    /// Stop at the first bad record (default: skip it, report it, exit with status 3).
    #[arg(long)]
    pub strict: bool,
    /// Write CSV text cells exactly as read (default: a cell starting with =, +, -, @, tab or
    /// carriage return gets a leading ' so spreadsheets do not run it as a formula). Parquet
    /// text is always written as read, so with --out-format parquet this changes nothing.
    #[arg(long)]
    pub raw_cells: bool,
    #[command(flatten)]
    pub scorer: ScorerArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Labeled paragraphs (.jsonl with text,label or .csv with text,label columns).
    #[arg(long, required_unless_present = "behaviour", num_args = 1.., value_name = "FILE")]
    pub labels: Vec<PathBuf>,
    /// Run the behaviour suite in DIR (*.jsonl cases: mft, inv, dir; see tests/behaviour/README.md)
    /// instead of labeled paragraphs: prints the failure rate per capability and test type.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["labels", "min_macro_f1"])]
    pub behaviour: Option<PathBuf>,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 4 when macro-F1 is below this (a number in [0, 1]).
    #[arg(long, value_name = "X", value_parser = unit_interval_f64)]
    pub min_macro_f1: Option<f64>,
    /// Also write per-sample predictions to this CSV.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
    #[command(flatten)]
    pub scorer: ScorerArgs,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training files (.jsonl or .csv with text,label).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub labels: Vec<PathBuf>,
    /// Dev files for choosing the method and calibrating [default: data/labeled/dev.jsonl, when
    /// run from the checkout].
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub dev: Option<Vec<PathBuf>>,
    /// Where to write the head (JSON).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Seed for initial weights.
    #[arg(long, default_value_t = 20251128)]
    pub seed: u64,
    /// Keep the head fitted on the training files alone (default: after choosing the method on
    /// dev, refit it on train + dev and calibrate it on article-grouped out-of-fold predictions,
    /// dev's only when --adapter names a fine-tuned encoder, which has learnt train's).
    #[arg(long)]
    pub no_refit: bool,
    /// Fine-tune the encoder instead of fitting a head: lora (rank 8), lora-rN, top1 .. top6
    /// or full. --out is then the adapter file (NAME.adapter.safetensors); README: Fine-tuning.
    #[arg(long, value_name = "METHOD", value_parser = finetune::parse_method)]
    pub finetune: Option<Trainable>,
    /// Fit the int8 correction of the encoder --adapter names instead of a head: how its int8
    /// graph's paragraph vectors drift from fp32's with length, on the --labels paragraphs.
    /// --out is then NAME.int8-correction.json beside the adapter (README: Fine-tuning).
    #[arg(long, conflicts_with_all = ["finetune", "no_refit", "dev"], requires = "adapter")]
    pub int8_correction: bool,
    /// Most fine-tuning epochs (training stops early when dev macro-F1 stops improving) [default: 4]
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub epochs: Option<usize>,
    /// Fine-tuning learning rate of the encoder part [default: 1e-3 for lora, 1e-4 for layers]
    #[arg(long, value_name = "X")]
    pub learning_rate: Option<f64>,
    #[command(flatten)]
    pub encoder: EncoderArgs,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// articles.csv written by `stancemeter score`.
    #[arg(long, value_name = "FILE")]
    pub articles: PathBuf,
    /// Column to group by (outlet, date, month, or any column of articles.csv).
    #[arg(long, default_value = "outlet", value_name = "COLUMN")]
    pub by: String,
    /// Output CSV with one row per group (its folder is created).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Output CSV with one row per pair of groups [default: OUT with .pairs.csv]
    #[arg(long, value_name = "FILE")]
    pub pairs: Option<PathBuf>,
    /// Bootstrap and permutation resamples.
    #[arg(long, default_value_t = 2000, value_name = "N", value_parser = at_least_one)]
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
    /// Encoder arithmetic: fp32 (the reference) or int8 [default: fp32]
    #[arg(long, value_name = "P")]
    pub precision: Option<Precision>,
    #[command(flatten)]
    pub encoder: EncoderArgs,
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{text:?} is not a whole number of at least 1")),
    }
}

fn unit_interval_f64(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{text:?} is not a number from 0 to 1")),
    }
}

fn unit_interval(text: &str) -> Result<f32, String> {
    unit_interval_f64(text).map(|x| x as f32)
}

impl EncoderArgs {
    fn settings(&self, precision: Option<Precision>) -> EncoderSettings {
        let mut batches = EncoderOptions::default();
        if let Some(n) = self.batch_size {
            batches = batches.with_batch_size(n);
        }
        if let Some(n) = self.batch_tokens {
            batches = batches.with_batch_tokens(n);
        }
        EncoderSettings {
            models: self.models.clone(),
            backend: self.backend,
            precision,
            threads: self.threads,
            batches,
            reverify: self.verify_models,
            graph: self.adapter.as_deref().map(stancemeter::assets::finetuned_graph),
        }
    }
}

impl ScorerArgs {
    fn settings(&self) -> ScorerSettings {
        ScorerSettings {
            encoder: self.encoder.settings(self.precision),
            head: self.head.clone(),
            refine_margin: self.refine_margin,
            cache: self.cache.unwrap_or(ScorerSettings::default().cache),
        }
    }
}

impl ScoreArgs {
    pub fn settings(self) -> score::ScoreSettings {
        score::ScoreSettings {
            scorer: self.scorer.settings(),
            inputs: self.inputs,
            format: self.format,
            outlet: self.outlet,
            out: self.out,
            strict: self.strict,
            out_format: self.out_format,
            raw_cells: self.raw_cells,
            chunk_paragraphs: 256,
        }
    }
}

impl EvalArgs {
    pub fn settings(&self) -> eval::EvalSettings {
        eval::EvalSettings {
            labels: self.labels.clone(),
            predictions: self.predictions.clone(),
            scorer: self.scorer.settings(),
        }
    }
}

impl EvalArgs {
    /// The behaviour suite's settings, when --behaviour was given.
    pub fn behaviour_settings(&self) -> Option<behaviour::BehaviourSettings> {
        let dir = self.behaviour.clone()?;
        Some(behaviour::BehaviourSettings {
            dir,
            predictions: self.predictions.clone(),
            scorer: self.scorer.settings(),
        })
    }
}

/// The dev split `train` uses when not given --dev, relative to the current folder.
const DEFAULT_DEV: &str = "data/labeled/dev.jsonl";

impl TrainArgs {
    /// The dev files: --dev, else the checkout's dev split when it is in the current folder.
    fn dev(&self) -> Result<Vec<PathBuf>> {
        match &self.dev {
            Some(files) => Ok(files.clone()),
            None if std::path::Path::new(DEFAULT_DEV).is_file() => Ok(vec![PathBuf::from(DEFAULT_DEV)]),
            None => Err(Error::Usage(format!(
                "train needs dev files: pass --dev FILE, or run from the stancemeter checkout, where the \
                 default {DEFAULT_DEV} is"
            ))),
        }
    }

    pub fn settings(&self) -> Result<train::TrainSettings> {
        Ok(train::TrainSettings {
            encoder: self.encoder.settings(Some(Precision::Fp32)),
            labels: self.labels.clone(),
            dev: self.dev()?,
            out: self.out.clone(),
            seed: self.seed,
            refit: !self.no_refit,
            adapter: self.encoder.adapter.clone(),
        })
    }

    /// Settings of the int8 correction's fit, when --int8-correction was given.
    pub fn correction_settings(&self) -> Option<int8_correction::CorrectionSettings> {
        self.int8_correction.then(|| int8_correction::CorrectionSettings {
            labels: self.labels.clone(),
            out: self.out.clone(),
            encoder: self.encoder.settings(None),
        })
    }

    /// Fine-tuning settings, when --finetune was given.
    pub fn finetune_settings(&self) -> Result<Option<finetune::FinetuneSettings>> {
        let Some(method) = self.finetune else { return Ok(None) };
        let mut options = FinetuneOptions::for_method(method, self.seed);
        if let Some(epochs) = self.epochs {
            options.epochs = epochs;
        }
        if let Some(rate) = self.learning_rate {
            options.learning_rate = rate;
        }
        Ok(Some(finetune::FinetuneSettings {
            labels: self.labels.clone(),
            dev: self.dev()?,
            adapter: self.out.clone(),
            options,
            encoder: self.encoder.settings(Some(Precision::Fp32)),
        }))
    }
}

impl CompareArgs {
    pub fn settings(self) -> CompareSettings {
        CompareSettings {
            articles: self.articles,
            by: self.by,
            out: self.out,
            pairs: self.pairs,
            resamples: self.resamples,
            seed: self.seed,
        }
    }
}

impl EmbedArgs {
    pub fn settings(self) -> embed::EmbedSettings {
        embed::EmbedSettings { encoder: self.encoder.settings(self.precision), input: self.input, out: self.out }
    }
}
