//! `stancemeter score`: articles in, paragraphs.csv and articles.csv out.
//!
//! Articles stream through in chunks of about `chunk_paragraphs` content paragraphs: each
//! chunk is encoded in length-sorted batches, its rows written, and its articles rolled up,
//! so memory stays flat however long the input is. Both files appear only when the run is
//! complete.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::ProgressBar;

use crate::aggregate::{ArticleAccumulator, ParagraphFacts};
use crate::error::{Error, Result};
use crate::input::{discover, total_bytes, Article, ArticleStream, Format};
use crate::lexicon::Lexicon;
use crate::output::{round4, ArticleRow, AtomicCsv, ParagraphRow};
use crate::score::Scorer;
use crate::segment::{paragraphs, Kind, Paragraph};

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

/// Provenance written into every article row.
struct Provenance {
    model: String,
    head: String,
}

struct Writers {
    paragraphs: AtomicCsv,
    articles: AtomicCsv,
}

/// Runs `score`. Messages about skipped records go to stderr through `progress`.
pub fn run(
    settings: &ScoreSettings,
    scorer: &mut Scorer,
    lexicon: &Lexicon,
    progress: &ProgressBar,
) -> Result<ScoreSummary> {
    let sources = discover(&settings.inputs, settings.format)?;
    if sources.is_empty() {
        return Err(Error::NoInput("no input files found (looked for .txt, .jsonl and .csv)".into()));
    }
    std::fs::create_dir_all(&settings.out).map_err(|e| Error::io(&settings.out, e))?;
    let mut writers = Writers {
        paragraphs: AtomicCsv::create(&settings.out.join("paragraphs.csv"))?,
        articles: AtomicCsv::create(&settings.out.join("articles.csv"))?,
    };
    let provenance = Provenance {
        model: format!("all-MiniLM-L6-v2@{}/{}", short(&scorer.head().encoder.onnx_sha256), scorer.backend_name()),
        head: scorer.head().id.clone(),
    };
    let mut summary = ScoreSummary::default();
    let started = Instant::now();
    let mut chunk: Vec<(Article, Vec<Paragraph>)> = Vec::new();
    let mut chunk_content = 0usize;
    progress.set_length(total_bytes(&sources));
    let stream = ArticleStream::new(sources, settings.outlet.clone());
    let tracker = Tracker { progress, bytes: stream.bytes_read(), started };
    for item in stream {
        let article = match item {
            Ok(article) => article,
            Err(e) if e.is_record() && !settings.strict => {
                summary.skipped += 1;
                progress.suspend(|| eprintln!("skipped: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let paras = paragraphs(&article.body);
        chunk_content += paras.iter().filter(|p| p.kind == Kind::Content).count();
        chunk.push((article, paras));
        if chunk_content >= settings.chunk_paragraphs {
            flush(&mut chunk, scorer, lexicon, &mut writers, &provenance, &mut summary)?;
            chunk_content = 0;
            tracker.report(&summary);
        }
    }
    flush(&mut chunk, scorer, lexicon, &mut writers, &provenance, &mut summary)?;
    tracker.report(&summary);
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

/// Progress by input bytes (so the bar has an ETA) with article and paragraph rates.
struct Tracker<'a> {
    progress: &'a ProgressBar,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    started: Instant,
}

impl Tracker<'_> {
    fn report(&self, summary: &ScoreSummary) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        self.progress.set_position(self.bytes.load(std::sync::atomic::Ordering::Relaxed));
        self.progress.set_message(format!(
            "{} articles ({:.1}/s), {} paragraphs ({:.0}/s)",
            summary.articles,
            summary.articles as f64 / secs,
            summary.paragraphs,
            summary.paragraphs as f64 / secs
        ));
    }
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
    let mut scored = scorer.score(&inputs)?.into_iter();
    let head = scorer.head();
    let index = head.stance_index();
    for (article, paras) in chunk.drain(..) {
        let mut acc = ArticleAccumulator::default();
        for (p, s) in paras.iter().zip(scored.by_ref()) {
            let (p_opt, p_neu, p_ske) = index.split(&s.probs);
            writers.paragraphs.write(&ParagraphRow {
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
                label: index.of(s.label),
                words: p.words as u64,
                tone: if content { lexicon.count(&p.text) } else { Default::default() },
            });
            summary.paragraphs += 1;
        }
        write_article(writers, &article, &acc, provenance)?;
        summary.articles += 1;
    }
    Ok(())
}

fn write_article(
    writers: &mut Writers,
    article: &Article,
    acc: &ArticleAccumulator,
    provenance: &Provenance,
) -> Result<()> {
    let m = acc.finish();
    let r = |x: Option<f64>| x.map(round4);
    let share = |i: usize| m.shares.map(|s| round4(s[i]));
    let percent = |count: u64| (m.tone.words > 0).then(|| 100.0 * count as f64 / m.tone.words as f64);
    let (pos, neg) = (percent(m.tone.positive), percent(m.tone.negative));
    writers.articles.write(&ArticleRow {
        article_id: &article.id,
        outlet: article.outlet.as_deref().unwrap_or(""),
        date: article.date.as_deref().unwrap_or(""),
        title: article.title.as_deref().unwrap_or(""),
        url: article.url.as_deref().unwrap_or(""),
        n_paragraphs: m.n_paragraphs,
        n_scored: m.n_scored,
        stance_mean: r(m.stance_mean),
        share_optimistic: share(0),
        share_neutral: share(1),
        share_skeptical: share(2),
        net_tone: m.shares.map(|s| round4(s[0] - s[2])),
        polarity: m.shares.map(|s| round4(1.0 - s[1])),
        stance_sd: r(m.stance_sd),
        lede_stance: r(m.lede_stance),
        max_stance: r(m.max_stance),
        min_stance: r(m.min_stance),
        words: m.words,
        lex_positive: r(pos),
        lex_negative: r(neg),
        lex_tone: pos.zip(neg).map(|(p, n)| round4(p - n)),
        model: &provenance.model,
        head: &provenance.head,
    })
}
