//! The stancemeter binary: parse flags, run the library, map the outcome to an exit code.
//!
//! Exit codes: 0 success; 1 error (nothing written); 2 bad usage; 3 finished but some input
//! records were skipped (see stderr); 4 `eval --min-macro-f1` not met.

mod cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use cli::{Backend, Cli, Command, ModelArgs};
use stancemeter::assets::{Assets, DEFAULT_HEAD, LEXICON, ONNX_MODEL};
use stancemeter::commands::{embed, eval, score, train};
use stancemeter::compare;
use stancemeter::encode::{Encoder, EncoderOptions, OnnxOptions, Precision};
use stancemeter::input::Format;
use stancemeter::lexicon::Lexicon;
use stancemeter::score::{Head, Scorer};
use stancemeter::{Error, Result};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stancemeter: error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(if matches!(err, Error::Usage(_)) { 2 } else { 1 })
        }
    }
}

fn is_broken_pipe(err: &Error) -> bool {
    matches!(err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Score(args) => run_score(args),
        Command::Eval(args) => run_eval(args),
        Command::Train(args) => run_train(args),
        Command::Compare(args) => run_compare(args),
        Command::Embed(args) => {
            let assets = Assets::locate(args.model.models.as_deref())?;
            let mut encoder = encoder(&assets, &args.model, Precision::Fp32)?;
            embed::run(&embed::EmbedSettings { input: args.input, out: args.out }, &mut encoder)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_score(args: cli::ScoreArgs) -> Result<ExitCode> {
    let (assets, mut scorer) = scorer(&args.model, args.head.as_ref())?;
    let lexicon = Lexicon::load(&assets.verified(LEXICON, true)?)?;
    let format = args.format.as_deref().map(parse_format).transpose()?;
    let settings = score::ScoreSettings {
        inputs: args.inputs,
        format,
        outlet: args.outlet,
        out: args.out.clone(),
        strict: args.strict,
        chunk_paragraphs: 256,
    };
    let bar = progress(args.model.quiet);
    let summary = score::run(&settings, &mut scorer, &lexicon, &bar)?;
    bar.finish_and_clear();
    eprintln!(
        "stancemeter: scored {} articles ({} paragraphs); wrote {} and {}",
        summary.articles,
        summary.paragraphs,
        args.out.join("paragraphs.csv").display(),
        args.out.join("articles.csv").display()
    );
    if summary.skipped > 0 {
        eprintln!("stancemeter: skipped {} bad records (listed above); exit status 3", summary.skipped);
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_eval(args: cli::EvalArgs) -> Result<ExitCode> {
    let (_, mut scorer) = scorer(&args.model, args.head.as_ref())?;
    let settings = eval::EvalSettings { labels: args.labels, predictions: args.predictions };
    let evaluation = eval::run(&settings, &mut scorer)?;
    if args.json {
        println!("{}", serde_json::to_string(&evaluation).unwrap_or_default());
    } else {
        print!("{}", evaluation.render());
    }
    match args.min_macro_f1 {
        Some(floor) if evaluation.macro_f1 < floor => {
            eprintln!("stancemeter: macro-F1 {:.4} is below the floor {floor}", evaluation.macro_f1);
            Ok(ExitCode::from(4))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn run_train(args: cli::TrainArgs) -> Result<ExitCode> {
    let assets = Assets::locate(args.model.models.as_deref())?;
    if args.model.precision == Some(cli::Precision::Int8) {
        return Err(Error::Usage("train fits heads on the fp32 reference encoder; drop --precision int8".into()));
    }
    let encoder = encoder(&assets, &args.model, Precision::Fp32)?;
    let dev = if args.dev.is_empty() { vec![PathBuf::from("data/labeled/dev.jsonl")] } else { args.dev };
    let settings = train::TrainSettings {
        labels: args.labels,
        dev,
        out: args.out.clone(),
        label_order: ["optimistic", "neutral", "skeptical"].map(String::from).to_vec(),
        seed: args.seed,
        refit: !args.no_refit,
        onnx_sha256: assets.sha256_of(ONNX_MODEL).unwrap_or_default().to_string(),
    };
    let report = train::run(&settings, encoder)?;
    eprintln!("candidate                      dev macro-F1  dev accuracy");
    for (i, c) in report.candidates.iter().enumerate() {
        let mark = if i == report.chosen { "*" } else { " " };
        eprintln!("{mark} {:<28} {:>11.3} {:>13.3}", c.options.describe(), c.dev_macro_f1, c.dev_accuracy);
    }
    let h = &report.head;
    eprintln!(
        "wrote {} ({}): temperature {:.3}; validation ({}) macro-F1 {:.3}, accuracy {:.3}, ECE {:.3}, Brier {:.3}",
        args.out.display(),
        h.id,
        h.temperature,
        h.training["validation"].as_str().unwrap_or("?"),
        h.validation.macro_f1,
        h.validation.accuracy,
        h.validation.ece,
        h.validation.brier
    );
    Ok(ExitCode::SUCCESS)
}

fn run_compare(args: cli::CompareArgs) -> Result<ExitCode> {
    let articles = compare::read_articles(&args.articles, &args.by)?;
    if articles.is_empty() {
        return Err(Error::NoInput(format!("{}: no article with a stance to compare", args.articles.display())));
    }
    let (groups, pairs) = compare::compare(&articles, args.resamples, args.seed);
    let pairs_path = args.pairs.unwrap_or_else(|| args.out.with_extension("pairs.csv"));
    stancemeter::output::write_rows(&args.out, &groups)?;
    stancemeter::output::write_rows(&pairs_path, &pairs)?;
    eprintln!(
        "stancemeter: {} groups -> {}; {} pairs -> {}",
        groups.len(),
        args.out.display(),
        pairs.len(),
        pairs_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn parse_format(name: &str) -> Result<Format> {
    Format::parse(name).ok_or_else(|| Error::Usage(format!("unknown --format {name:?}; use txt, jsonl or csv")))
}

/// ONNX options from the flags; `default_precision` when --precision is not given.
fn onnx_options(args: &ModelArgs, default_precision: Precision) -> OnnxOptions {
    let mut onnx = OnnxOptions { precision: default_precision, ..OnnxOptions::default() };
    if let Some(threads) = args.threads {
        onnx.workers = threads.max(1);
    }
    match args.precision {
        Some(cli::Precision::Int8) => onnx.precision = Precision::Int8,
        Some(cli::Precision::Fp32) => onnx.precision = Precision::Fp32,
        None => {}
    }
    onnx
}

fn encoder(assets: &Assets, args: &ModelArgs, default_precision: Precision) -> Result<Encoder> {
    let onnx = onnx_options(args, default_precision);
    let options = EncoderOptions::default().with_batch_size(args.batch_size).with_batch_tokens(args.batch_tokens);
    match args.backend {
        Backend::Onnx => Encoder::load(assets, &onnx, options),
        Backend::RustBert if args.precision == Some(cli::Precision::Int8) => {
            Err(Error::Usage("--precision int8 needs the onnx backend; rust-bert runs fp32".into()))
        }
        Backend::RustBert => Encoder::load_rust_bert(assets, onnx.workers, options),
    }
}

fn scorer(args: &ModelArgs, head: Option<&PathBuf>) -> Result<(Assets, Scorer)> {
    let assets = Assets::locate(args.models.as_deref())?;
    let head_path = head.cloned().unwrap_or_else(|| assets.path(DEFAULT_HEAD));
    let head = Head::load(&head_path)?;
    let encoder = encoder(&assets, args, Precision::Int8)?;
    let sha = assets.sha256_of(ONNX_MODEL).map(String::from);
    let mut scorer = Scorer::try_new(encoder, head, sha.as_deref()).map_err(|e| match e {
        Error::Head { message, .. } => Error::Head { path: head_path.clone(), message },
        other => other,
    })?;
    let onnx = onnx_options(args, Precision::Int8);
    if args.backend == Backend::Onnx && onnx.precision == Precision::Int8 && args.refine_margin > 0.0 {
        // Near-ties are few: one fp32 session using every core, not one per worker.
        let exact = OnnxOptions { precision: Precision::Fp32, workers: 1, intra_threads: onnx.workers };
        let batches = EncoderOptions::default().with_batch_size(args.batch_size).with_batch_tokens(args.batch_tokens);
        let refiner = Encoder::load(&assets, &exact, batches)?;
        scorer = scorer.with_refiner(refiner, args.refine_margin);
    }
    Ok((assets, scorer))
}

fn progress(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta} | {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
