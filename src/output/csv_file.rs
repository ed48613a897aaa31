//! Stage 7, write: CSV files, written through a temporary file that is moved into place only
//! when complete (see `partial`).

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::partial::{commit_all, temp_beside, Partial};
use super::TableFile;
use crate::error::{Error, Result};

/// A CSV file being written under a hidden temporary name beside its final path.
pub(crate) struct AtomicCsv {
    writer: csv::Writer<BufWriter<Partial>>,
    path: PathBuf,
}

impl AtomicCsv {
    /// Starts writing `path` (its folder must exist).
    pub(crate) fn create(path: &Path) -> Result<AtomicCsv> {
        let temp = temp_beside(path)?;
        let writer = csv::WriterBuilder::new().from_writer(BufWriter::new(temp));
        Ok(AtomicCsv { writer, path: path.to_path_buf() })
    }

    /// Writes one row.
    pub(crate) fn write<T: Serialize>(&mut self, row: &T) -> Result<()> {
        self.writer.serialize(row).map_err(|source| Error::Csv { path: self.path.clone(), source })
    }

    /// Flushes the file and moves it into place.
    pub(crate) fn commit(self) -> Result<()> {
        commit_all(vec![TableFile::Csv(self)])
    }

    /// Flushes and syncs the temporary file, ready to be moved into place.
    pub(super) fn finish(self) -> Result<(Partial, PathBuf)> {
        let path = self.path;
        let buffered = self.writer.into_inner().map_err(|e| Error::io(&path, e.into_error()))?;
        let mut partial = buffered.into_inner().map_err(|e| Error::io(&path, e.into_error()))?;
        partial.file().and_then(|f| f.as_file().sync_all()).map_err(|e| Error::io(&path, e))?;
        Ok((partial, path))
    }
}
