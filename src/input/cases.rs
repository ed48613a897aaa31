//! Stage 1, read: behaviour test cases (tests/behaviour/*.jsonl), in the manner of CheckList
//! (Ribeiro et al., ACL 2020). One case per line:
//!
//! - `"test": "mft"` (minimum functionality): `text` must get `label`;
//! - `"test": "inv"` (invariance): `text` and `variant` differ only in names, places, outlets,
//!   dates or numbers, and must get the same label;
//! - `"test": "dir"` (directional): `variant` adds something that must move the stance
//!   (p_optimistic - p_skeptical) `"expect": "down"` or `"up"`.
//!
//! Every case has a unique `id` and a `capability` (negation, hedges, names, collapse added,
//! ...). Other fields are ignored.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Location, Result};

/// What a case checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The text gets this label.
    Label(String),
    /// The variant gets the same label as the text.
    Invariant,
    /// The variant's stance is below (`Down`) or above (`Up`) the text's.
    Direction(Direction),
}

/// Which way a directional case must move the stance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The variant's stance is lower.
    Down,
    /// The variant's stance is higher.
    Up,
}

/// One behaviour case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Unique id.
    pub id: String,
    /// The capability it tests.
    pub capability: String,
    /// The paragraph.
    pub text: String,
    /// The changed paragraph (inv and dir cases).
    pub variant: Option<String>,
    /// What must hold.
    pub check: Check,
    /// Where the case was read.
    pub at: Location,
}

impl Case {
    /// "mft", "inv" or "dir".
    pub fn test_type(&self) -> &'static str {
        match self.check {
            Check::Label(_) => "mft",
            Check::Invariant => "inv",
            Check::Direction(_) => "dir",
        }
    }
}

#[derive(Deserialize)]
struct Record {
    id: Option<String>,
    capability: Option<String>,
    test: Option<String>,
    text: Option<String>,
    variant: Option<String>,
    label: Option<String>,
    expect: Option<String>,
}

/// Reads every `*.jsonl` file in `dir` (sorted by name); any bad case is an error.
pub fn read_cases(dir: &Path) -> Result<Vec<Case>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in &files {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        cases.extend(parse_cases(std::io::BufReader::new(file), path)?);
    }
    if cases.is_empty() {
        return Err(Error::record(Location::file(dir), "no behaviour cases (*.jsonl files with one case per line)"));
    }
    let mut ids = std::collections::HashMap::new();
    for case in &cases {
        if let Some(first) = ids.insert(case.id.as_str(), &case.at) {
            return Err(Error::record(case.at.clone(), format!("id {:?} is already used at {first}", case.id)));
        }
    }
    Ok(cases)
}

/// Parses behaviour cases from JSON Lines.
pub fn parse_cases<R: BufRead>(reader: R, path: &Path) -> Result<Vec<Case>> {
    let mut out = Vec::new();
    super::each_line(reader, path, super::MAX_RECORD_BYTES as usize, |at, text| {
        let record: Record = super::json_record(text, &at, "every field of a case is a string")?;
        out.push(case(record, at)?);
        Ok(())
    })?;
    Ok(out)
}

fn case(r: Record, at: Location) -> Result<Case> {
    let need = |value: Option<String>, name: &str| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Error::record(at.clone(), format!("missing field {name:?}")))
    };
    let (id, capability, test, text) =
        (need(r.id, "id")?, need(r.capability, "capability")?, need(r.test, "test")?, need(r.text, "text")?);
    let check = match test.as_str() {
        "mft" => Check::Label(need(r.label, "label")?.to_ascii_lowercase()),
        "inv" => Check::Invariant,
        "dir" => match need(r.expect, "expect")?.as_str() {
            "down" => Check::Direction(Direction::Down),
            "up" => Check::Direction(Direction::Up),
            other => return Err(Error::record(at, format!("expect {other:?} is not \"down\" or \"up\""))),
        },
        other => return Err(Error::record(at, format!("test {other:?} is not \"mft\", \"inv\" or \"dir\""))),
    };
    let variant = match check {
        Check::Label(_) => None,
        _ => Some(need(r.variant, "variant")?),
    };
    Ok(Case { id, capability, text, variant, check, at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_kinds_and_names_the_line_of_a_bad_one() {
        let input = br#"{"id":"a","capability":"negation","test":"mft","text":"T","label":"Neutral"}

{"id":"b","capability":"names","test":"inv","text":"T","variant":"U","label":"neutral"}
{"id":"c","capability":"collapse added","test":"dir","text":"T","variant":"T. It failed.","expect":"down"}
"#;
        let cases = parse_cases(&input[..], Path::new("x.jsonl")).unwrap();
        let kinds: Vec<_> = cases.iter().map(|c| (c.test_type(), c.check.clone())).collect();
        assert_eq!(
            kinds,
            vec![
                ("mft", Check::Label("neutral".into())),
                ("inv", Check::Invariant),
                ("dir", Check::Direction(Direction::Down))
            ]
        );
        assert_eq!(cases[2].at.to_string(), "x.jsonl:4");
        let bad = br#"{"id":"d","capability":"x","test":"dir","text":"T","variant":"U","expect":"sideways"}"#;
        let err = parse_cases(&bad[..], Path::new("y.jsonl")).unwrap_err().to_string();
        assert!(err.starts_with("y.jsonl:1: expect \"sideways\""), "{err}");
        let missing = br#"{"id":"e","capability":"x","test":"inv","text":"T"}"#;
        let err = parse_cases(&missing[..], Path::new("z.jsonl")).unwrap_err().to_string();
        assert_eq!(err, "z.jsonl:1: missing field \"variant\"");
    }
}
