//! Stage 1 for Python callers: rows given as columns of Python values become [`Article`]s, by
//! the same rules as a JSONL line (an `id` string or integer; `text`, or `paragraphs` as a
//! list of strings; optional title, outlet, date, url), with the same messages, naming the row
//! as `source[i]` (0-based, as Python counts).

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString};

use stancemeter::input::{Article, Body};
use stancemeter::{Error, Location};

use crate::InputError;

/// The fields a row may have; any other key is ignored, as in JSONL.
const FIELDS: [&str; 7] = ["id", "text", "paragraphs", "title", "outlet", "date", "url"];

/// Reads every row. With `strict`, the first bad row raises; otherwise bad rows are left out
/// and their messages returned.
pub fn articles(columns: &Bound<'_, PyDict>, source: &str, strict: bool) -> PyResult<(Vec<Article>, Vec<String>)> {
    let mut lists: Vec<Option<Bound<'_, PyList>>> = Vec::with_capacity(FIELDS.len());
    for field in FIELDS {
        let list = match columns.get_item(field)? {
            Some(value) => Some(
                value
                    .cast_into::<PyList>()
                    .map_err(|_| InputError::new_err(format!("{source}: column {field:?} must be given as a list")))?,
            ),
            None => None,
        };
        lists.push(list);
    }
    let rows = lists.iter().flatten().map(|l| l.len()).max().unwrap_or(0);
    if let Some(short) = lists.iter().zip(FIELDS).find_map(|(l, f)| l.as_ref().filter(|l| l.len() != rows).map(|_| f)) {
        return Err(InputError::new_err(format!("{source}: column {short:?} is shorter than the others")));
    }
    let (mut out, mut skipped) = (Vec::with_capacity(rows), Vec::new());
    for i in 0..rows {
        let at = Location::file(format!("{source}[{i}]"));
        let cell = |k: usize| -> PyResult<Option<Bound<'_, PyAny>>> {
            match &lists[k] {
                Some(list) => Ok(Some(list.get_item(i)?).filter(|v| !v.is_none())),
                None => Ok(None),
            }
        };
        let cells: Vec<Option<Bound<'_, PyAny>>> = (0..FIELDS.len()).map(cell).collect::<PyResult<_>>()?;
        match article(&cells, at) {
            Ok(article) => out.push(article),
            Err(e) if strict => return Err(crate::to_py(e)),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    Ok((out, skipped))
}

/// One row, `cells` in the order of [`FIELDS`], missing values already `None`.
fn article(cells: &[Option<Bound<'_, PyAny>>], at: Location) -> Result<Article, Error> {
    let id = match &cells[0] {
        Some(v) if v.is_instance_of::<PyString>() => {
            Some(string(v, &at, "id")?.trim().to_string()).filter(|s| !s.is_empty())
        }
        Some(v) if v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() => Some(v.to_string()),
        _ => None,
    };
    let Some(id) = id else {
        return Err(Error::record(at, "missing field \"id\" (a non-empty string)"));
    };
    let body = match (&cells[2], &cells[1]) {
        (Some(list), _) => {
            let paragraphs = paragraphs(list, &at, &id)?;
            if paragraphs.iter().all(|p| p.trim().is_empty()) {
                return Err(Error::record(at, format!("article \"{id}\" has no non-empty paragraphs")));
            }
            Body::Paragraphs(paragraphs)
        }
        (None, Some(text)) => {
            let text = string(text, &at, &format!("article \"{id}\": \"text\""))?;
            if text.trim().is_empty() {
                return Err(Error::record(at, format!("article \"{id}\" has empty \"text\"")));
            }
            Body::Text(text)
        }
        (None, None) => {
            return Err(Error::record(at, format!("article \"{id}\": missing field \"text\" (or \"paragraphs\")")))
        }
    };
    let optional = |k: usize| -> Result<Option<String>, Error> {
        let Some(v) = &cells[k] else { return Ok(None) };
        let text = string(v, &at, &format!("article \"{id}\": \"{}\"", FIELDS[k]))?;
        Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty()))
    };
    Ok(Article { title: optional(3)?, outlet: optional(4)?, date: optional(5)?, url: optional(6)?, id, body, at })
}

/// A string cell, or a message naming what it is instead.
fn string(value: &Bound<'_, PyAny>, at: &Location, what: &str) -> Result<String, Error> {
    if !value.is_instance_of::<PyString>() {
        let kind = value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        return Err(Error::record(at.clone(), format!("{what} must be a string, not {kind} ({})", short_repr(value))));
    }
    value.extract::<String>().map_err(|e| Error::record(at.clone(), format!("{what} is not valid text ({e})")))
}

/// A list of strings (any sequence but a string), or a message.
fn paragraphs(value: &Bound<'_, PyAny>, at: &Location, id: &str) -> Result<Vec<String>, Error> {
    let what = format!("article \"{id}\": \"paragraphs\"");
    let not_list = || {
        let kind = value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        Error::record(at.clone(), format!("{what} must be a list of strings, not {kind}"))
    };
    if value.is_instance_of::<PyString>() {
        return Err(not_list());
    }
    let items = value.try_iter().map_err(|_| not_list())?;
    let mut out = Vec::new();
    for (j, item) in items.enumerate() {
        let item = item.map_err(|_| not_list())?;
        out.push(string(&item, at, &format!("{what}[{j}]"))?);
    }
    Ok(out)
}

/// A value's repr, cut to fit a message.
fn short_repr(value: &Bound<'_, PyAny>) -> String {
    let text = value.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into());
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}
