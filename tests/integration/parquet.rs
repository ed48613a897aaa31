//! `stancemeter score --out-format parquet`: the same cells as the CSV, typed, with nulls where
//! the CSV is empty; the schema docs/columns.md gives; provenance in the file metadata; and the
//! same guarantees as CSV for bad command lines, bad input, a failed commit and a killed run
//! (signals: regression.rs, for both formats).

use std::collections::HashMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::{files_in, read_csv, root, score, stancemeter_with, start_slow_run};

/// A Parquet file read back: its Arrow schema as (name, type, nullable), its rows, and its
/// file-level key-value metadata.
struct Table {
    schema: Vec<(String, DataType, bool)>,
    batches: Vec<RecordBatch>,
    metadata: HashMap<String, String>,
}

fn read_parquet(path: &Path) -> Table {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema = builder.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()));
    let schema = schema.collect();
    let pairs = builder.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
    let metadata = pairs.into_iter().map(|kv| (kv.key, kv.value.unwrap_or_default())).collect();
    let batches = builder.build().unwrap().map(|b| b.expect("record batch")).collect();
    Table { schema, batches, metadata }
}

/// One Parquet value as the CSV writer would print it: through the same csv crate and serde
/// types (ryu for floats, itoa for integers, nothing for a missing value), so equal text means
/// equal values, bit for bit.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Value {
    Text(String),
    Int(i64),
    Float(f64),
}

/// `table` written as CSV by the csv crate, header first.
fn as_csv(table: &Table) -> String {
    // Headers are written by hand: the rows are sequences, which have no field names.
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer.write_record(table.schema.iter().map(|(name, _, _)| name)).unwrap();
    for batch in &table.batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<Option<Value>> = batch.columns().iter().map(|column| value(column, row)).collect();
            writer.serialize(cells).unwrap();
        }
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

fn value(column: &dyn Array, row: usize) -> Option<Value> {
    if column.is_null(row) {
        return None;
    }
    Some(match column.data_type() {
        DataType::Utf8 => Value::Text(column.as_string::<i32>().value(row).to_string()),
        DataType::Int64 => Value::Int(column.as_primitive::<Int64Type>().value(row)),
        DataType::Float64 => Value::Float(column.as_primitive::<Float64Type>().value(row)),
        other => panic!("unexpected column type {other}"),
    })
}

/// Articles with nothing but an id and text (outlet, date, title and url missing), and one of
/// page furniture only (no content paragraph, so no stance), beside the demo corpus.
const SPARSE: &str = concat!(
    "{\"id\":\"bare\",\"text\":\"Negotiators met in Geneva and agreed to continue talks next week.\"}\n",
    "{\"id\":\"furniture\",\"outlet\":\"Wire\",\"paragraphs\":[\"By Anna Reyes, Northbridge Wire\",\"Comments\"]}\n",
);

/// Scores the demo corpus, `data/samples` and [`SPARSE`] into `dir/out` in `format`.
fn score_corpus(dir: &Path, format: &str) {
    std::fs::write(dir.join("sparse.jsonl"), SPARSE).unwrap();
    let demo = root().join("data/demo/articles.jsonl");
    let samples = root().join("data/samples");
    let inputs = [demo.to_str().unwrap(), samples.to_str().unwrap(), "sparse.jsonl"];
    // --raw-cells: both files then hold text as read, so every cell can be compared.
    score(dir, &inputs, &["--out-format", format, "--raw-cells"]).expect_code(0);
}

#[test]
fn parquet_holds_every_cell_of_the_csv_with_nulls_where_it_is_empty() {
    let (csv_dir, parquet_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    score_corpus(csv_dir.path(), "csv");
    score_corpus(parquet_dir.path(), "parquet");
    assert_eq!(files_in(&parquet_dir.path().join("out")), ["articles.parquet", "paragraphs.parquet"]);
    for name in ["paragraphs", "articles"] {
        let csv_path = csv_dir.path().join(format!("out/{name}.csv"));
        let table = read_parquet(&parquet_dir.path().join(format!("out/{name}.parquet")));
        let written = std::fs::read_to_string(&csv_path).unwrap();
        let rendered = as_csv(&table);
        if let Some(line) = written.lines().zip(rendered.lines()).position(|(a, b)| a != b) {
            let (a, b) = (written.lines().nth(line).unwrap(), rendered.lines().nth(line).unwrap());
            panic!("{name} line {}: the CSV has\n  {a}\nthe Parquet file, printed the same way, has\n  {b}", line + 1);
        }
        assert_eq!(rendered, written, "{name}: a different number of rows");

        // Equal text could still hide an empty string where a null belongs: check the nulls.
        let (headers, rows) = read_csv(&csv_path);
        assert_eq!(headers, table.schema.iter().map(|(n, _, _)| n.clone()).collect::<Vec<_>>());
        for (i, (column, _, nullable)) in table.schema.iter().enumerate() {
            let nulls: Vec<bool> =
                table.batches.iter().flat_map(|b| (0..b.num_rows()).map(move |r| b.column(i).is_null(r))).collect();
            let empty: Vec<bool> = rows.iter().map(|r| r[i].is_empty()).collect();
            assert_eq!(nulls, empty, "{name}.{column}: nulls are where the CSV cell is empty");
            assert!(*nullable || !nulls.contains(&true), "{name}.{column} is not nullable but holds a null");
        }
    }
    // The corpus must exercise the nulls, or the checks above prove little.
    let articles = read_parquet(&parquet_dir.path().join("out/articles.parquet"));
    for column in ["outlet", "date", "title", "url", "stance_mean", "share_neutral", "lex_tone"] {
        let i = articles.schema.iter().position(|(n, _, _)| n == column).unwrap();
        let nulls: usize = articles.batches.iter().map(|b| b.column(i).null_count()).sum();
        assert!(nulls >= 1, "articles.{column} has no null in this corpus");
    }
}

/// The Parquet schema docs/columns.md gives: (file, column, Arrow type, nullable) from its
/// "Parquet schema" tables.
fn documented_schema() -> Vec<(String, String, String, bool)> {
    let text = std::fs::read_to_string(root().join("docs/columns.md")).unwrap();
    let section = text.split("## Parquet schema").nth(1).expect("docs/columns.md has a \"## Parquet schema\" section");
    let section = section.split("\n## ").next().unwrap();
    let mut file = String::new();
    let mut rows = Vec::new();
    for line in section.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            file = heading.replace('`', "").split_whitespace().next().unwrap_or("").to_string();
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if line.starts_with("| `") && cells.len() >= 3 {
            let nullable = match cells[2] {
                "yes" => true,
                "no" => false,
                other => panic!("docs/columns.md: nullable must be yes or no, not {other:?}"),
            };
            rows.push((file.clone(), cells[0].trim_matches('`').to_string(), cells[1].to_string(), nullable));
        }
    }
    rows
}

#[test]
fn schema_types_and_metadata_are_what_docs_columns_md_says() {
    let dir = tempfile::tempdir().unwrap();
    let samples = root().join("data/samples");
    score(dir.path(), &[samples.to_str().unwrap()], &["--out-format", "parquet"]).expect_code(0);
    let articles = dir.path().join("out/articles.parquet");
    let (head, model) = (read_parquet_column(&articles, "head").1, read_parquet_column(&articles, "model").1);
    assert!(head[0].starts_with("head-") && model[0].starts_with("all-MiniLM-L6-v2@"), "{head:?} {model:?}");
    let mut written = Vec::new();
    for file in ["paragraphs.parquet", "articles.parquet"] {
        let table = read_parquet(&dir.path().join("out").join(file));
        for (name, data_type, nullable) in &table.schema {
            written.push((file.to_string(), name.clone(), data_type.to_string(), *nullable));
        }
        let version = table.metadata.get("stancemeter.version").map(String::as_str);
        assert_eq!(version, Some(env!("CARGO_PKG_VERSION")), "{file}: {:?}", table.metadata);
        assert_eq!(table.metadata.get("stancemeter.head"), Some(&head[0]), "{file}: head id");
        assert_eq!(table.metadata.get("stancemeter.model"), Some(&model[0]), "{file}: encoder provenance");
    }
    let documented = documented_schema();
    assert_eq!(written, documented, "docs/columns.md's Parquet schema differs from what score writes");
    let types: std::collections::BTreeSet<&str> = written.iter().map(|(_, _, t, _)| t.as_str()).collect();
    assert_eq!(types, ["Float64", "Int64", "Utf8"].into(), "only the three types the Python package uses");
}

/// The text column `name` of a Parquet file: (nulls, values).
fn read_parquet_column(path: &Path, name: &str) -> (usize, Vec<String>) {
    let table = read_parquet(path);
    let i = table.schema.iter().position(|(n, _, _)| n == name).unwrap();
    let mut values = Vec::new();
    let mut nulls = 0;
    for batch in &table.batches {
        let column = batch.column(i).as_string::<i32>();
        nulls += column.null_count();
        values.extend(column.iter().flatten().map(String::from));
    }
    (nulls, values)
}

#[test]
fn text_is_written_as_read_with_or_without_raw_cells() {
    let article = serde_json::json!({
        "id": "=HYPERLINK(\"http://x\",\"y\")",
        "outlet": "+Wire",
        "paragraphs": ["-Talks collapsed after Moscow rejected the proposal outright.", "=1+1 said nothing."]
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.jsonl"), format!("{article}\n")).unwrap();
    score(dir.path(), &["f.jsonl"], &["--out-format", "parquet"]).expect_code(0);
    let guarded = std::fs::read(dir.path().join("out/paragraphs.parquet")).unwrap();
    let path = dir.path().join("out/paragraphs.parquet");
    assert_eq!(read_parquet_column(&path, "article_id").1, ["=HYPERLINK(\"http://x\",\"y\")"; 2]);
    assert_eq!(read_parquet_column(&path, "outlet").1, ["+Wire"; 2]);
    assert_eq!(
        read_parquet_column(&path, "text").1,
        ["-Talks collapsed after Moscow rejected the proposal outright.", "=1+1 said nothing."]
    );
    score(dir.path(), &["f.jsonl"], &["--out-format", "parquet", "--raw-cells"]).expect_code(0);
    let raw = std::fs::read(dir.path().join("out/paragraphs.parquet")).unwrap();
    assert!(guarded == raw, "--raw-cells changed a Parquet file (and the same run twice must give the same bytes)");
}

#[test]
fn bad_out_format_exits_2_naming_the_choices_before_any_model_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jsonl"), SPARSE).unwrap();
    let no_models = dir.path().join("no-models");
    std::fs::create_dir(&no_models).unwrap();
    for bad in ["xlsx", "Parquet", ""] {
        let run =
            stancemeter_with(dir.path(), &["score", "a.jsonl", "--out", "o", "--out-format", bad], None, &no_models);
        run.expect_code(2);
        let want = format!(
            "invalid value '{bad}' for '--out-format <FORMAT>': unknown output format {bad:?}; use csv or parquet"
        );
        assert!(run.stderr().contains(&want), "stderr should contain {want:?}\n{}", run.show());
        assert!(!dir.path().join("o").exists(), "an output folder was created\n{}", run.show());
    }
}

/// The folder with a good article and every bad input of `score.rs`, read in this order.
fn good_and_every_bad_input() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let good = b"{\"id\":\"good\",\"text\":\"Negotiators met in Geneva and agreed to continue talks.\"}\n";
    std::fs::write(dir.path().join("a-good.jsonl"), good).unwrap();
    for (name, bytes, _) in crate::score::BAD_INPUTS {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

#[test]
fn bad_input_gets_the_same_messages_and_exit_codes_as_csv() {
    let dir = good_and_every_bad_input();
    let inputs: Vec<String> = files_in(dir.path());
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    // Every line but the one naming the files written.
    let messages = |run: &crate::common::Run| -> Vec<String> {
        run.stderr().lines().filter(|l| !l.contains("; wrote ")).map(String::from).collect()
    };
    for strict in [false, true] {
        let extra: &[&str] = if strict { &["--strict"] } else { &[] };
        let csv = score(dir.path(), &inputs, extra);
        // A strict run may stop before it makes the folder.
        let _ = std::fs::remove_dir_all(dir.path().join("out"));
        let parquet = score(dir.path(), &inputs, &[extra, &["--out-format", "parquet"][..]].concat());
        parquet.expect_code(if strict { 1 } else { 3 });
        assert_eq!(csv.code(), parquet.code(), "{}", csv.show());
        assert_eq!(messages(&parquet), messages(&csv), "strict {strict}:\n{}\n{}", csv.show(), parquet.show());
        let written = files_in(&dir.path().join("out"));
        if strict {
            assert_eq!(written, Vec::<String>::new(), "{}", parquet.show());
        } else {
            for (_, _, message) in crate::score::BAD_INPUTS {
                assert!(parquet.stderr().contains(message), "{message:?} missing\n{}", parquet.show());
            }
            assert!(parquet.stderr().contains("wrote out/paragraphs.parquet and out/articles.parquet"));
            // notjson.jsonl's first line is a good article.
            let ids = read_parquet_column(&dir.path().join("out/articles.parquet"), "article_id").1;
            assert_eq!(ids, ["good", "ok1"], "{}", parquet.show());
            std::fs::remove_dir_all(dir.path().join("out")).unwrap();
        }
    }
}

#[test]
fn a_folder_where_articles_parquet_goes_is_refused_before_scoring() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jsonl"), SPARSE).unwrap();
    std::fs::create_dir_all(dir.path().join("out/articles.parquet/x")).unwrap();
    let run = score(dir.path(), &["a.jsonl"], &["--out-format", "parquet"]);
    run.expect_code(1);
    assert!(run.stderr().contains("out/articles.parquet: is a folder where the output file goes"), "{}", run.show());
    assert_eq!(files_in(&dir.path().join("out")), ["articles.parquet"], "{}", run.show());
    // A folder named for the other format is not in the way.
    std::fs::remove_dir_all(dir.path().join("out/articles.parquet")).unwrap();
    std::fs::create_dir_all(dir.path().join("out/articles.csv/x")).unwrap();
    score(dir.path(), &["a.jsonl"], &["--out-format", "parquet"]).expect_code(0);
}

#[test]
fn second_parquet_file_that_cannot_be_committed_leaves_neither_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_slow_run(dir.path(), &["--out-format", "parquet"]);
    // Past the check at the start: the folder appears while the run is scoring, so moving
    // articles.parquet into place fails after paragraphs.parquet has been moved.
    std::fs::create_dir_all(dir.path().join("out/articles.parquet/x")).unwrap();
    let still_running = child.try_wait().unwrap().is_none();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(still_running, "the run ended before the folder was made; the test proves nothing");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("out/articles.parquet: "), "{stderr}");
    assert_eq!(files_in(&dir.path().join("out")), ["articles.parquet"], "{stderr}");
    assert_eq!(files_in(&dir.path().join("out/articles.parquet")), ["x"], "{stderr}");
}

#[test]
fn partial_parquet_files_of_a_killed_run_are_swept_by_the_next_run_of_either_format() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jsonl"), SPARSE).unwrap();
    let mut child = start_slow_run(dir.path(), &["--out-format", "parquet"]);
    let is_partial = |f: &String| f.contains(".parquet.") && f.ends_with(".partial");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while files_in(&dir.path().join("out")).iter().filter(|f| is_partial(f)).count() < 2 {
        assert!(std::time::Instant::now() < deadline, "the second temporary file never appeared");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = files_in(&dir.path().join("out"));
    assert_eq!(left.iter().filter(|f| is_partial(f)).count(), 2, "{left:?}");
    let run = score(dir.path(), &["a.jsonl"], &[]);
    run.expect_code(0);
    assert!(run.stderr().contains("removed 2 temporary files an interrupted run left in out"), "{}", run.show());
    assert_eq!(files_in(&dir.path().join("out")), ["articles.csv", "paragraphs.csv"], "{}", run.show());
}
