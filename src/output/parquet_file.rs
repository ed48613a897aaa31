//! Stage 7, write: Parquet files (`score --out-format parquet`). The columns are the CSV's, in
//! the CSV's order, typed as the Python package types them (text Utf8, counts Int64, every other
//! number Float64), with nulls where the CSV has an empty cell. Rows are gathered into small
//! batches and encoded into row groups of bounded size, so memory stays flat however long the
//! run; the file is written under a temporary name and moved into place only when complete
//! (see `partial`). Text is written as read: formula guarding is for spreadsheets, which do not
//! open Parquet.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::partial::{temp_beside, Partial};
use super::{ArticleRow, ParagraphRow, Provenance};
use crate::error::{Error, Result};
use ColumnType::{Count, MaybeNumber, MaybeText, Number, Text};

/// What a column holds: its Arrow type and whether it may be null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text that is always there: Utf8, not null.
    Text,
    /// Text that may be unknown (outlet, date, title, url): Utf8, null where the CSV cell is
    /// empty.
    MaybeText,
    /// A count or an index: Int64, not null.
    Count,
    /// A number that is always defined: Float64, not null.
    Number,
    /// A number that may be undefined (an article without content has no stance): Float64,
    /// null where the CSV cell is empty.
    MaybeNumber,
}

impl ColumnType {
    /// The Arrow type and nullability of a column of this kind.
    pub fn arrow(self) -> (DataType, bool) {
        match self {
            ColumnType::Text => (DataType::Utf8, false),
            ColumnType::MaybeText => (DataType::Utf8, true),
            ColumnType::Count => (DataType::Int64, false),
            ColumnType::Number => (DataType::Float64, false),
            ColumnType::MaybeNumber => (DataType::Float64, true),
        }
    }
}

/// A column: its name, as in the CSV header, and what it holds.
pub type Column = (&'static str, ColumnType);

/// The Arrow schema of a table with these columns.
pub fn schema(columns: &[Column]) -> Schema {
    Schema::new(
        columns
            .iter()
            .map(|&(name, kind)| {
                let (data_type, nullable) = kind.arrow();
                Field::new(name, data_type, nullable)
            })
            .collect::<Vec<_>>(),
    )
}

/// One cell of a row as the Parquet writer takes it. Whether an empty text or a missing number
/// is allowed (and written as null) is the column's [`ColumnType`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Text(&'a str),
    Count(u64),
    Number(Option<f64>),
}

/// A row struct that can be written to Parquet: its columns and its cells, in CSV order.
pub(crate) trait ParquetRow {
    /// The columns, in the order of the struct's fields (and so of the CSV header).
    const COLUMNS: &'static [Column];
    /// The row's cells, one per column.
    fn cells(&self) -> Vec<Cell<'_>>;
}

impl ParquetRow for ParagraphRow<'_> {
    const COLUMNS: &'static [Column] = &[
        ("article_id", Text),
        ("outlet", MaybeText),
        ("paragraph", Count),
        ("kind", Text),
        ("label", Text),
        ("p_optimistic", Number),
        ("p_neutral", Number),
        ("p_skeptical", Number),
        ("stance", Number),
        ("windows", Count),
        ("words", Count),
        ("text", Text),
    ];

    fn cells(&self) -> Vec<Cell<'_>> {
        let n = |x: f64| Cell::Number(Some(x));
        vec![
            Cell::Text(&self.article_id),
            Cell::Text(&self.outlet),
            Cell::Count(self.paragraph as u64),
            Cell::Text(self.kind),
            Cell::Text(&self.label),
            n(self.p_optimistic),
            n(self.p_neutral),
            n(self.p_skeptical),
            n(self.stance),
            Cell::Count(self.windows as u64),
            Cell::Count(self.words as u64),
            Cell::Text(&self.text),
        ]
    }
}

impl ParquetRow for ArticleRow<'_> {
    const COLUMNS: &'static [Column] = &[
        ("article_id", Text),
        ("outlet", MaybeText),
        ("date", MaybeText),
        ("title", MaybeText),
        ("url", MaybeText),
        ("n_paragraphs", Count),
        ("n_scored", Count),
        ("stance_mean", MaybeNumber),
        ("share_optimistic", MaybeNumber),
        ("share_neutral", MaybeNumber),
        ("share_skeptical", MaybeNumber),
        ("net_tone", MaybeNumber),
        ("polarity", MaybeNumber),
        ("stance_sd", MaybeNumber),
        ("lede_stance", MaybeNumber),
        ("max_stance", MaybeNumber),
        ("min_stance", MaybeNumber),
        ("words", Count),
        ("lex_positive", MaybeNumber),
        ("lex_negative", MaybeNumber),
        ("lex_tone", MaybeNumber),
        ("model", Text),
        ("head", Text),
    ];

    fn cells(&self) -> Vec<Cell<'_>> {
        let mut cells: Vec<Cell<'_>> =
            [&self.article_id, &self.outlet, &self.date, &self.title, &self.url].map(|t| Cell::Text(t)).into();
        cells.extend([Cell::Count(self.n_paragraphs), Cell::Count(self.n_scored)]);
        let metrics = [
            self.stance_mean,
            self.share_optimistic,
            self.share_neutral,
            self.share_skeptical,
            self.net_tone,
            self.polarity,
            self.stance_sd,
            self.lede_stance,
            self.max_stance,
            self.min_stance,
        ];
        cells.extend(metrics.map(Cell::Number));
        cells.push(Cell::Count(self.words));
        cells.extend([self.lex_positive, self.lex_negative, self.lex_tone].map(Cell::Number));
        cells.extend([Cell::Text(&self.model), Cell::Text(&self.head)]);
        cells
    }
}

/// The file-level key-value metadata of a run's Parquet files: the stancemeter version, and the
/// encoder and head that made the scores (the CSV carries the last two as the `model` and
/// `head` columns). Nothing else about the run is known to the writer, so nothing else is
/// written.
pub fn file_metadata(provenance: &Provenance) -> Vec<(String, String)> {
    vec![
        ("stancemeter.version".into(), env!("CARGO_PKG_VERSION").into()),
        ("stancemeter.model".into(), provenance.model.clone()),
        ("stancemeter.head".into(), provenance.head.clone()),
    ]
}

/// How much is held in memory before it is written on. Rows are gathered into an Arrow batch of
/// at most `batch_rows` rows or `batch_text` bytes of text; batches are encoded into a row group
/// until its encoded size reaches `row_group_bytes`, when the row group is written to the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) batch_rows: usize,
    pub(crate) batch_text: usize,
    pub(crate) row_group_bytes: usize,
}

impl Default for Limits {
    /// Row groups of up to 32 MiB encoded (tens of thousands of news paragraphs; the Parquet
    /// writer's own cap of 1,048,576 rows comes first for very short rows): large enough for
    /// readers to scan efficiently, small enough that holding one costs little beside the
    /// encoder's own few hundred MB (BENCHMARKS.md, "Parquet output").
    fn default() -> Limits {
        Limits { batch_rows: 4096, batch_text: 8 << 20, row_group_bytes: 32 << 20 }
    }
}

/// A column being gathered for the next batch.
enum Builder {
    Text(StringBuilder),
    Count(Int64Builder),
    Number(Float64Builder),
}

impl Builder {
    fn new(kind: ColumnType) -> Builder {
        match kind {
            Text | MaybeText => Builder::Text(StringBuilder::new()),
            Count => Builder::Count(Int64Builder::new()),
            Number | MaybeNumber => Builder::Number(Float64Builder::new()),
        }
    }

    /// Appends `cell` to a column of type `kind`; returns the text bytes it added. A cell the
    /// column cannot hold is a bug in a [`ParquetRow`] impl, reported rather than written.
    fn append(&mut self, kind: ColumnType, cell: Cell<'_>) -> std::result::Result<usize, String> {
        match (self, cell) {
            (Builder::Text(b), Cell::Text("")) if kind == MaybeText => b.append_null(),
            (Builder::Text(b), Cell::Text(text)) => {
                b.append_value(text);
                return Ok(text.len());
            }
            (Builder::Count(b), Cell::Count(n)) => {
                b.append_value(i64::try_from(n).map_err(|_| format!("count {n} does not fit Int64"))?)
            }
            (Builder::Number(b), Cell::Number(Some(x))) => b.append_value(x),
            (Builder::Number(b), Cell::Number(None)) if kind == MaybeNumber => b.append_null(),
            (_, cell) => return Err(format!("{cell:?} in a column of type {kind:?}")),
        }
        Ok(0)
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Count(b) => Arc::new(b.finish()),
            Builder::Number(b) => Arc::new(b.finish()),
        }
    }
}

/// A Parquet file being written under a hidden temporary name beside its final path.
pub(crate) struct AtomicParquet {
    writer: ArrowWriter<Partial>,
    schema: SchemaRef,
    columns: &'static [Column],
    builders: Vec<Builder>,
    /// Rows and text bytes in `builders`.
    rows: usize,
    text: usize,
    limits: Limits,
    path: PathBuf,
}

impl AtomicParquet {
    /// Starts writing `path` (its folder must exist) with `columns` and file-level `metadata`.
    pub(crate) fn create(
        path: &Path,
        columns: &'static [Column],
        metadata: Vec<(String, String)>,
        limits: Limits,
    ) -> Result<AtomicParquet> {
        let schema = Arc::new(schema(columns));
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_bytes(Some(limits.row_group_bytes))
            .set_key_value_metadata(Some(metadata.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect()))
            .build();
        let temp = temp_beside(path)?;
        let writer = ArrowWriter::try_new(temp, Arc::clone(&schema), Some(properties))
            .map_err(|source| Error::Parquet { path: path.to_path_buf(), source })?;
        let builders = columns.iter().map(|&(_, kind)| Builder::new(kind)).collect();
        Ok(AtomicParquet { writer, schema, columns, builders, rows: 0, text: 0, limits, path: path.to_path_buf() })
    }

    /// Writes one row (into the current batch; the batch is encoded when it is full).
    pub(crate) fn write<R: ParquetRow>(&mut self, row: &R) -> Result<()> {
        let cells = row.cells();
        if R::COLUMNS != self.columns || cells.len() != self.columns.len() {
            return Err(self.bug(format!("a row of {} cells for {} columns", cells.len(), self.columns.len())));
        }
        for ((builder, &(name, kind)), cell) in self.builders.iter_mut().zip(self.columns).zip(cells) {
            match builder.append(kind, cell) {
                Ok(text) => self.text += text,
                Err(problem) => return Err(self.bug(format!("column {name}: {problem}"))),
            }
        }
        self.rows += 1;
        if self.rows >= self.limits.batch_rows || self.text >= self.limits.batch_text {
            self.write_batch()?;
        }
        Ok(())
    }

    /// Hands the gathered rows to the encoder, which writes a row group out whenever it reaches
    /// the size limit.
    fn write_batch(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let arrays = self.builders.iter_mut().map(Builder::finish).collect();
        (self.rows, self.text) = (0, 0);
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays).map_err(ParquetError::from);
        batch.and_then(|batch| self.writer.write(&batch)).map_err(|source| self.error(source))
    }

    /// Writes the last rows and the footer, and syncs the temporary file, ready to be moved into
    /// place.
    pub(super) fn finish(mut self) -> Result<(Partial, PathBuf)> {
        self.write_batch()?;
        let path = self.path;
        let mut partial = self.writer.into_inner().map_err(|source| Error::Parquet { path: path.clone(), source })?;
        partial.file().and_then(|f| f.as_file().sync_all()).map_err(|e| Error::io(&path, e))?;
        Ok((partial, path))
    }

    fn error(&self, source: ParquetError) -> Error {
        Error::Parquet { path: self.path.clone(), source }
    }

    /// A row that does not fit the file's columns: a bug in stancemeter, never in the input.
    fn bug(&self, problem: String) -> Error {
        self.error(ParquetError::General(format!("{problem} (a bug in stancemeter; please report it)")))
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use arrow_array::{Array, Float64Array, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::output::partial::commit_all;
    use crate::output::TableFile;

    fn paragraph(i: usize, outlet: &'static str, text: String) -> ParagraphRow<'static> {
        ParagraphRow {
            article_id: Cow::Borrowed("a1"),
            outlet: Cow::Borrowed(outlet),
            paragraph: i,
            kind: "content",
            label: Cow::Borrowed("neutral"),
            p_optimistic: 0.25,
            p_neutral: 0.5,
            p_skeptical: 0.25,
            stance: -0.0001 * i as f64,
            windows: 1,
            words: i,
            text: Cow::Owned(text),
        }
    }

    fn read(path: &Path) -> (Vec<RecordBatch>, usize) {
        let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
        let groups = builder.metadata().num_row_groups();
        (builder.build().unwrap().map(|b| b.unwrap()).collect(), groups)
    }

    /// Text that neither a dictionary nor Snappy shrinks much, so sizes are close to real ones.
    fn noise(seed: usize, len: usize) -> String {
        let mut x = seed as u64 * 0x9E37_79B9_7F4A_7C15 + 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect()
    }

    /// The values of column `i` over all batches, through `get`.
    fn values<A: Array + 'static, T>(batches: &[RecordBatch], i: usize, get: impl Fn(&A, usize) -> T) -> Vec<T> {
        let arrays = batches.iter().map(|b| b.column(i).as_any().downcast_ref::<A>().expect("column type"));
        arrays.flat_map(|a| (0..a.len()).map(|j| get(a, j)).collect::<Vec<_>>()).collect()
    }

    #[test]
    fn rows_come_back_typed_with_nulls_in_bounded_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        let limits = Limits { batch_rows: 10, batch_text: 1 << 20, row_group_bytes: 64 << 10 };
        let provenance = Provenance { model: "m".into(), head: "head-x".into() };
        let mut file = AtomicParquet::create(&path, ParagraphRow::COLUMNS, file_metadata(&provenance), limits).unwrap();
        let rows = 400;
        for i in 0..rows {
            file.write(&paragraph(i, if i % 3 == 0 { "" } else { "Wire" }, noise(i, 1000))).unwrap();
            assert!(file.rows < 10, "a batch is handed on when it holds batch_rows rows");
            assert!(file.writer.in_progress_size() < 64 << 10, "row group over its limit at row {i}");
        }
        assert!(!path.exists(), "nothing appears before the commit");
        commit_all(vec![TableFile::Parquet(file)]).unwrap();
        let (batches, groups) = read(&path);
        assert!(groups >= 400 * 1000 / (64 << 10), "{groups} row groups for about 400 kB of text");
        assert_eq!(batches[0].schema().fields().len(), 12);
        let outlets = values(&batches, 1, |a: &StringArray, j| a.is_valid(j).then(|| a.value(j).to_string()));
        let want: Vec<Option<String>> = (0..rows).map(|i| (i % 3 != 0).then(|| "Wire".to_string())).collect();
        assert_eq!(outlets, want, "empty outlets are nulls");
        let words = values(&batches, 10, |a: &Int64Array, j| a.value(j));
        assert_eq!(words, (0..rows as i64).collect::<Vec<_>>(), "rows in input order");
        let stance = values(&batches, 8, |a: &Float64Array, j| a.value(j).to_bits());
        assert_eq!(stance[399], (-0.0001 * 399.0f64).to_bits());
        let text = values(&batches, 11, |a: &StringArray, j| a.value(j).to_string());
        assert_eq!(text[7], noise(7, 1000));
    }

    #[test]
    fn a_cell_the_column_cannot_hold_is_refused() {
        let cases: [(ColumnType, Cell<'_>, Result<usize, ()>); 8] = [
            (MaybeText, Cell::Text(""), Ok(0)),
            (Text, Cell::Text(""), Ok(0)),
            (Text, Cell::Text("abc"), Ok(3)),
            (MaybeNumber, Cell::Number(None), Ok(0)),
            (Number, Cell::Number(None), Err(())),
            (Number, Cell::Text("1"), Err(())),
            (Count, Cell::Count(u64::MAX), Err(())),
            (Count, Cell::Number(Some(1.0)), Err(())),
        ];
        for (kind, cell, want) in cases {
            let got = Builder::new(kind).append(kind, cell).map_err(|_| ());
            assert_eq!(got, want, "{cell:?} in {kind:?}");
        }
    }
}
