//! Stage 7, write: rows as CSV through one writer that only renames a file into place once it
//! is complete, so an interrupted or failed run never leaves a file that looks finished.
//! Files that belong together are moved into place together (`commit_all`); a folder being
//! written is locked against a second run ([`lock_folder`]); temporary files are known to the
//! process, so a signal handler can remove them ([`abandon_partial_files`]), and ones left by a
//! killed run are swept by the next run into the folder ([`sweep_partial_files`]).
//!
//! Columns are the serde structs below; each is documented once in docs/columns.md. Text cells
//! go through [`Cells`], which keeps spreadsheets from reading them as formulas.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use tempfile::NamedTempFile;

use crate::aggregate::ArticleMetrics;
use crate::error::{Error, Result};
use crate::input::Article;

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

/// Temporary files this process is writing, so a signal handler can remove them; committing
/// holds the lock while it renames, so a signal never lands between two files of a pair.
static PARTIAL_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn partial_files() -> MutexGuard<'static, Vec<PathBuf>> {
    PARTIAL_FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Holds back every commit for as long as it lives; see [`abandon_partial_files`].
pub struct Abandoned {
    _held: MutexGuard<'static, Vec<PathBuf>>,
}

/// Removes every temporary file this process is writing and keeps any commit from starting
/// while the returned value lives: for a signal handler that then ends the process. A commit
/// already under way finishes first, so a pair of files is either both in place or neither.
pub fn abandon_partial_files() -> Abandoned {
    let mut held = partial_files();
    for path in held.drain(..) {
        let _ = std::fs::remove_file(path);
    }
    Abandoned { _held: held }
}

/// A temporary file known to [`abandon_partial_files`] until it is moved into place or dropped
/// (dropping removes it).
struct Partial {
    temp: Option<NamedTempFile>,
    path: PathBuf,
}

impl Partial {
    fn file(&mut self) -> std::io::Result<&mut NamedTempFile> {
        self.temp.as_mut().ok_or_else(|| std::io::Error::other("temporary file already moved into place"))
    }
}

impl Write for Partial {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file()?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file()?.flush()
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        partial_files().retain(|p| *p != self.path);
    }
}

/// A CSV file being written under a hidden temporary name beside its final path.
pub(crate) struct AtomicCsv {
    writer: csv::Writer<BufWriter<Partial>>,
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
        commit_all(vec![self])
    }

    /// Flushes and syncs the temporary file, ready to be moved into place.
    fn finish(self) -> Result<(Partial, PathBuf)> {
        let path = self.path;
        let buffered = self.writer.into_inner().map_err(|e| Error::io(&path, e.into_error()))?;
        let mut partial = buffered.into_inner().map_err(|e| Error::io(&path, e.into_error()))?;
        partial.file().and_then(|f| f.as_file().sync_all()).map_err(|e| Error::io(&path, e))?;
        Ok((partial, path))
    }
}

/// Moves files into place together: if one cannot be, those already moved are removed again,
/// so the files appear all or not at all. Nothing is half-written either way.
pub(crate) fn commit_all(files: Vec<AtomicCsv>) -> Result<()> {
    let finished: Vec<(Partial, PathBuf)> = files.into_iter().map(AtomicCsv::finish).collect::<Result<_>>()?;
    let mut finished = finished;
    let mut held = partial_files();
    let mut placed: Vec<PathBuf> = Vec::new();
    for (partial, path) in &mut finished {
        let moved = match partial.temp.take() {
            Some(temp) => temp.persist(&*path).map_err(|e| Error::io(&*path, e.error)),
            None => Err(Error::io(&*path, std::io::Error::other("temporary file already moved into place"))),
        };
        held.retain(|p| p != &partial.path);
        if let Err(e) = moved {
            for done in &placed {
                let _ = std::fs::remove_file(done);
            }
            return Err(e);
        }
        placed.push(path.clone());
    }
    drop(held);
    // Make the renames themselves durable.
    if let Some(dir) = placed.first().and_then(|p| p.parent()).filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// The `.NAME.XXXXXX.partial` temporary file beside `path`.
fn temp_beside(path: &Path) -> Result<Partial> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("output");
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(PARTIAL_SUFFIX).rand_bytes(PARTIAL_RANDOM);
    // Temporary files are private by default; outputs are ordinary files others may read.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut held = partial_files();
    let temp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    let temp_path = temp.path().to_path_buf();
    held.push(temp_path.clone());
    Ok(Partial { temp: Some(temp), path: temp_path })
}

const PARTIAL_SUFFIX: &str = ".partial";
const PARTIAL_RANDOM: usize = 6;

/// Whether `file_name` is one of this module's temporary files for the output `name`.
fn is_partial_of(file_name: &str, name: &str) -> bool {
    let Some(middle) = file_name
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(PARTIAL_SUFFIX))
    else {
        return false;
    };
    middle.len() == PARTIAL_RANDOM && middle.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Removes the temporary files a killed run left in `dir` for the outputs `names`: only names
/// this module makes, and only while [`lock_folder`] holds `dir` (so no live run owns them).
/// Returns how many were removed.
pub fn sweep_partial_files(dir: &Path, names: &[&str], _lock: &FolderLock) -> Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else { continue };
        if names.iter().any(|name| is_partial_of(file_name, name)) && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// An exclusive lock on an output folder, held until dropped (or until the process ends, however
/// it ends: the operating system releases it, so a killed run never leaves a stale lock).
#[derive(Debug)]
pub struct FolderLock {
    _dir: File,
}

/// Locks `dir` for this run, or says that another run is writing into it.
pub fn lock_folder(dir: &Path) -> Result<FolderLock> {
    let handle = File::open(dir).map_err(|e| Error::io(dir, e))?;
    match handle.try_lock() {
        Ok(()) => Ok(FolderLock { _dir: handle }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy { path: dir.to_path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(dir, e)),
    }
}

/// Writes bytes to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = temp_beside(path)?;
    temp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    temp.file().and_then(|f| f.as_file().sync_all()).map_err(|e| Error::io(path, e))?;
    let held = partial_files();
    let moved = match temp.temp.take() {
        Some(file) => file.persist(path).map(|_| ()).map_err(|e| Error::io(path, e.error)),
        None => Ok(()),
    };
    drop(held);
    moved
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
    fn a_pair_appears_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("first.csv"), dir.path().join("second.csv"));
        std::fs::create_dir_all(second.join("in-the-way")).unwrap();
        let mut a = AtomicCsv::create(&first).unwrap();
        let mut b = AtomicCsv::create(&second).unwrap();
        a.write(&("a", 1)).unwrap();
        b.write(&("b", 2)).unwrap();
        assert!(commit_all(vec![a, b]).is_err());
        assert!(!first.exists(), "the first file was left without the second");
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, vec!["second.csv"], "temporary files are gone");
        assert!(!partial_files().iter().any(|p| p.starts_with(dir.path())));
    }

    #[test]
    fn only_our_own_temporary_names_are_swept() {
        let cases = [
            (".paragraphs.csv.a1B2c3.partial", true),
            (".articles.csv.zzzzzz.partial", true),
            (".paragraphs.csv.a1B2c.partial", false),
            (".paragraphs.csv.a1-2c3.partial", false),
            ("paragraphs.csv.a1B2c3.partial", false),
            (".notes.csv.a1B2c3.partial", false),
            (".paragraphs.csv.a1B2c3.partial.keep", false),
        ];
        for (name, want) in cases {
            let got = ["paragraphs.csv", "articles.csv"].iter().any(|n| is_partial_of(name, n));
            assert_eq!(got, want, "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_folder(dir.path()).unwrap();
        assert!(matches!(lock_folder(dir.path()), Err(Error::Busy { .. })), "a second lock is refused");
        for (name, _) in cases {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        assert_eq!(sweep_partial_files(dir.path(), &["paragraphs.csv", "articles.csv"], &lock).unwrap(), 2);
        drop(lock);
        assert!(lock_folder(dir.path()).is_ok(), "the lock ends with its holder");
    }

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
    fn round4_is_stable() {
        assert_eq!(round4(0.123456), 0.1235);
        assert_eq!(round4(-0.00001), 0.0);
        assert_eq!(round4(1.0), 1.0);
    }
}
