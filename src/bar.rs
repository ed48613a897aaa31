//! The binary's side of progress: an indicatif bar on a terminal (hidden with --quiet or when
//! stderr is not a terminal), notes printed above it, and control characters from input made
//! visible before they reach the terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar on stderr drawn with `template`, or a hidden one when `quiet` or stderr is not a
/// terminal.
fn on_stderr(quiet: bool, template: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

/// A progress bar for `score`.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar on stderr, or a hidden one when `quiet` or stderr is not a terminal.
    pub fn new(quiet: bool) -> Bar {
        let bar = on_stderr(quiet, "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta} | {msg}");
        if !bar.is_hidden() {
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
        }
        Bar(bar)
    }
}

impl stancemeter::progress::Progress for Bar {
    fn start(&self, bytes: u64) {
        self.0.set_length(bytes);
    }

    fn advance(&self, bytes: u64, status: &str) {
        self.0.set_position(bytes);
        self.0.set_message(status.to_string());
    }

    fn note(&self, message: &str) {
        self.0.suspend(|| eprintln!("{}", printable(message)));
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Text from input made safe for the terminal (the library's one function for it).
pub use stancemeter::error::printable;

/// A bar over fine-tuning batches: epoch, running loss and, after each epoch, dev macro-F1.
pub struct StepBar(ProgressBar);

impl StepBar {
    /// A bar on stderr, or a hidden one when `quiet` or stderr is not a terminal.
    pub fn new(quiet: bool) -> StepBar {
        StepBar(on_stderr(quiet, "[{elapsed_precise}] {wide_bar} {pos}/{len} ETA {eta} | {msg}"))
    }

    /// Shows one step; a finished epoch is printed above the bar.
    pub fn step(&self, step: &stancemeter::score::Step) {
        self.0.set_length(step.batches as u64);
        self.0.set_position(step.batch as u64);
        self.0.set_message(format!("epoch {}/{} loss {:.4}", step.epoch, step.epochs, step.loss));
        if let Some(f1) = step.dev_macro_f1 {
            let line =
                format!("epoch {}/{}: train loss {:.4}, dev macro-F1 {f1:.4}", step.epoch, step.epochs, step.loss);
            self.0.suspend(|| eprintln!("{line}"));
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
