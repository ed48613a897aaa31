//! Many inputs as one stream of articles: files, folders (recursed, sorted) and stdin.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{parse_text, Article, CsvArticles, Format, JsonlArticles};
use crate::error::{shown, Error, Location, Result};

/// One input file (or stdin) and its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path; `-` is standard input.
    pub path: PathBuf,
    /// How to read it.
    pub format: Format,
}

/// What [`discover`] found: the sources to read, and what it passed over.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files to read, in order.
    pub sources: Vec<Source>,
    /// Things passed over that hold no articles (a pipe or device named like an article, a
    /// folder reached a second time through a link): for the user, not errors.
    pub notes: Vec<String>,
    /// Folders that could not be read: bad records, skipped like any other (fatal with --strict).
    pub problems: Vec<Error>,
}

/// Expands the inputs a user named into sources: folders are walked in sorted order and keep
/// regular files whose extension names a format; a file named directly needs one, or `format`.
/// For .txt files the outlet is `--outlet` if given, else the name of the file's folder.
///
/// Reading never blocks on something that is not a file: a named pipe, socket or device is
/// refused when named and passed over (with a note) in a folder, and a folder reached again
/// through a symlink is searched once, so links that loop end.
pub fn discover(inputs: &[PathBuf], format: Option<Format>) -> Result<Discovery> {
    let mut found = Discovery::default();
    let mut searched = HashSet::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            let format =
                format.ok_or_else(|| Error::Usage("reading stdin (`-`) needs --format txt|jsonl|csv".into()))?;
            found.sources.push(Source { path: input.clone(), format });
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            walk(input, &mut found, &mut searched);
        } else if meta.is_file() {
            let format = Format::from_path(input).or(format).ok_or_else(|| {
                Error::Usage(format!(
                    "{}: unknown input format; use a .txt, .jsonl or .csv extension, or --format",
                    shown(input)
                ))
            })?;
            found.sources.push(Source { path: input.clone(), format });
        } else {
            return Err(Error::Usage(format!(
                "{}: is {}, not a regular file; to read from a pipe, give `-` with --format and redirect the pipe to \
                 standard input",
                shown(input),
                kind_of(&meta)
            )));
        }
    }
    Ok(found)
}

/// What a file that is neither a regular file nor a folder is, for messages.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        } else if t.is_socket() {
            return "a socket";
        } else if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    let _ = meta;
    "not a regular file"
}

fn walk(dir: &Path, found: &mut Discovery, searched: &mut HashSet<PathBuf>) {
    let unreadable = |e: std::io::Error| {
        Error::record(
            Location::file(dir),
            format!("cannot read this folder ({e}); check its permissions, or leave it out"),
        )
    };
    let real = match std::fs::canonicalize(dir) {
        Ok(real) => real,
        Err(e) => return found.problems.push(unreadable(e)),
    };
    if !searched.insert(real.clone()) {
        let note = format!("passed over {}: it is {}, already searched (a link back to it)", shown(dir), shown(&real));
        return found.notes.push(note);
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|entry| entry.ok().map(|e| e.path())).collect(),
        Err(e) => return found.problems.push(unreadable(e)),
    };
    entries.retain(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')));
    entries.sort();
    for path in entries {
        let format = Format::from_path(&path);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => walk(&path, found, searched),
            Ok(meta) if !meta.is_file() => {
                if format.is_some() {
                    found.notes.push(format!("passed over {}: it is {}, not a file", shown(&path), kind_of(&meta)));
                }
            }
            // A regular file, or a link to nothing (opening it then reports it as a bad record).
            _ => {
                if let Some(format) = format {
                    found.sources.push(Source { path, format });
                }
            }
        }
    }
}

/// A file that cannot be opened or read: a bad record, so a lenient run skips it and goes on.
pub(crate) fn unreadable(path: &Path, e: &std::io::Error) -> Error {
    Error::record(Location::file(path), format!("cannot be read ({e}); check its permissions, or leave it out"))
}

/// Articles from many sources, in order, with outlets filled in and duplicate ids refused.
pub struct ArticleStream {
    sources: std::vec::IntoIter<Source>,
    current: Option<Box<dyn Iterator<Item = Result<Article>>>>,
    outlet: Option<String>,
    seen: HashSet<String>,
    bytes_read: Arc<AtomicU64>,
}

/// Counts the bytes that pass through, for progress and ETA.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Total size in bytes of the sources that are files (stdin counts 0).
pub fn total_bytes(sources: &[Source]) -> u64 {
    sources.iter().filter_map(|s| std::fs::metadata(&s.path).ok()).map(|m| m.len()).sum()
}

impl ArticleStream {
    /// Streams `sources`; `outlet` is used where an article names none.
    pub fn new(sources: Vec<Source>, outlet: Option<String>) -> ArticleStream {
        ArticleStream {
            sources: sources.into_iter(),
            current: None,
            outlet,
            seen: HashSet::new(),
            bytes_read: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A counter of the input bytes read so far, shared with whoever reports progress.
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes_read)
    }

    fn open(&self, source: &Source) -> Box<dyn Iterator<Item = Result<Article>>> {
        let inner: Box<dyn Read> = if source.path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            match File::open(&source.path) {
                Ok(file) => Box::new(file),
                Err(e) => return Box::new(std::iter::once(Err(unreadable(&source.path, &e)))),
            }
        };
        let reader = Counting { inner, counter: Arc::clone(&self.bytes_read) };
        match source.format {
            Format::Text => {
                let path = source.path.clone();
                let folder = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).map(String::from);
                let outlet = self.outlet.clone().or(folder);
                let article = parse_text(reader, &path).map(|mut a| {
                    a.outlet = outlet;
                    a
                });
                Box::new(std::iter::once(article))
            }
            Format::Jsonl => Box::new(JsonlArticles::new(BufReader::new(reader), &source.path)),
            Format::Csv => Box::new(CsvArticles::new(BufReader::new(reader), &source.path)),
        }
    }

    fn finish(&mut self, mut article: Article) -> Result<Article> {
        if article.outlet.is_none() {
            article.outlet = self.outlet.clone();
        }
        if !self.seen.insert(article.id.clone()) {
            return Err(Error::record(
                article.at.clone(),
                format!("duplicate article id \"{}\"; ids must be unique across all inputs of a run", article.id),
            ));
        }
        Ok(article)
    }
}

impl Iterator for ArticleStream {
    type Item = Result<Article>;

    fn next(&mut self) -> Option<Result<Article>> {
        loop {
            if let Some(current) = self.current.as_mut() {
                match current.next() {
                    Some(Ok(article)) => return Some(self.finish(article)),
                    Some(Err(e)) => return Some(Err(e)),
                    None => self.current = None,
                }
            }
            let source = self.sources.next()?;
            self.current = Some(self.open(&source));
        }
    }
}
