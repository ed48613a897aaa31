//! The labeled data's promises: splits never share an article, the unseen-style split's styles
//! appear nowhere in train or dev, and no test paragraph is a copy or near copy (cosine >= 0.95
//! on the encoder) of a paragraph the shipped head learned from.

use std::collections::{BTreeSet, HashMap};

use stancemeter::encode::{cosine, Encoder, EncoderOptions, OnnxOptions, Precision};
use stancemeter::segment::{classify, Kind};

use crate::common::{assets, root};

/// The styles data/labeled/split.py sends to test-unseen.jsonl only.
const UNSEEN_STYLES: [&str; 5] =
    ["state-media-cn", "regional-mideast", "regional-asia", "regional-africa", "regional-latam"];

fn split(name: &str) -> Vec<serde_json::Value> {
    let path = root().join(format!("data/labeled/{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display()))).collect()
}

fn field<'a>(row: &'a serde_json::Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or_else(|| panic!("no string {key:?} in {row}"))
}

#[test]
fn splits_share_no_article_and_unseen_styles_stay_out_of_training() {
    let mut owner: HashMap<String, &str> = HashMap::new();
    let mut styles: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for name in ["train", "dev", "test", "test-unseen"] {
        let rows = split(name);
        assert!(rows.len() > 300, "{name} has only {} paragraphs", rows.len());
        for row in &rows {
            let article = field(row, "article_id").to_string();
            let first = *owner.entry(article.clone()).or_insert(name);
            assert_eq!(first, name, "article {article} is in both {first} and {name}");
            styles.entry(name).or_default().insert(field(row, "style").to_string());
        }
    }
    for unseen in UNSEEN_STYLES {
        assert!(styles["test-unseen"].contains(unseen), "test-unseen has no {unseen} article");
        for name in ["train", "dev", "test"] {
            assert!(!styles[name].contains(unseen), "{name} holds style {unseen}, which belongs to test-unseen only");
        }
    }
}

/// Content paragraphs of at least four words: furniture is neutral by rule and never trained
/// on, and one-word subheads ("Analysis") repeat across any set of articles.
fn content(rows: &[serde_json::Value]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| (field(r, "id").to_string(), field(r, "text").to_string()))
        .filter(|(_, text)| classify(text) == Kind::Content && text.split_whitespace().count() >= 4)
        .collect()
}

#[test]
fn no_test_paragraph_is_a_near_copy_of_a_training_paragraph() {
    let learned: Vec<_> = [split("train"), split("dev")].concat();
    let held_out: Vec<_> = [split("test"), split("test-unseen")].concat();
    let (learned, held_out) = (content(&learned), content(&held_out));
    let onnx = OnnxOptions { precision: Precision::Int8, ..OnnxOptions::default() };
    let mut encoder = Encoder::load(&assets(), &onnx, EncoderOptions::default()).expect("load the int8 encoder");
    let embed = |encoder: &mut Encoder, set: &[(String, String)]| {
        encoder.embed(&set.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>()).expect("embed")
    };
    let (a, b) = (embed(&mut encoder, &learned), embed(&mut encoder, &held_out));
    let normal = |t: &str| t.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
    let texts: HashMap<String, &str> = learned.iter().map(|(id, t)| (normal(t), id.as_str())).collect();
    let mut copies = Vec::new();
    for ((id, text), e) in held_out.iter().zip(&b) {
        if let Some(train_id) = texts.get(&normal(text)) {
            copies.push(format!("{id} = {train_id} (same text)"));
            continue;
        }
        let (best, at) = a
            .iter()
            .enumerate()
            .map(|(j, t)| (cosine(&e.vector, &t.vector), j))
            .fold((f32::MIN, 0), |m, x| if x.0 > m.0 { x } else { m });
        if best >= 0.95 {
            copies.push(format!("{id} ~ {} (cosine {best:.3})", learned[at].0));
        }
    }
    assert!(!held_out.is_empty() && !learned.is_empty());
    assert!(copies.is_empty(), "{} held-out paragraphs copy training ones:\n{}", copies.len(), copies.join("\n"));
}
