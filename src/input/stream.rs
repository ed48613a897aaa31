//! Many inputs as one stream of articles: files, folders (recursed, sorted) and stdin.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{parse_text, Article, CsvArticles, Format, JsonlArticles};
use crate::error::{Error, Result};

/// One input file (or stdin) and its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path; `-` is standard input.
    pub path: PathBuf,
    /// How to read it.
    pub format: Format,
}

/// Expands the inputs a user named into sources: folders are walked in sorted order and keep
/// files whose extension names a format; a file named directly needs one, or `format`.
/// For .txt files the outlet is `--outlet` if given, else the name of the file's folder.
pub fn discover(inputs: &[PathBuf], format: Option<Format>) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            let format =
                format.ok_or_else(|| Error::Usage("reading stdin (`-`) needs --format txt|jsonl|csv".into()))?;
            sources.push(Source { path: input.clone(), format });
        } else if input.is_dir() {
            walk(input, &mut sources)?;
        } else if input.is_file() {
            let format = Format::from_path(input).or(format).ok_or_else(|| {
                Error::Usage(format!(
                    "{}: unknown input format; use a .txt, .jsonl or .csv extension, or --format",
                    input.display()
                ))
            })?;
            sources.push(Source { path: input.clone(), format });
        } else {
            return Err(Error::io(input, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder")));
        }
    }
    Ok(sources)
}

fn walk(dir: &Path, out: &mut Vec<Source>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if let Some(format) = Format::from_path(&path) {
            out.push(Source { path, format });
        }
    }
    Ok(())
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
                Err(e) => return Box::new(std::iter::once(Err(Error::io(&source.path, e)))),
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
