//! The compiled half of the Python package (`stancemeter._native`): the library's own pipeline
//! behind a small Python surface. The pure-Python package (python/stancemeter/) turns
//! DataFrames, Arrow tables and dicts into the plain columns these functions take, and the
//! columns they return into typed tables; all scoring, validation of records and comparison
//! happen here, in the same code the CLI runs.

mod columns;
mod records;

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use stancemeter::commands::score::Pipeline;
use stancemeter::encode::Precision;
use stancemeter::settings::{EncoderSettings, ScorerSettings};
use stancemeter::Error;

use columns::{ArticleColumns, ParagraphColumns};

pyo3::create_exception!(stancemeter, StancemeterError, PyException, "Base class of every stancemeter error.");
pyo3::create_exception!(
    stancemeter,
    InputError,
    StancemeterError,
    "An input record or table is malformed; the message names the row and what to do."
);
pyo3::create_exception!(
    stancemeter,
    ModelError,
    StancemeterError,
    "A model file is missing, does not match the manifest, or the encoder failed."
);
pyo3::create_exception!(stancemeter, UsageError, StancemeterError, "An argument has a value that cannot be used.");

/// The CLI's message for an error, with its causes as the CLI prints them.
fn message(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    text
}

/// Maps a library error onto the exception hierarchy.
pub(crate) fn to_py(err: Error) -> PyErr {
    let text = message(&err);
    match err {
        Error::Record { .. } | Error::NoInput(_) | Error::Csv { .. } => InputError::new_err(text),
        Error::Model { .. }
        | Error::Weights { .. }
        | Error::Head { .. }
        | Error::Runtime { .. }
        | Error::Backend { .. }
        | Error::Tokenizer { .. }
        | Error::Io { .. } => ModelError::new_err(text),
        Error::Usage(_) => UsageError::new_err(text),
        _ => StancemeterError::new_err(text),
    }
}

/// What `score_texts` returns: label names, probabilities per text, label index, windows.
type TextScores = (Vec<String>, Vec<Vec<f32>>, Vec<usize>, Vec<usize>);

/// A loaded encoder and head (see `stancemeter.Scorer`).
#[pyclass(module = "stancemeter._native")]
struct NativeScorer {
    // The pipeline scores through `&mut`; the lock lets Python threads share one scorer safely.
    pipeline: Mutex<Pipeline>,
    model: String,
    head: String,
}

fn lock(pipeline: &Mutex<Pipeline>) -> PyResult<std::sync::MutexGuard<'_, Pipeline>> {
    pipeline
        .lock()
        .map_err(|_| StancemeterError::new_err("an earlier call panicked while scoring; create a new Scorer"))
}

#[pymethods]
impl NativeScorer {
    #[new]
    #[pyo3(signature = (models=None, head=None, precision="int8", threads=None))]
    fn new(
        py: Python<'_>,
        models: Option<PathBuf>,
        head: Option<PathBuf>,
        precision: &str,
        threads: Option<usize>,
    ) -> PyResult<NativeScorer> {
        let precision: Precision = precision.parse().map_err(UsageError::new_err)?;
        if threads == Some(0) {
            return Err(UsageError::new_err("threads must be at least 1 (or None for every core)"));
        }
        let settings = ScorerSettings {
            encoder: EncoderSettings { models, precision: Some(precision), threads, ..EncoderSettings::default() },
            head,
            ..ScorerSettings::default()
        };
        let pipeline = py.detach(|| Pipeline::build(&settings)).map_err(|err| match err {
            // Almost always a models folder that is not where the search looked.
            Error::Io { .. } => ModelError::new_err(format!(
                "{}\nno models folder there: pass Scorer(models=\"path/to/models\"), set STANCEMETER_MODELS, \
                 or run `bash models/fetch` in the checkout",
                message(&err)
            )),
            err => to_py(err),
        })?;
        let (model, head) = (pipeline.provenance().model.clone(), pipeline.provenance().head.clone());
        Ok(NativeScorer { pipeline: Mutex::new(pipeline), model, head })
    }

    /// Encoder provenance, as in the `model` column.
    #[getter]
    fn model(&self) -> &str {
        &self.model
    }

    /// Head id, as in the `head` column.
    #[getter]
    fn head(&self) -> &str {
        &self.head
    }

    /// Scores articles given as columns (a dict of equal-length lists: id, text, paragraphs,
    /// title, outlet, date, url; missing values None). `source` names the input in messages.
    /// With `strict`, the first bad record raises InputError; otherwise bad records are
    /// skipped and their messages returned. Returns (paragraph columns, article columns,
    /// skipped messages).
    #[pyo3(signature = (columns, source="articles", strict=true, chunk_paragraphs=256))]
    fn score_columns<'py>(
        &self,
        py: Python<'py>,
        columns: &Bound<'py, PyDict>,
        source: &str,
        strict: bool,
        chunk_paragraphs: usize,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>, Vec<String>)> {
        let (articles, skipped) = records::articles(columns, source, strict)?;
        if articles.is_empty() {
            let why = if skipped.is_empty() {
                "it holds no rows".to_string()
            } else {
                format!("all {} rows are bad", skipped.len())
            };
            return Err(InputError::new_err(format!("{source}: no article to score: {why}")));
        }
        let mut paragraphs = ParagraphColumns::default();
        let mut out = ArticleColumns::default();
        py.detach(|| {
            let mut pipeline = lock(&self.pipeline)?;
            columns::score(&mut pipeline, articles, chunk_paragraphs, &mut paragraphs, &mut out).map_err(to_py)
        })?;
        Ok((paragraphs.into_dict(py)?, out.into_dict(py)?, skipped))
    }

    /// Scores single paragraphs as content (no segmentation, no furniture rules). Returns
    /// (label names in the head's order, probabilities per paragraph, label index, windows).
    fn score_texts(&self, py: Python<'_>, texts: Vec<String>) -> PyResult<TextScores> {
        let (labels, scored) = py.detach(|| {
            let mut pipeline = lock(&self.pipeline)?;
            let inputs: Vec<(&str, stancemeter::segment::Kind)> =
                texts.iter().map(|t| (t.as_str(), stancemeter::segment::Kind::Content)).collect();
            let scored = pipeline.scorer().score(&inputs).map_err(to_py)?;
            PyResult::Ok((pipeline.scorer().head().labels.clone(), scored))
        })?;
        let (probs, (label, windows)) = scored.into_iter().map(|s| (s.probs, (s.label, s.windows))).unzip();
        Ok((labels, probs, label, windows))
    }
}

/// `stancemeter compare` over an articles table given as CSV text (as `score` writes it):
/// returns (group columns, pair columns).
#[pyfunction]
#[pyo3(signature = (csv_text, by="outlet", resamples=2000, seed=42, source="articles"))]
fn compare_csv<'py>(
    py: Python<'py>,
    csv_text: &str,
    by: &str,
    resamples: usize,
    seed: u64,
    source: &str,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    if resamples == 0 {
        return Err(UsageError::new_err("resamples must be at least 1"));
    }
    let name = std::path::Path::new(source);
    let (groups, pairs) = py
        .detach(|| {
            let articles = stancemeter::compare::read_articles_from(csv_text.as_bytes(), name, by)?;
            if articles.is_empty() {
                return Err(Error::NoInput(format!("{source}: no article with a stance to compare")));
            }
            Ok(stancemeter::compare::compare(&articles, resamples, seed))
        })
        .map_err(to_py)?;
    Ok((columns::groups(py, &groups)?, columns::pairs(py, &pairs)?))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<NativeScorer>()?;
    m.add_function(wrap_pyfunction!(compare_csv, m)?)?;
    m.add("StancemeterError", py.get_type::<StancemeterError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    Ok(())
}
