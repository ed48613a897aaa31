//! Stage 1, read (CSV): a watch on the raw bytes under the csv parser for what it accepts
//! silently but a user never means.
//!
//! The csv crate is lenient: a quote that is never closed runs to the end of the file, and one
//! closed by the next record's opening quote is followed by text it keeps. Either way the
//! records after it become part of one field, and nothing is reported. This reader follows
//! the quoting itself and notes, by byte offset, every quoted field that runs over a line end
//! and then either never closes or closes with text after it. It also caps a record's size:
//! past [`MAX_RECORD_BYTES`] the rest of the record is dropped (and noted), so one enormous
//! record never sits in memory whole.

use std::io::Read;

/// The most bytes one CSV record or JSONL line may hold (64 MiB).
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

/// Something wrong in a record, found below the parser.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    /// Offset, in the bytes the parser sees, of a byte inside the record concerned.
    pub byte: u64,
    /// What is wrong and what to do.
    pub message: String,
    /// Line ends dropped with the rest of an over-long record (the parser never counted them).
    pub lines_dropped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// At the start of a field.
    Start,
    /// Inside an unquoted field.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: a closing quote, or the first of `""`.
    QuoteInQuoted,
    /// After a closing quote and spaces: only a delimiter or a line end may follow.
    AfterQuote,
}

/// A `Read` that passes bytes to the csv parser while following its quoting.
pub(crate) struct QuoteCheck<R> {
    inner: R,
    limit: u64,
    state: State,
    /// Bytes handed on so far (the parser's byte offsets).
    emitted: u64,
    /// 1-based line of the next byte in the input.
    line: u64,
    /// Line and emitted offset where the current quoted field opened.
    quote_line: u64,
    quote_at: u64,
    /// Bytes of the current record read so far, and its emitted start offset.
    record_bytes: u64,
    record_at: u64,
    /// True while the rest of an over-long record is being dropped.
    dropping: bool,
    dropped_lines: u64,
    /// What was found, in input order.
    pub problems: Vec<Problem>,
}

impl<R: Read> QuoteCheck<R> {
    /// Watches `inner`, capping records at `limit` bytes.
    pub fn new(inner: R, limit: u64) -> QuoteCheck<R> {
        QuoteCheck {
            inner,
            limit,
            state: State::Start,
            emitted: 0,
            line: 1,
            quote_line: 0,
            quote_at: 0,
            record_bytes: 0,
            record_at: 0,
            dropping: false,
            dropped_lines: 0,
            problems: Vec::new(),
        }
    }

    /// Takes the problems found in bytes before `end` (the parser's position after a record).
    pub fn take_before(&mut self, end: u64) -> Vec<Problem> {
        let split = self.problems.iter().position(|p| p.byte >= end).unwrap_or(self.problems.len());
        self.problems.drain(..split).collect()
    }

    /// Takes the problems of the record `reader` has just read.
    pub fn of_last_record(reader: &mut csv::Reader<QuoteCheck<R>>) -> Vec<Problem> {
        let end = reader.position().byte();
        reader.get_mut().take_before(end)
    }

    fn unclosed(&mut self, how: String) {
        let message = format!(
            "malformed CSV record: the quoted field that opens on line {} {how}, so it swallows what look like the \
             records after it; close the quote (a quote inside a quoted field is written twice: \"\")",
            self.quote_line
        );
        self.problems.push(Problem { byte: self.quote_at, message, lines_dropped: 0 });
    }

    /// Notes a record that was cut, once its end (or the end of the input) is reached.
    fn end_record(&mut self) {
        if self.dropping {
            let message = format!(
                "record is longer than {} MiB, the most one article may take; split the article into several records",
                self.limit >> 20
            );
            self.problems.push(Problem { byte: self.record_at, message, lines_dropped: self.dropped_lines });
        }
        (self.dropping, self.dropped_lines, self.record_bytes) = (false, 0, 0);
    }

    /// Follows one byte; returns whether to hand it on.
    fn follow(&mut self, b: u8) -> bool {
        let ends_line = b == b'\n';
        let ends_record = (b == b'\n' || b == b'\r') && self.state != State::Quoted;
        match (self.state, b) {
            (State::Start, b'"') => {
                self.state = State::Quoted;
                (self.quote_line, self.quote_at) = (self.line, self.emitted);
            }
            (State::Start | State::Unquoted | State::AfterQuote | State::QuoteInQuoted, b',' | b'\n' | b'\r') => {
                self.state = State::Start;
            }
            (State::Start | State::Unquoted, _) => self.state = State::Unquoted,
            (State::Quoted, b'"') => self.state = State::QuoteInQuoted,
            (State::Quoted, _) => {}
            (State::QuoteInQuoted, b'"') => self.state = State::Quoted,
            (State::QuoteInQuoted | State::AfterQuote, b' ' | b'\t') => self.state = State::AfterQuote,
            (State::QuoteInQuoted | State::AfterQuote, other) => {
                if self.quote_line < self.line {
                    let shown = std::ascii::escape_default(other).to_string();
                    self.unclosed(format!("closes on line {} followed by text ('{shown}')", self.line));
                }
                self.state = State::Unquoted;
            }
        }
        if ends_line {
            self.line += 1;
        }
        if ends_record {
            self.end_record();
            self.record_at = self.emitted + 1;
            return true;
        }
        self.record_bytes += 1;
        if self.record_bytes > self.limit {
            if ends_line {
                self.dropped_lines += 1;
            }
            self.dropping = true;
            return false;
        }
        true
    }
}

impl<R: Read> Read for QuoteCheck<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                if self.state == State::Quoted && self.quote_line < self.line {
                    self.unclosed("is never closed (it runs to the end of the file)".into());
                }
                self.state = State::Start;
                self.end_record();
                return Ok(0);
            }
            let mut kept = 0;
            for i in 0..n {
                let b = buf[i];
                let was_dropping = self.dropping;
                let quoted = matches!(self.state, State::Quoted);
                if self.follow(b) {
                    buf[kept] = b;
                    kept += 1;
                    self.emitted += 1;
                } else if !was_dropping && quoted {
                    // The parser is inside the quoted field this byte would have continued:
                    // close it, so the line end that ends the record ends it for the parser too.
                    buf[kept] = b'"';
                    kept += 1;
                    self.emitted += 1;
                }
            }
            if kept > 0 {
                return Ok(kept);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(input: &[u8], limit: u64) -> (Vec<u8>, Vec<Problem>) {
        let mut check = QuoteCheck::new(input, limit);
        let mut out = Vec::new();
        check.read_to_end(&mut out).unwrap();
        (out, check.problems)
    }

    #[test]
    fn well_formed_csv_passes_untouched() {
        let cases: &[&[u8]] = &[
            b"id,text\na,\"x, \"\"y\"\"\nz\"\nb,plain\n",
            b"id,text\r\na,\"one\r\n\r\ntwo\"  \r\n",
            b"id,text\na,\"same line\" stray\n",
            b"",
        ];
        for input in cases {
            let (out, found) = problems(input, MAX_RECORD_BYTES);
            assert_eq!((out.as_slice(), found), (*input, vec![]), "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn unclosed_quotes_are_found_in_the_record_that_swallows_the_rest() {
        let input = b"id,text\nu1,\"never closed.\nu2,\"Second.\"\nu3,\"Third.\"\n";
        let (_, found) = problems(input, MAX_RECORD_BYTES);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].byte, 11);
        assert!(found[0].message.contains("opens on line 2 closes on line 3 followed by text ('S')"));
        let (_, found) = problems(b"id,text\nu1,\"never closed.\nu2,x\n", MAX_RECORD_BYTES);
        assert!(
            found[0].message.contains("opens on line 2 is never closed (it runs to the end of the file)"),
            "{found:?}"
        );
    }

    #[test]
    fn over_long_records_are_cut_and_noted() {
        let input = b"id,text\na,\"0123456789\n0123\"\nb,ok\n";
        let (out, found) = problems(input, 10);
        assert_eq!(String::from_utf8_lossy(&out), "id,text\na,\"0123456\"\nb,ok\n");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].byte, found[0].lines_dropped), (8, 1));
        let mut reader = csv::Reader::from_reader(&out[..]);
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(&rows[1][0], "b", "the parser stays in step after a cut");
    }
}
