//! The stancemeter binary: parse flags, run the library, map the outcome to an exit code.
//!
//! Exit codes: 0 success; 1 error (nothing written); 2 bad command line; 3 finished but some
//! input records were skipped (see stderr); 4 `eval --min-macro-f1` not met.

mod bar;
mod cli;
mod signals;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use stancemeter::commands::{behaviour, embed, eval, finetune, int8_correction, score, train};
use stancemeter::{compare, Error, Result};

fn main() -> ExitCode {
    signals::remove_partial_files_on_signals();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            let mut said = err.to_string();
            eprintln!("stancemeter: error: {}", bar::printable(&said));
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                // Many messages already end with their cause ("FILE: No such file ..."): say it once.
                let text = cause.to_string();
                if !said.contains(&text) {
                    eprintln!("  caused by: {}", bar::printable(&text));
                    said.push_str(&text);
                }
                source = cause.source();
            }
            ExitCode::from(if matches!(err, Error::Usage(_)) { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Score(args) => {
            let bar = bar::Bar::new(args.scorer.encoder.quiet);
            let settings = args.settings();
            let summary = score::run(&settings, &bar)?;
            let out = bar::printable(&settings.out.display().to_string());
            let (articles, paragraphs) = (summary.articles, summary.paragraphs);
            let [p_file, a_file] = settings.out_format.file_names();
            eprintln!("stancemeter: scored {articles} articles ({paragraphs} paragraphs); wrote {out}/{p_file} and {out}/{a_file}");
            if summary.skipped == 0 {
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!("stancemeter: skipped {} bad records (listed above); exit status 3", summary.skipped);
            Ok(ExitCode::from(3))
        }
        Command::Eval(args) => {
            if let Some(settings) = args.behaviour_settings() {
                let report = behaviour::run(&settings)?;
                print_report(args.json, &report, report.render())?;
                return Ok(ExitCode::SUCCESS);
            }
            let evaluation = eval::run(&args.settings())?;
            print_report(args.json, &evaluation, evaluation.render())?;
            match args.min_macro_f1 {
                Some(floor) if evaluation.macro_f1 < floor => {
                    eprintln!("stancemeter: macro-F1 {:.4} is below the floor {floor}", evaluation.macro_f1);
                    Ok(ExitCode::from(4))
                }
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        Command::Train(args) => {
            if let Some(settings) = args.correction_settings() {
                let report = int8_correction::run(&settings)?;
                eprint!("{}", report.render(&settings.out));
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(settings) = args.finetune_settings()? {
                let bar = bar::StepBar::new(args.encoder.quiet);
                let report = finetune::run(&settings, &mut |step| bar.step(step))?;
                bar.finish();
                eprint!("{}", report.render());
                return Ok(ExitCode::SUCCESS);
            }
            eprint!("{}", train::run(&args.settings()?)?.render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare(args) => {
            let settings = args.settings();
            let summary = compare::run(&settings)?;
            let (out, pairs) = (settings.out.display().to_string(), summary.pairs_path.display().to_string());
            let (out, pairs) = (bar::printable(&out), bar::printable(&pairs));
            eprintln!("stancemeter: {} groups -> {out}; {} pairs -> {pairs}", summary.groups, summary.pairs);
            Ok(ExitCode::SUCCESS)
        }
        Command::Embed(args) => {
            embed::run(&args.settings())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints a report as one JSON object or as its rendered text.
fn print_report(json: bool, report: &impl serde::Serialize, rendered: String) -> Result<()> {
    if json {
        let line = serde_json::to_string(report).map_err(|source| Error::Json { path: "-".into(), source })?;
        println!("{line}");
    } else {
        print!("{rendered}");
    }
    Ok(())
}
