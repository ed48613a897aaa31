//! Stage 7 for Python callers: the CLI's row structs collected into columns (one Vec per CSV
//! column, in CSV order), handed to Python as a dict of lists. Empty text fields (an unknown
//! outlet, no date) become None, so they are missing values in pandas and Arrow.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use stancemeter::commands::score::{Pipeline, RowSink};
use stancemeter::compare::{GroupRow, PairRow};
use stancemeter::input::Article;
use stancemeter::output::{ArticleRow, ParagraphRow};
use stancemeter::segment::{paragraphs, Kind};
use stancemeter::Result;

fn text(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

/// paragraphs.csv as columns.
#[derive(Default)]
pub struct ParagraphColumns {
    article_id: Vec<String>,
    outlet: Vec<Option<String>>,
    paragraph: Vec<usize>,
    kind: Vec<&'static str>,
    label: Vec<String>,
    p_optimistic: Vec<f64>,
    p_neutral: Vec<f64>,
    p_skeptical: Vec<f64>,
    stance: Vec<f64>,
    windows: Vec<usize>,
    words: Vec<usize>,
    text: Vec<String>,
}

impl ParagraphColumns {
    fn push(&mut self, r: &ParagraphRow) {
        self.article_id.push(r.article_id.to_string());
        self.outlet.push(text(&r.outlet));
        self.paragraph.push(r.paragraph);
        self.kind.push(r.kind);
        self.label.push(r.label.to_string());
        self.p_optimistic.push(r.p_optimistic);
        self.p_neutral.push(r.p_neutral);
        self.p_skeptical.push(r.p_skeptical);
        self.stance.push(r.stance);
        self.windows.push(r.windows);
        self.words.push(r.words);
        self.text.push(r.text.to_string());
    }

    /// The columns as a dict of lists, in CSV order.
    pub fn into_dict(self, py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("article_id", self.article_id)?;
        d.set_item("outlet", self.outlet)?;
        d.set_item("paragraph", self.paragraph)?;
        d.set_item("kind", self.kind)?;
        d.set_item("label", self.label)?;
        d.set_item("p_optimistic", self.p_optimistic)?;
        d.set_item("p_neutral", self.p_neutral)?;
        d.set_item("p_skeptical", self.p_skeptical)?;
        d.set_item("stance", self.stance)?;
        d.set_item("windows", self.windows)?;
        d.set_item("words", self.words)?;
        d.set_item("text", self.text)?;
        Ok(d)
    }
}

/// articles.csv as columns.
#[derive(Default)]
pub struct ArticleColumns {
    strings: [Vec<Option<String>>; 5],
    counts: [Vec<u64>; 2],
    metrics: [Vec<Option<f64>>; 10],
    words: Vec<u64>,
    lexicon: [Vec<Option<f64>>; 3],
    provenance: [Vec<String>; 2],
}

const STRINGS: [&str; 5] = ["article_id", "outlet", "date", "title", "url"];
const COUNTS: [&str; 2] = ["n_paragraphs", "n_scored"];
const METRICS: [&str; 13] = [
    "stance_mean",
    "share_optimistic",
    "share_neutral",
    "share_skeptical",
    "net_tone",
    "polarity",
    "stance_sd",
    "lede_stance",
    "max_stance",
    "min_stance",
    "lex_positive",
    "lex_negative",
    "lex_tone",
];
const PROVENANCE: [&str; 2] = ["model", "head"];

impl ArticleColumns {
    fn push(&mut self, r: &ArticleRow) {
        for (col, v) in self.strings.iter_mut().zip([&r.article_id, &r.outlet, &r.date, &r.title, &r.url]) {
            col.push(text(v));
        }
        self.counts[0].push(r.n_paragraphs);
        self.counts[1].push(r.n_scored);
        let metrics = [
            r.stance_mean,
            r.share_optimistic,
            r.share_neutral,
            r.share_skeptical,
            r.net_tone,
            r.polarity,
            r.stance_sd,
            r.lede_stance,
            r.max_stance,
            r.min_stance,
        ];
        for (col, v) in self.metrics.iter_mut().zip(metrics) {
            col.push(v);
        }
        self.words.push(r.words);
        for (col, v) in self.lexicon.iter_mut().zip([r.lex_positive, r.lex_negative, r.lex_tone]) {
            col.push(v);
        }
        self.provenance[0].push(r.model.to_string());
        self.provenance[1].push(r.head.to_string());
    }

    /// The columns as a dict of lists, in CSV order.
    pub fn into_dict(self, py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        let d = PyDict::new(py);
        for (name, col) in STRINGS.iter().zip(self.strings) {
            d.set_item(name, col)?;
        }
        for (name, col) in COUNTS.iter().zip(self.counts) {
            d.set_item(name, col)?;
        }
        for (name, col) in METRICS[..10].iter().zip(self.metrics) {
            d.set_item(name, col)?;
        }
        d.set_item("words", self.words)?;
        for (name, col) in METRICS[10..].iter().zip(self.lexicon) {
            d.set_item(name, col)?;
        }
        for (name, col) in PROVENANCE.iter().zip(self.provenance) {
            d.set_item(name, col)?;
        }
        Ok(d)
    }
}

struct Sink<'a> {
    paragraphs: &'a mut ParagraphColumns,
    articles: &'a mut ArticleColumns,
}

impl RowSink for Sink<'_> {
    fn paragraph(&mut self, row: &ParagraphRow) -> Result<()> {
        self.paragraphs.push(row);
        Ok(())
    }

    fn article(&mut self, row: &ArticleRow) -> Result<()> {
        self.articles.push(row);
        Ok(())
    }
}

/// Segments and scores articles in chunks of about `chunk_paragraphs` content paragraphs, as
/// the CLI does (chunking never changes a score; it bounds the encoder's working memory).
pub fn score(
    pipeline: &mut Pipeline,
    articles: Vec<Article>,
    chunk_paragraphs: usize,
    paragraph_out: &mut ParagraphColumns,
    article_out: &mut ArticleColumns,
) -> Result<()> {
    let mut sink = Sink { paragraphs: paragraph_out, articles: article_out };
    let mut chunk = Vec::new();
    let mut content = 0;
    for article in articles {
        let paras = paragraphs(&article.body);
        content += paras.iter().filter(|p| p.kind == Kind::Content).count();
        chunk.push((article, paras));
        if content >= chunk_paragraphs.max(1) {
            pipeline.score_chunk(&chunk, &mut sink)?;
            chunk.clear();
            content = 0;
        }
    }
    pipeline.score_chunk(&chunk, &mut sink)
}

/// A float column of a compare table: its name and how to read it from a row.
type FloatColumn<R> = (&'static str, fn(&R) -> f64);

/// compare's group rows as columns.
pub fn groups<'py>(py: Python<'py>, rows: &[GroupRow]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("group", rows.iter().map(|r| r.group.clone()).collect::<Vec<_>>())?;
    d.set_item("n_articles", rows.iter().map(|r| r.n_articles).collect::<Vec<_>>())?;
    d.set_item("n_paragraphs", rows.iter().map(|r| r.n_paragraphs).collect::<Vec<_>>())?;
    d.set_item("n_scored", rows.iter().map(|r| r.n_scored).collect::<Vec<_>>())?;
    let floats: [FloatColumn<GroupRow>; 6] = [
        ("mean_stance", |r| r.mean_stance),
        ("ci_low", |r| r.ci_low),
        ("ci_high", |r| r.ci_high),
        ("share_optimistic", |r| r.share_optimistic),
        ("share_neutral", |r| r.share_neutral),
        ("share_skeptical", |r| r.share_skeptical),
    ];
    for (name, get) in floats {
        d.set_item(name, rows.iter().map(get).collect::<Vec<_>>())?;
    }
    Ok(d)
}

/// compare's pair rows as columns.
pub fn pairs<'py>(py: Python<'py>, rows: &[PairRow]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("group_a", rows.iter().map(|r| r.group_a.clone()).collect::<Vec<_>>())?;
    d.set_item("group_b", rows.iter().map(|r| r.group_b.clone()).collect::<Vec<_>>())?;
    let floats: [FloatColumn<PairRow>; 4] =
        [("diff", |r| r.diff), ("ci_low", |r| r.ci_low), ("ci_high", |r| r.ci_high), ("p_value", |r| r.p_value)];
    for (name, get) in floats {
        d.set_item(name, rows.iter().map(get).collect::<Vec<_>>())?;
    }
    Ok(d)
}
