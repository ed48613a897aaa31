//! Stage 7, write: rows as CSV or Parquet ([`OutFormat`]) through writers that only rename a file
//! into place once it is complete, so an interrupted or failed run never leaves a file that
//! looks finished.
//! Files that belong together are moved into place together (`commit_all`); a folder being
//! written is locked against a second run ([`lock_folder`]); temporary files are known to the
//! process, so a signal handler can remove them ([`abandon_partial_files`]), and ones left by a
//! killed run are swept by the next run into the folder ([`sweep_partial_files`]). The
//! temporary files, the pair commit and the lock live in `partial`; the writers in `csv_file`
//! and `parquet_file`.
//!
//! Columns are the serde structs below; each is documented once in docs/columns.md, with the
//! Parquet types `parquet_file` gives them. Text cells go through [`Cells`], which keeps
//! spreadsheets from reading them as formulas.

mod csv_file;
mod parquet_file;
mod partial;

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::aggregate::ArticleMetrics;
use crate::error::{Error, Result};
use crate::input::Article;

pub(crate) use csv_file::AtomicCsv;
use parquet_file::{file_metadata, AtomicParquet, Limits, ParquetRow};
use partial::Partial;
pub use partial::{abandon_partial_files, lock_folder, sweep_partial_files, Abandoned, FolderLock};
pub(crate) use partial::{commit_all, write_atomic};

/// One row of paragraphs.csv.
#[derive(Debug, Clone, Serialize)]
pub struct ParagraphRow<'a> {
    /// Article id.
    pub article_id: Cow<'a, str>,
    /// Outlet, empty when unknown.
    pub outlet: Cow<'a, str>,
    /// 0-based paragraph index within the article.
    pub paragraph: usize,
    /// content | heading | caption | byline | boilerplate.
    pub kind: &'static str,
    /// Most probable stance.
    pub label: Cow<'a, str>,
    /// P(optimistic).
    pub p_optimistic: f64,
    /// P(neutral).
    pub p_neutral: f64,
    /// P(skeptical).
    pub p_skeptical: f64,
    /// p_optimistic - p_skeptical, in [-1, 1].
    pub stance: f64,
    /// Encoder windows (0 for furniture, which is not encoded).
    pub windows: usize,
    /// Words.
    pub words: usize,
    /// The paragraph text.
    pub text: Cow<'a, str>,
}

/// One row of articles.csv.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleRow<'a> {
    /// Article id.
    pub article_id: Cow<'a, str>,
    /// Outlet.
    pub outlet: Cow<'a, str>,
    /// Date as given.
    pub date: Cow<'a, str>,
    /// Title.
    pub title: Cow<'a, str>,
    /// URL.
    pub url: Cow<'a, str>,
    /// Paragraphs, furniture included.
    pub n_paragraphs: u64,
    /// Content paragraphs scored.
    pub n_scored: u64,
    /// Word-weighted mean stance of content paragraphs.
    pub stance_mean: Option<f64>,
    /// Share of content paragraphs labeled optimistic.
    pub share_optimistic: Option<f64>,
    /// Share labeled neutral.
    pub share_neutral: Option<f64>,
    /// Share labeled skeptical.
    pub share_skeptical: Option<f64>,
    /// share_optimistic - share_skeptical.
    pub net_tone: Option<f64>,
    /// Share of content paragraphs that are not neutral.
    pub polarity: Option<f64>,
    /// Population standard deviation of content paragraph stance.
    pub stance_sd: Option<f64>,
    /// Mean stance of the first two content paragraphs.
    pub lede_stance: Option<f64>,
    /// Largest content paragraph stance.
    pub max_stance: Option<f64>,
    /// Smallest content paragraph stance.
    pub min_stance: Option<f64>,
    /// Words in all paragraphs.
    pub words: u64,
    /// Percent of content words with positive VADER valence.
    pub lex_positive: Option<f64>,
    /// Percent of content words with negative VADER valence.
    pub lex_negative: Option<f64>,
    /// lex_positive - lex_negative.
    pub lex_tone: Option<f64>,
    /// Encoder provenance.
    pub model: Cow<'a, str>,
    /// Head provenance.
    pub head: Cow<'a, str>,
}

/// Which encoder and head made a run's scores, written into every article row.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// Encoder: model, graph checksum prefix and backend.
    pub model: String,
    /// Head id.
    pub head: String,
}

impl<'a> ArticleRow<'a> {
    /// The row of an article with its finished metrics, rounded for output.
    pub fn new(article: &'a Article, m: &ArticleMetrics, provenance: &'a Provenance, cells: Cells) -> ArticleRow<'a> {
        let r = |x: Option<f64>| x.map(round4);
        let share = |i: usize| m.shares.map(|s| round4(s[i]));
        let lexicon = m.lexicon_percent();
        let field = |v: &'a Option<String>| cells.text(v.as_deref().unwrap_or(""));
        ArticleRow {
            article_id: cells.text(&article.id),
            outlet: field(&article.outlet),
            date: field(&article.date),
            title: field(&article.title),
            url: field(&article.url),
            n_paragraphs: m.n_paragraphs,
            n_scored: m.n_scored,
            stance_mean: r(m.stance_mean),
            share_optimistic: share(0),
            share_neutral: share(1),
            share_skeptical: share(2),
            net_tone: r(m.net_tone()),
            polarity: r(m.polarity()),
            stance_sd: r(m.stance_sd),
            lede_stance: r(m.lede_stance),
            max_stance: r(m.max_stance),
            min_stance: r(m.min_stance),
            words: m.words,
            lex_positive: r(lexicon.map(|l| l.0)),
            lex_negative: r(lexicon.map(|l| l.1)),
            lex_tone: r(lexicon.map(|(p, n)| p - n)),
            model: cells.text(&provenance.model),
            head: cells.text(&provenance.head),
        }
    }
}

/// How text cells are written. By default a cell that a spreadsheet would read as a formula
/// (one starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, as
/// OWASP recommends against CSV injection; `raw` writes text as read. Number columns are
/// numbers, never text cells, so a negative stance is never touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cells {
    /// Write text cells exactly as read.
    pub raw: bool,
}

impl Cells {
    /// A text cell.
    pub fn text(self, value: &str) -> Cow<'_, str> {
        if self.raw {
            Cow::Borrowed(value)
        } else {
            neutralise(value)
        }
    }
}

/// `value`, with a `'` in front when a spreadsheet would take it for a formula.
pub fn neutralise(value: &str) -> Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Rounds for output: 4 decimals is far below any meaningful difference and keeps files
/// byte-identical across runs.
pub(crate) fn round4(x: f64) -> f64 {
    let r = (x * 10_000.0).round() / 10_000.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// The file format `score` writes its two tables in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutFormat {
    /// paragraphs.csv and articles.csv; text cells a spreadsheet would run as a formula are
    /// guarded (see [`Cells`]).
    #[default]
    Csv,
    /// paragraphs.parquet and articles.parquet: typed columns, nulls for missing values, text
    /// as read, and the run's provenance as file metadata.
    Parquet,
}

impl OutFormat {
    /// Every format, so a run can sweep the temporary files of any of them.
    pub const ALL: [OutFormat; 2] = [OutFormat::Csv, OutFormat::Parquet];

    /// The name `--out-format` takes, which is also the files' extension.
    pub fn name(self) -> &'static str {
        match self {
            OutFormat::Csv => "csv",
            OutFormat::Parquet => "parquet",
        }
    }

    /// The run's two files, in the order they are moved into place.
    pub fn file_names(self) -> [&'static str; 2] {
        match self {
            OutFormat::Csv => ["paragraphs.csv", "articles.csv"],
            OutFormat::Parquet => ["paragraphs.parquet", "articles.parquet"],
        }
    }
}

impl FromStr for OutFormat {
    type Err = String;

    /// Parses an `--out-format` value.
    fn from_str(name: &str) -> std::result::Result<OutFormat, String> {
        let known = OutFormat::ALL.into_iter().find(|format| format.name() == name);
        known.ok_or_else(|| format!("unknown output format {name:?}; use csv or parquet"))
    }
}

impl fmt::Display for OutFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One table of a run being written, in the run's format; moved into place by [`commit_all`].
pub(crate) enum TableFile {
    Csv(AtomicCsv),
    Parquet(AtomicParquet),
}

impl TableFile {
    /// Starts writing a table of `R` rows at `path`. A Parquet file carries `provenance` as
    /// file metadata (a CSV has it in its `model` and `head` columns).
    pub(crate) fn create<R: ParquetRow>(format: OutFormat, path: &Path, provenance: &Provenance) -> Result<TableFile> {
        Ok(match format {
            OutFormat::Csv => TableFile::Csv(AtomicCsv::create(path)?),
            OutFormat::Parquet => {
                let metadata = file_metadata(provenance);
                TableFile::Parquet(AtomicParquet::create(path, R::COLUMNS, metadata, Limits::default())?)
            }
        })
    }

    /// Writes one row.
    pub(crate) fn write<R: Serialize + ParquetRow>(&mut self, row: &R) -> Result<()> {
        match self {
            TableFile::Csv(csv) => csv.write(row),
            TableFile::Parquet(parquet) => parquet.write(row),
        }
    }

    /// Completes the temporary file, ready to be moved into place.
    fn finish(self) -> Result<(Partial, PathBuf)> {
        match self {
            TableFile::Csv(csv) => csv.finish(),
            TableFile::Parquet(parquet) => parquet.finish(),
        }
    }
}

/// Writes serde rows (with a header) to a CSV file atomically.
pub(crate) fn write_rows<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut csv = AtomicCsv::create(path)?;
    for row in rows {
        csv.write(row)?;
    }
    csv.commit()
}

/// Opens a file for reading with its path in the error.
pub(crate) fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_unless_raw() {
        let cases = [("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM", "'@SUM")];
        for (input, want) in cases {
            assert_eq!(Cells::default().text(input), want);
            assert_eq!(Cells { raw: true }.text(input), input);
        }
        for plain in ["Talks resumed", "", " =not first", "'quoted", "1-2"] {
            assert_eq!(Cells::default().text(plain), plain);
        }
        assert_eq!(Cells::default().text("\tx"), "'\tx");
        assert_eq!(Cells::default().text("\rx"), "'\rx");
    }

    #[test]
    fn out_format_names_round_trip_and_unknown_names_say_what_to_use() {
        for format in OutFormat::ALL {
            assert_eq!(format.to_string().parse::<OutFormat>(), Ok(format));
            assert!(format.file_names().iter().all(|name| name.ends_with(&format!(".{format}"))));
        }
        assert_eq!(OutFormat::default(), OutFormat::Csv);
        assert_eq!("xlsx".parse::<OutFormat>(), Err("unknown output format \"xlsx\"; use csv or parquet".into()));
        assert!("CSV".parse::<OutFormat>().is_err(), "names are lower case, as every other value");
    }

    #[test]
    fn round4_is_stable() {
        assert_eq!(round4(0.123456), 0.1235);
        assert_eq!(round4(-0.00001), 0.0);
        assert_eq!(round4(1.0), 1.0);
    }
}
