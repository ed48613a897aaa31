//! Progress and messages from a long run: a small trait the library calls and the caller
//! draws. The library never prints; the binary draws a bar on a terminal and prints notes to
//! stderr, a notebook may do something else.

/// Receives progress from `score` and notes about records it skipped.
pub trait Progress {
    /// The run will read `bytes` of input in all.
    fn start(&self, bytes: u64);
    /// `bytes` of input read so far; `status` says what was done (articles, paragraphs, rates).
    fn advance(&self, bytes: u64, status: &str);
    /// A message for the user, e.g. a skipped record with its file and line.
    fn note(&self, message: &str);
    /// The run is over.
    fn finish(&self) {}
}

/// No bar; notes go to stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _bytes: u64) {}

    fn advance(&self, _bytes: u64, _status: &str) {}

    fn note(&self, message: &str) {
        eprintln!("{}", crate::error::printable(message));
    }
}
