//! `stancemeter score`: articles in, paragraphs.csv and articles.csv out.
//!
//! Articles stream through in chunks of about `chunk_paragraphs` content paragraphs: each
//! chunk is encoded in length-sorted batches, its rows written, and its articles rolled up,
//! so memory stays flat however long the input is. Both files appear only when the run is
//! complete, and together: the output folder is locked for the run, and if the second file
//! cannot be moved into place the first is removed again.

use std::path::PathBuf;
use std::time::Instant;

use crate::aggregate::{ArticleAccumulator, ParagraphFacts};
use crate::assets::LEXICON;
use crate::error::{shown, Error, Result};
use crate::input::{discover, total_bytes, Article, ArticleStream, Format};
use crate::lexicon::Lexicon;
use crate::output::{commit_all, lock_folder, round4, ArticleRow, AtomicCsv, Cells, ParagraphRow, Provenance};
use crate::progress::Progress;
use crate::score::Scorer;
use crate::segment::{paragraphs, Kind, Paragraph};
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
    /// Write text cells exactly as read (default: cells a spreadsheet would take for a formula
    /// get a leading `'`).
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

/// The files `score` writes into its output folder, in the order they are moved into place.
const OUTPUTS: [&str; 2] = ["paragraphs.csv", "articles.csv"];

struct Writers {
    paragraphs: AtomicCsv,
    articles: AtomicCsv,
    cells: Cells,
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
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let lock = lock_folder(out)?;
    let swept = crate::output::sweep_partial_files(out, &OUTPUTS, &lock)?;
    if swept > 0 {
        progress.note(&format!("removed {swept} temporary files an interrupted run left in {}", shown(out)));
    }
    for name in OUTPUTS {
        if out.join(name).is_dir() {
            let problem =
                std::io::Error::other("is a folder where the output file goes; move it, or choose another --out");
            return Err(Error::io(out.join(name), problem));
        }
    }
    let (assets, mut scorer) = settings.scorer.build()?;
    let lexicon = Lexicon::load(&assets.verified(LEXICON, true)?)?;
    let mut writers = Writers {
        paragraphs: AtomicCsv::create(&out.join(OUTPUTS[0]))?,
        articles: AtomicCsv::create(&out.join(OUTPUTS[1]))?,
        cells: Cells { raw: settings.raw_cells },
    };
    let provenance = Provenance {
        model: format!("all-MiniLM-L6-v2@{}/{}", short(&scorer.head().encoder.onnx_sha256), scorer.backend_name()),
        head: scorer.head().id.clone(),
    };
    let started = Instant::now();
    let mut chunk: Vec<(Article, Vec<Paragraph>)> = Vec::new();
    let mut chunk_content = 0usize;
    progress.start(total_bytes(&sources));
    let stream = ArticleStream::new(sources, settings.outlet.clone());
    let bytes = stream.bytes_read();
    let report = |summary: &ScoreSummary| {
        progress.advance(bytes.load(std::sync::atomic::Ordering::Relaxed), &status(summary, started));
    };
    for item in stream {
        let article = match item {
            Ok(article) => article,
            Err(e) => {
                skip(e, settings.strict, &mut summary, progress)?;
                continue;
            }
        };
        let paras = paragraphs(&article.body);
        chunk_content += paras.iter().filter(|p| p.kind == Kind::Content).count();
        chunk.push((article, paras));
        if chunk_content >= settings.chunk_paragraphs {
            flush(&mut chunk, &mut scorer, &lexicon, &mut writers, &provenance, &mut summary)?;
            chunk_content = 0;
            report(&summary);
        }
    }
    flush(&mut chunk, &mut scorer, &lexicon, &mut writers, &provenance, &mut summary)?;
    report(&summary);
    progress.finish();
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

fn flush(
    chunk: &mut Vec<(Article, Vec<Paragraph>)>,
    scorer: &mut Scorer,
    lexicon: &Lexicon,
    writers: &mut Writers,
    provenance: &Provenance,
    summary: &mut ScoreSummary,
) -> Result<()> {
    let inputs: Vec<(&str, Kind)> =
        chunk.iter().flat_map(|(_, ps)| ps.iter().map(|p| (p.text.as_str(), p.kind))).collect();
    let scored = scorer.score(&inputs)?;
    let (head, stances) = (scorer.head(), scorer.stances());
    let mut next = 0;
    for (article, paras) in chunk.drain(..) {
        let mut acc = ArticleAccumulator::default();
        for p in &paras {
            let s = &scored[next];
            debug_assert_eq!(s.index, next, "scores come back in input order");
            next += 1;
            let (p_opt, p_neu, p_ske) = stances.split(&s.probs);
            let cells = writers.cells;
            writers.paragraphs.write(&ParagraphRow {
                article_id: cells.text(&article.id),
                outlet: cells.text(article.outlet.as_deref().unwrap_or("")),
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
            acc.add(&ParagraphFacts {
                content,
                stance: p_opt - p_ske,
                label: stances.of(s.label),
                words: p.words as u64,
                tone: if content { lexicon.count(&p.text) } else { Default::default() },
            });
            summary.paragraphs += 1;
        }
        writers.articles.write(&ArticleRow::new(&article, &acc.finish(), provenance, writers.cells))?;
        summary.articles += 1;
    }
    Ok(())
}
