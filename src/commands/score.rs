//! `stancemeter score`: articles in, paragraphs.csv and articles.csv out.
//!
//! Articles stream through in chunks of about `chunk_paragraphs` content paragraphs: each
//! chunk is encoded in length-sorted batches, its rows written, and its articles rolled up,
//! so memory stays flat however long the input is. Both files appear only when the run is
//! complete.

use std::path::PathBuf;
use std::time::Instant;

use crate::aggregate::{ArticleAccumulator, ParagraphFacts};
use crate::assets::LEXICON;
use crate::error::{Error, Result};
use crate::input::{discover, total_bytes, Article, ArticleStream, Format};
use crate::lexicon::Lexicon;
use crate::output::{round4, ArticleRow, AtomicCsv, ParagraphRow, Provenance};
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

/// Where scored rows go: the CLI's CSV files, or a library user's own columns.
pub trait RowSink {
    /// One paragraph, in input order.
    fn paragraph(&mut self, row: &ParagraphRow) -> Result<()>;
    /// One article, after all its paragraphs.
    fn article(&mut self, row: &ArticleRow) -> Result<()>;
}

struct Writers {
    paragraphs: AtomicCsv,
    articles: AtomicCsv,
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
/// both score through [`Pipeline::score_chunk`], so they give the same numbers.
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
    /// row, to `sink`, in input order. A chunk of any size gives the same rows.
    pub fn score_chunk(&mut self, chunk: &[(Article, Vec<Paragraph>)], sink: &mut dyn RowSink) -> Result<()> {
        let inputs: Vec<(&str, Kind)> =
            chunk.iter().flat_map(|(_, ps)| ps.iter().map(|p| (p.text.as_str(), p.kind))).collect();
        let scored = self.scorer.score(&inputs)?;
        let (head, stances) = (self.scorer.head(), self.scorer.stances());
        let mut next = 0;
        for (article, paras) in chunk {
            let mut acc = ArticleAccumulator::default();
            for p in paras {
                let s = &scored[next];
                debug_assert_eq!(s.index, next, "scores come back in input order");
                next += 1;
                let (p_opt, p_neu, p_ske) = stances.split(&s.probs);
                sink.paragraph(&ParagraphRow {
                    article_id: &article.id,
                    outlet: article.outlet.as_deref().unwrap_or(""),
                    paragraph: p.index,
                    kind: p.kind.as_str(),
                    label: &head.labels[s.label],
                    p_optimistic: round4(p_opt),
                    p_neutral: round4(p_neu),
                    p_skeptical: round4(p_ske),
                    stance: round4(p_opt - p_ske),
                    windows: s.windows,
                    words: p.words,
                    text: &p.text,
                })?;
                let content = p.kind == Kind::Content;
                acc.add(&ParagraphFacts {
                    content,
                    stance: p_opt - p_ske,
                    label: stances.of(s.label),
                    words: p.words as u64,
                    tone: if content { self.lexicon.count(&p.text) } else { Default::default() },
                });
            }
            sink.article(&ArticleRow::new(article, &acc.finish(), &self.provenance))?;
        }
        Ok(())
    }
}

/// Runs `score`: loads the models, then streams the inputs through them.
pub fn run(settings: &ScoreSettings, progress: &dyn Progress) -> Result<ScoreSummary> {
    let sources = discover(&settings.inputs, settings.format)?;
    if sources.is_empty() {
        return Err(Error::NoInput("no input files found (looked for .txt, .jsonl and .csv)".into()));
    }
    let mut pipeline = Pipeline::build(&settings.scorer)?;
    std::fs::create_dir_all(&settings.out).map_err(|e| Error::io(&settings.out, e))?;
    let mut writers = Writers {
        paragraphs: AtomicCsv::create(&settings.out.join("paragraphs.csv"))?,
        articles: AtomicCsv::create(&settings.out.join("articles.csv"))?,
    };
    let mut summary = ScoreSummary::default();
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
            Err(e) if e.is_record() && !settings.strict => {
                summary.skipped += 1;
                progress.note(&format!("skipped: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let paras = paragraphs(&article.body);
        chunk_content += paras.iter().filter(|p| p.kind == Kind::Content).count();
        chunk.push((article, paras));
        if chunk_content >= settings.chunk_paragraphs {
            flush(&mut chunk, &mut pipeline, &mut writers, &mut summary)?;
            chunk_content = 0;
            report(&summary);
        }
    }
    flush(&mut chunk, &mut pipeline, &mut writers, &mut summary)?;
    report(&summary);
    progress.finish();
    if summary.articles == 0 {
        return Err(Error::NoInput(format!(
            "no article could be read ({} bad records skipped); nothing written",
            summary.skipped
        )));
    }
    writers.paragraphs.commit()?;
    writers.articles.commit()?;
    Ok(summary)
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
    pipeline: &mut Pipeline,
    writers: &mut Writers,
    summary: &mut ScoreSummary,
) -> Result<()> {
    pipeline.score_chunk(chunk, writers)?;
    summary.articles += chunk.len() as u64;
    summary.paragraphs += chunk.iter().map(|(_, ps)| ps.len() as u64).sum::<u64>();
    chunk.clear();
    Ok(())
}
