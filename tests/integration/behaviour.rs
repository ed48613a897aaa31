//! The behaviour suite (tests/behaviour/) through the real binary: every capability's failure
//! rate stays under a ceiling set from measurement, and bad case files are refused with
//! file:line.

use std::collections::HashMap;

use crate::common::{assets, root, stancemeter};

/// Failure-rate ceilings per (test type, capability): the shipped head's measured rate plus
/// 0.10 (docs/quality.md has the measured table). A case is 2-3.3 points of a rate, so a
/// ceiling trips on four or more newly failing cases, not on one.
const CEILINGS: &[(&str, &str, f64)] = &[
    ("dir", "breakthrough added", 0.27),
    ("dir", "collapse added", 0.17),
    ("dir", "confirmation added", 0.2),
    ("dir", "denial added", 0.14),
    ("inv", "dates", 0.1),
    ("inv", "names", 0.1),
    ("inv", "numbers", 0.14),
    ("inv", "outlets", 0.14),
    ("inv", "places", 0.17),
    ("mft", "attribution", 0.2),
    ("mft", "background neutrality", 0.22),
    ("mft", "conditional offers", 0.42),
    ("mft", "hedges", 0.46),
    ("mft", "negation", 0.38),
    ("mft", "procedural neutrality", 0.26),
    ("mft", "sarcasm", 0.73),
];

#[test]
fn behaviour_failure_rates_stay_under_their_ceilings() {
    assets();
    let run = stancemeter(&root(), &["eval", "--behaviour", "tests/behaviour", "--json"]);
    run.expect_code(0);
    let report: serde_json::Value =
        serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("not JSON ({e})\n{}", run.show()));
    let rows = report["rows"].as_array().expect("rows");
    let measured: HashMap<(String, String), (f64, u64)> = rows
        .iter()
        .map(|r| {
            let key = (r["test"].as_str().unwrap().to_string(), r["capability"].as_str().unwrap().to_string());
            (key, (r["failure_rate"].as_f64().unwrap(), r["cases"].as_u64().unwrap()))
        })
        .collect();
    assert_eq!(measured.len(), CEILINGS.len(), "capabilities changed: {:?}", measured.keys());
    let cases: u64 = measured.values().map(|(_, n)| n).sum();
    let lines: usize = std::fs::read_dir(root().join("tests/behaviour"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().filter(|l| !l.trim().is_empty()).count())
        .sum();
    assert_eq!(cases as usize, lines, "every case is counted once");
    let mut over = Vec::new();
    for &(test, capability, ceiling) in CEILINGS {
        let (rate, _) = measured[&(test.to_string(), capability.to_string())];
        if rate > ceiling {
            over.push(format!("{test} {capability}: failure rate {rate:.3} > ceiling {ceiling}"));
        }
    }
    assert!(over.is_empty(), "{}\n{}", over.join("\n"), run.show());
}

#[test]
fn a_bad_behaviour_case_is_refused_with_its_file_and_line() {
    assets();
    let dir = tempfile::tempdir().unwrap();
    let good =
        r#"{"id":"a","capability":"negation","test":"mft","text":"Talks did not collapse.","label":"optimistic"}"#;
    let bad = r#"{"id":"b","capability":"names","test":"inv","text":"No variant here."}"#;
    std::fs::write(dir.path().join("cases.jsonl"), format!("{good}\n{bad}\n")).unwrap();
    let predictions = dir.path().join("out.csv");
    let run = stancemeter(dir.path(), &["eval", "--behaviour", ".", "--predictions", predictions.to_str().unwrap()]);
    run.expect_code(1);
    assert!(run.stderr().contains("cases.jsonl:2: missing field \"variant\""), "{}", run.show());
    assert!(!predictions.exists(), "wrote predictions despite the error\n{}", run.show());
}
