//! `stancemeter score`: articles in, paragraphs.csv and articles.csv out (or the same tables as
//! Parquet files, `--out-format parquet`).
//!
//! Articles stream through in chunks of about `chunk_paragraphs` content paragraphs: each
//! chunk is encoded in length-sorted batches, its rows written, and its articles rolled up,
//! so memory stays flat however long the input is. Both files appear only when the run is
//! complete, and together: the output folder is locked for the run, and if the second file
//! cannot be moved into place the first is removed again.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use crate::aggregate::{ArticleAccumulator, ParagraphFacts};
use crate::assets::LEXICON;
use crate::error::{shown, Error, Result};
use crate::input::labels::paragraph_too_long;
use crate::input::{discover, total_bytes, Article, ArticleStream, Body, Format};
use crate::lexicon::Lexicon;
use crate::output::{
    commit_all, lock_folder, round4, ArticleRow, Cells, FolderLock, OutFormat, ParagraphRow, Provenance, TableFile,
};
use crate::progress::Progress;
use crate::score::Scorer;
use crate::segment::{into_paragraphs, longest_paragraph, Kind, Paragraph, MAX_PARAGRAPH_BYTES};
use crate::settings::ScorerSettings;

/// What `score` reads and writes.
#[derive(Debug, Clone)]
pub struct ScoreSettings {
    /// Files, folders or `-`.
    pub inputs: Vec<PathBuf>,
    /// Format for stdin or files without a known extension.
    pub format: Option<Format>,
    /// Outlet for articles that name none (and for all .txt files).
    pub outlet: Option<String>,
    /// Output folder (created if missing).
    pub out: PathBuf,
    /// Stop at the first bad record instead of skipping it.
    pub strict: bool,
    /// The files' format: CSV, or Parquet (typed columns).
    pub out_format: OutFormat,
    /// Write CSV text cells exactly as read (default: cells a spreadsheet would take for a
    /// formula get a leading `'`). Parquet text is always written as read.
    pub raw_cells: bool,
    /// Content paragraphs per encoding chunk.
    pub chunk_paragraphs: usize,
    /// The encoder and head.
    pub scorer: ScorerSettings,
}

/// How a run went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScoreSummary {
    /// Articles written.
    pub articles: u64,
    /// Paragraph rows written.
    pub paragraphs: u64,
    /// Bad records skipped.
    pub skipped: u64,
}

/// Where scored rows go: the CLI's CSV or Parquet files, or a library user's own columns (the
/// Python package builds data frames).
pub trait RowSink {
    /// One paragraph, in input order.
    fn paragraph(&mut self, row: &ParagraphRow) -> Result<()>;
    /// One article, after all its paragraphs.
    fn article(&mut self, row: &ArticleRow) -> Result<()>;
}

struct Writers {
    paragraphs: TableFile,
    articles: TableFile,
}

impl Writers {
    /// Starts both files of a run in `out`.
    fn create(out: &std::path::Path, format: OutFormat, provenance: &Provenance) -> Result<Writers> {
        let [paragraphs, articles] = format.file_names();
        Ok(Writers {
            paragraphs: TableFile::create::<ParagraphRow>(format, &out.join(paragraphs), provenance)?,
            articles: TableFile::create::<ArticleRow>(format, &out.join(articles), provenance)?,
        })
    }
}

impl RowSink for Writers {
    fn paragraph(&mut self, row: &ParagraphRow) -> Result<()> {
        self.paragraphs.write(row)
    }

    fn article(&mut self, row: &ArticleRow) -> Result<()> {
        self.articles.write(row)
    }
}

/// Everything that turns segmented articles into rows: the scorer, the lexicon for the tone
/// columns, and the provenance written into every article row. The CLI and the Python package
/// both score through it, so they give the same numbers.
pub struct Pipeline {
    scorer: Scorer,
    lexicon: Lexicon,
    provenance: Provenance,
}

impl Pipeline {
    /// Loads the models the settings name.
    pub fn build(settings: &ScorerSettings) -> Result<Pipeline> {
        let (assets, scorer) = settings.build()?;
        let lexicon = Lexicon::load(&assets.verified(LEXICON, true)?)?;
        let provenance = Provenance {
            model: format!("all-MiniLM-L6-v2@{}/{}", short(&scorer.head().encoder.onnx_sha256), scorer.backend_name()),
            head: scorer.head().id.clone(),
        };
        Ok(Pipeline { scorer, lexicon, provenance })
    }

    /// The scorer (for paragraph-only scoring).
    pub fn scorer(&mut self) -> &mut Scorer {
        &mut self.scorer
    }

    /// Which encoder and head make this pipeline's scores.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// Scores a chunk of segmented articles and hands every paragraph row, then its article's
    /// row, to `sink`, in input order, with text cells as read. A chunk of any size gives the
    /// same rows.
    pub fn score_chunk(&mut self, chunk: &[(Article, Vec<Paragraph>)], sink: &mut dyn RowSink) -> Result<()> {
        let mut pending = Pending::default();
        for (i, (article, paragraphs)) in chunk.iter().enumerate() {
            pending.open.push_back(Open { article: article.clone(), acc: ArticleAccumulator::default(), queued: true });
            pending.paragraphs.extend(paragraphs.iter().map(|p| (i, p.clone())));
        }
        self.flush(&mut pending, sink, Cells { raw: true }, &mut ScoreSummary::default())
    }

    /// Scores the queued paragraphs, hands their rows to `sink`, and the rows of the articles
    /// now complete.
    fn flush(
        &mut self,
        pending: &mut Pending,
        sink: &mut dyn RowSink,
        cells: Cells,
        summary: &mut ScoreSummary,
    ) -> Result<()> {
        let inputs: Vec<(&str, Kind)> = pending.paragraphs.iter().map(|(_, p)| (p.text.as_str(), p.kind)).collect();
        let scored = self.scorer.score(&inputs)?;
        let (head, stances) = (self.scorer.head(), self.scorer.stances());
        for ((id, p), s) in pending.paragraphs.drain(..).zip(scored) {
            let open = &mut pending.open[id - pending.first];
            let (p_opt, p_neu, p_ske) = stances.split(&s.probs);
            sink.paragraph(&ParagraphRow {
                article_id: cells.text(&open.article.id),
                outlet: cells.text(open.article.outlet.as_deref().unwrap_or("")),
                paragraph: p.index,
                kind: p.kind.as_str(),
                label: cells.text(&head.labels[s.label]),
                p_optimistic: round4(p_opt),
                p_neutral: round4(p_neu),
                p_skeptical: round4(p_ske),
                stance: round4(p_opt - p_ske),
                windows: s.windows,
                words: p.words,
                text: cells.text(&p.text),
            })?;
            let content = p.kind == Kind::Content;
            // Paragraphs are added in article order across chunks: the same sums in the same
            // order as if the article had been scored whole, so the metrics are the same bits.
            open.acc.add(&ParagraphFacts {
                content,
                stance: p_opt - p_ske,
                label: stances.of(s.label),
                words: p.words as u64,
                tone: if content { self.lexicon.count(&p.text) } else { Default::default() },
            });
            summary.paragraphs += 1;
        }
        pending.content = 0;
        while pending.open.front().is_some_and(|o| o.queued) {
            let Some(done) = pending.open.pop_front() else { break };
            pending.first += 1;
            sink.article(&ArticleRow::new(&done.article, &done.acc.finish(), &self.provenance, cells))?;
            summary.articles += 1;
        }
        Ok(())
    }
}

/// Runs `score`: loads the models, then streams the inputs through them.
pub fn run(settings: &ScoreSettings, progress: &dyn Progress) -> Result<ScoreSummary> {
    let found = discover(&settings.inputs, settings.format)?;
    if found.sources.is_empty() && found.problems.is_empty() {
        return Err(Error::NoInput("no input files found (looked for .txt, .jsonl and .csv)".into()));
    }
    let mut summary = ScoreSummary::default();
    found.notes.iter().for_each(|note| progress.note(note));
    for problem in found.problems {
        skip(problem, settings.strict, &mut summary, progress)?;
    }
    let sources = found.sources;
    let out = &settings.out;
    let lock = claim(out, settings.out_format, progress)?;
    let pipeline = Pipeline::build(&settings.scorer)?;
    let writers = Writers::create(out, settings.out_format, pipeline.provenance())?;
    // Formula guarding is for spreadsheets, which open CSV; Parquet text is written as read.
    let cells = Cells { raw: settings.raw_cells || settings.out_format == OutFormat::Parquet };
    let started = Instant::now();
    progress.start(total_bytes(&sources));
    let stream = ArticleStream::new(sources, settings.outlet.clone());
    let bytes = stream.bytes_read();
    let report = |summary: &ScoreSummary| {
        progress.advance(bytes.load(std::sync::atomic::Ordering::Relaxed), &status(summary, started));
    };
    let mut scoring = Scoring { pipeline, writers, cells, summary, pending: Pending::default() };
    for item in stream {
        let article = match item.and_then(check_size) {
            Ok(article) => article,
            Err(e) => {
                skip(e, settings.strict, &mut scoring.summary, progress)?;
                continue;
            }
        };
        scoring.add(article, settings.chunk_paragraphs, &report)?;
    }
    scoring.flush()?;
    report(&scoring.summary);
    progress.finish();
    let Scoring { writers, summary, .. } = scoring;
    if summary.articles == 0 {
        return Err(Error::NoInput(format!(
            "no article could be read ({} bad records skipped); nothing written",
            summary.skipped
        )));
    }
    commit_all(vec![writers.paragraphs, writers.articles])?;
    drop(lock);
    Ok(summary)
}

/// Makes the output folder this run's, before any model loads: creates and locks it (another
/// run writing into it is refused), removes temporary files a killed run left there (of either
/// format), and refuses a folder standing where an output file goes (it could not be replaced
/// at the end).
fn claim(out: &std::path::Path, format: OutFormat, progress: &dyn Progress) -> Result<FolderLock> {
    if out.exists() && !out.is_dir() {
        return Err(Error::Usage(format!(
            "--out {} is a file; give a folder (it is created if missing) for paragraphs and articles",
            shown(out)
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let lock = lock_folder(out)?;
    let every_output: Vec<&str> = OutFormat::ALL.iter().flat_map(|f| f.file_names()).collect();
    let swept = crate::output::sweep_partial_files(out, &every_output, &lock)?;
    if swept > 0 {
        progress.note(&format!("removed {swept} temporary files an interrupted run left in {}", shown(out)));
    }
    for name in format.file_names() {
        if out.join(name).is_dir() {
            let problem =
                std::io::Error::other("is a folder where the output file goes; move it, or choose another --out");
            return Err(Error::io(out.join(name), problem));
        }
    }
    Ok(lock)
}

/// An article that has a paragraph over [`MAX_PARAGRAPH_BYTES`] is a bad record, found before
/// any of its rows is written.
fn check_size(article: Article) -> Result<Article> {
    let longest = longest_paragraph(&article.body);
    if longest > MAX_PARAGRAPH_BYTES {
        let message = format!("article \"{}\": {}", article.id, paragraph_too_long(longest));
        return Err(Error::record(article.at, message));
    }
    Ok(article)
}

/// An article whose paragraphs are being scored; its row is written once they all are.
struct Open {
    article: Article,
    acc: ArticleAccumulator,
    /// All its paragraphs are in the queue (or already scored).
    queued: bool,
}

/// Paragraphs waiting to be scored, and the articles they belong to, in input order.
#[derive(Default)]
struct Pending {
    open: VecDeque<Open>,
    /// Sequence number of `open[0]`.
    first: usize,
    paragraphs: Vec<(usize, Paragraph)>,
    content: usize,
}

/// The models, the writers and the queue of one run.
struct Scoring {
    pipeline: Pipeline,
    writers: Writers,
    cells: Cells,
    summary: ScoreSummary,
    pending: Pending,
}

impl Scoring {
    /// Queues an article's paragraphs, scoring whenever a chunk is full. Chunks end between
    /// articles once they hold `chunk` content paragraphs; a single article past 4 x `chunk`
    /// content paragraphs (or 16 x `chunk` paragraphs of any kind) is cut, so an article of any
    /// length is scored in bounded chunks, its accumulator carried from one to the next and its
    /// rows written as they are scored.
    fn add(&mut self, mut article: Article, chunk: usize, report: &dyn Fn(&ScoreSummary)) -> Result<()> {
        let body = std::mem::replace(&mut article.body, Body::Paragraphs(Vec::new()));
        let id = self.pending.first + self.pending.open.len();
        self.pending.open.push_back(Open { article, acc: ArticleAccumulator::default(), queued: false });
        for paragraph in into_paragraphs(body) {
            self.pending.content += usize::from(paragraph.kind == Kind::Content);
            self.pending.paragraphs.push((id, paragraph));
            if self.pending.content >= 4 * chunk || self.pending.paragraphs.len() >= 16 * chunk {
                self.flush()?;
                report(&self.summary);
            }
        }
        if let Some(open) = self.pending.open.back_mut() {
            open.queued = true;
        }
        if self.pending.content >= chunk {
            self.flush()?;
            report(&self.summary);
        }
        Ok(())
    }

    /// Scores the queued paragraphs, writes their rows, and writes the rows of the articles
    /// now complete.
    fn flush(&mut self) -> Result<()> {
        self.pipeline.flush(&mut self.pending, &mut self.writers, self.cells, &mut self.summary)
    }
}

/// Skips a bad record with a note, or with `strict` (or for any other error) stops the run.
fn skip(e: Error, strict: bool, summary: &mut ScoreSummary, progress: &dyn Progress) -> Result<()> {
    if !e.is_record() || strict {
        return Err(e);
    }
    summary.skipped += 1;
    progress.note(&format!("skipped: {e}"));
    Ok(())
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Articles and paragraphs done, with rates.
fn status(summary: &ScoreSummary, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    format!(
        "{} articles ({:.1}/s), {} paragraphs ({:.0}/s)",
        summary.articles,
        summary.articles as f64 / secs,
        summary.paragraphs,
        summary.paragraphs as f64 / secs
    )
}
