//! Stage 7, write: rows as CSV through one writer that only renames a file into place once it
//! is complete, so an interrupted or failed run never leaves a file that looks finished.
//!
//! Columns are the serde structs below; each is documented once in docs/columns.md.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tempfile::NamedTempFile;

use crate::aggregate::ArticleMetrics;
use crate::error::{Error, Result};
use crate::input::Article;

/// One row of paragraphs.csv.
#[derive(Debug, Clone, Serialize)]
pub struct ParagraphRow<'a> {
    /// Article id.
    pub article_id: &'a str,
    /// Outlet, empty when unknown.
    pub outlet: &'a str,
    /// 0-based paragraph index within the article.
    pub paragraph: usize,
    /// content | heading | caption | byline | boilerplate.
    pub kind: &'static str,
    /// Most probable stance.
    pub label: &'a str,
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
    pub text: &'a str,
}

/// One row of articles.csv.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleRow<'a> {
    /// Article id.
    pub article_id: &'a str,
    /// Outlet.
    pub outlet: &'a str,
    /// Date as given.
    pub date: &'a str,
    /// Title.
    pub title: &'a str,
    /// URL.
    pub url: &'a str,
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
    pub model: &'a str,
    /// Head provenance.
    pub head: &'a str,
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
    pub fn new(article: &'a Article, m: &ArticleMetrics, provenance: &'a Provenance) -> ArticleRow<'a> {
        let r = |x: Option<f64>| x.map(round4);
        let share = |i: usize| m.shares.map(|s| round4(s[i]));
        let lexicon = m.lexicon_percent();
        let field = |v: &'a Option<String>| v.as_deref().unwrap_or("");
        ArticleRow {
            article_id: &article.id,
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
            model: &provenance.model,
            head: &provenance.head,
        }
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

/// A CSV file being written under a hidden temporary name beside its final path.
pub(crate) struct AtomicCsv {
    writer: csv::Writer<BufWriter<NamedTempFile>>,
    path: PathBuf,
}

impl AtomicCsv {
    /// Starts writing `path` (its folder must exist).
    pub(crate) fn create(path: &Path) -> Result<AtomicCsv> {
        let temp = temp_beside(path)?;
        let writer = csv::WriterBuilder::new().from_writer(BufWriter::new(temp));
        Ok(AtomicCsv { writer, path: path.to_path_buf() })
    }

    /// Writes one row.
    pub(crate) fn write<T: Serialize>(&mut self, row: &T) -> Result<()> {
        self.writer.serialize(row).map_err(|source| Error::Csv { path: self.path.clone(), source })
    }

    /// Flushes the file and moves it into place.
    pub(crate) fn commit(self) -> Result<()> {
        let path = self.path;
        let buffered = self.writer.into_inner().map_err(|e| Error::io(&path, e.into_error()))?;
        let temp = buffered.into_inner().map_err(|e| Error::io(&path, e.into_error()))?;
        temp.as_file().sync_all().map_err(|e| Error::io(&path, e))?;
        temp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(())
    }
}

fn temp_beside(path: &Path) -> Result<NamedTempFile> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("output");
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    // Temporary files are private by default; outputs are ordinary files others may read.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))
}

/// Writes bytes to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = temp_beside(path)?;
    temp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    temp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    temp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
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
    fn nothing_appears_until_commit_and_abandoned_files_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        let mut csv = AtomicCsv::create(&path).unwrap();
        csv.write(&("a", 1)).unwrap();
        assert!(!path.exists());
        csv.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,1\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o044, 0o044, "outputs are readable by others: {mode:o}");
        }

        let other = dir.path().join("other.csv");
        let mut csv = AtomicCsv::create(&other).unwrap();
        csv.write(&("b", 2)).unwrap();
        drop(csv);
        assert!(!other.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn round4_is_stable() {
        assert_eq!(round4(0.123456), 0.1235);
        assert_eq!(round4(-0.00001), 0.0);
        assert_eq!(round4(1.0), 1.0);
    }
}
