//! `stancemeter eval --behaviour DIR`: behaviour tests in the manner of CheckList. Each case is
//! scored through the same path as `score` (furniture by rule, content by the head), and the
//! failure rate is reported per capability and test type.
//!
//! A minimum-functionality case fails when its text gets another label; an invariance case when
//! text and variant get different labels; a directional case when the variant's stance
//! (p_optimistic - p_skeptical) does not move the expected way (equal counts as a failure).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::input::cases::{read_cases, Case, Check, Direction};
use crate::output::{round4, AtomicCsv};
use crate::score::Scored;
use crate::segment::classify;
use crate::settings::ScorerSettings;

/// What `eval --behaviour` reads and writes.
#[derive(Debug, Clone)]
pub struct BehaviourSettings {
    /// Folder of `*.jsonl` case files.
    pub dir: PathBuf,
    /// Per-case results CSV to write, if any.
    pub predictions: Option<PathBuf>,
    /// The encoder and head.
    pub scorer: ScorerSettings,
}

/// Failures of one capability and test type.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BehaviourRow {
    /// The capability (negation, names, collapse added, ...).
    pub capability: String,
    /// mft, inv or dir.
    pub test: String,
    /// Cases.
    pub cases: usize,
    /// Cases that failed.
    pub failures: usize,
    /// failures / cases.
    pub failure_rate: f64,
}

/// The whole behaviour report.
#[derive(Debug, Clone, Serialize)]
pub struct BehaviourReport {
    /// One row per capability and test type, sorted by test type then capability.
    pub rows: Vec<BehaviourRow>,
    /// Failure rate over all cases.
    pub overall: f64,
}

impl BehaviourReport {
    /// The table for a terminal.
    pub fn render(&self) -> String {
        let mut out =
            format!("{:<24} {:<5} {:>6} {:>9} {:>13}\n", "capability", "test", "cases", "failures", "failure rate");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:<24} {:<5} {:>6} {:>9} {:>13.3}",
                r.capability, r.test, r.cases, r.failures, r.failure_rate
            );
        }
        let _ =
            writeln!(out, "{:<24} {:<5} {:>6} {:>9} {:>13.3}", "all", "", self.total(), self.failed(), self.overall);
        out
    }

    fn total(&self) -> usize {
        self.rows.iter().map(|r| r.cases).sum()
    }

    fn failed(&self) -> usize {
        self.rows.iter().map(|r| r.failures).sum()
    }
}

/// One case's outcome.
#[derive(Serialize)]
struct CaseRow<'a> {
    id: &'a str,
    capability: &'a str,
    test: &'a str,
    expected: String,
    text_label: &'a str,
    text_stance: f64,
    variant_label: &'a str,
    variant_stance: Option<f64>,
    passed: bool,
}

/// Runs the behaviour suite and returns the report.
pub fn run(settings: &BehaviourSettings) -> Result<BehaviourReport> {
    let cases = read_cases(&settings.dir)?;
    let (_, mut scorer) = settings.scorer.build()?;
    let texts: Vec<&str> =
        cases.iter().flat_map(|c| std::iter::once(c.text.as_str()).chain(c.variant.as_deref())).collect();
    let inputs: Vec<_> = texts.iter().map(|t| (*t, classify(t))).collect();
    let scored = scorer.score(&inputs)?;
    let stances = scorer.stances();
    let labels = &scorer.head().labels;
    let stance = |s: &Scored| {
        let (o, _, k) = stances.split(&s.probs);
        o - k
    };
    let mut csv = settings.predictions.as_deref().map(AtomicCsv::create).transpose()?;
    let mut groups: BTreeMap<(&'static str, &str), (usize, usize)> = BTreeMap::new();
    let mut next = 0;
    for case in &cases {
        let text = &scored[next];
        let variant = case.variant.as_ref().map(|_| &scored[next + 1]);
        next += 1 + usize::from(variant.is_some());
        let passed = passes(case, text, variant, labels, &stance);
        let group = groups.entry((case.test_type(), case.capability.as_str())).or_default();
        group.0 += 1;
        group.1 += usize::from(!passed);
        if let Some(csv) = csv.as_mut() {
            csv.write(&CaseRow {
                id: &case.id,
                capability: &case.capability,
                test: case.test_type(),
                expected: expected(&case.check),
                text_label: &labels[text.label],
                text_stance: round4(stance(text)),
                variant_label: variant.map_or("", |v| labels[v.label].as_str()),
                variant_stance: variant.map(|v| round4(stance(v))),
                passed,
            })?;
        }
    }
    if let Some(csv) = csv {
        csv.commit()?;
    }
    let rows: Vec<BehaviourRow> = groups
        .into_iter()
        .map(|((test, capability), (cases, failures))| BehaviourRow {
            capability: capability.to_string(),
            test: test.to_string(),
            cases,
            failures,
            failure_rate: failures as f64 / cases as f64,
        })
        .collect();
    let (all, failed) = rows.iter().fold((0, 0), |(a, f), r| (a + r.cases, f + r.failures));
    Ok(BehaviourReport { rows, overall: failed as f64 / all.max(1) as f64 })
}

fn passes(
    case: &Case,
    text: &Scored,
    variant: Option<&Scored>,
    labels: &[String],
    stance: &dyn Fn(&Scored) -> f64,
) -> bool {
    match (&case.check, variant) {
        (Check::Label(label), _) => labels[text.label] == *label,
        (Check::Invariant, Some(v)) => v.label == text.label,
        (Check::Direction(Direction::Down), Some(v)) => stance(v) < stance(text),
        (Check::Direction(Direction::Up), Some(v)) => stance(v) > stance(text),
        // The reader gives every inv and dir case a variant.
        (_, None) => false,
    }
}

fn expected(check: &Check) -> String {
    match check {
        Check::Label(label) => label.clone(),
        Check::Invariant => "same label".into(),
        Check::Direction(Direction::Down) => "stance down".into(),
        Check::Direction(Direction::Up) => "stance up".into(),
    }
}
