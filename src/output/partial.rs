//! Stage 7, write: the temporary files outputs are written to, and how they are moved into
//! place. A temporary file is known to the process until it is moved or dropped, so a signal
//! handler can remove it; files that belong together are moved together or not at all; a
//! folder being written is locked against a second run, and temporary files a killed run left
//! there are swept by the next.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tempfile::NamedTempFile;

use super::TableFile;
use crate::error::{Error, Result};

/// Temporary files this process is writing, so a signal handler can remove them; committing
/// holds the lock while it renames, so a signal never lands between two files of a pair.
static PARTIAL_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn partial_files() -> MutexGuard<'static, Vec<PathBuf>> {
    PARTIAL_FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Holds back every commit for as long as it lives; see [`abandon_partial_files`].
pub struct Abandoned {
    _held: MutexGuard<'static, Vec<PathBuf>>,
}

/// Removes every temporary file this process is writing and keeps any commit from starting
/// while the returned value lives: for a signal handler that then ends the process. A commit
/// already under way finishes first, so a pair of files is either both in place or neither.
pub fn abandon_partial_files() -> Abandoned {
    let mut held = partial_files();
    for path in held.drain(..) {
        let _ = std::fs::remove_file(path);
    }
    Abandoned { _held: held }
}

/// A temporary file known to [`abandon_partial_files`] until it is moved into place or dropped
/// (dropping removes it).
pub(super) struct Partial {
    temp: Option<NamedTempFile>,
    path: PathBuf,
}

impl Partial {
    pub(super) fn file(&mut self) -> std::io::Result<&mut NamedTempFile> {
        self.temp.as_mut().ok_or_else(|| std::io::Error::other("temporary file already moved into place"))
    }
}

impl Write for Partial {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file()?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file()?.flush()
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        partial_files().retain(|p| *p != self.path);
    }
}

/// Moves files into place together: if one cannot be, those already moved are removed again,
/// so the files appear all or not at all. Nothing is half-written either way.
pub(crate) fn commit_all(files: Vec<TableFile>) -> Result<()> {
    let finished: Vec<(Partial, PathBuf)> = files.into_iter().map(TableFile::finish).collect::<Result<_>>()?;
    let mut finished = finished;
    let mut held = partial_files();
    let mut placed: Vec<PathBuf> = Vec::new();
    for (partial, path) in &mut finished {
        let moved = match partial.temp.take() {
            Some(temp) => temp.persist(&*path).map_err(|e| Error::io(&*path, e.error)),
            None => Err(Error::io(&*path, std::io::Error::other("temporary file already moved into place"))),
        };
        held.retain(|p| p != &partial.path);
        if let Err(e) = moved {
            for done in &placed {
                let _ = std::fs::remove_file(done);
            }
            return Err(e);
        }
        placed.push(path.clone());
    }
    drop(held);
    // Make the renames themselves durable.
    if let Some(dir) = placed.first().and_then(|p| p.parent()).filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// The `.NAME.XXXXXX.partial` temporary file beside `path`.
pub(super) fn temp_beside(path: &Path) -> Result<Partial> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("output");
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(PARTIAL_SUFFIX).rand_bytes(PARTIAL_RANDOM);
    // Temporary files are private by default; outputs are ordinary files others may read.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    if !dir.is_dir() {
        let missing =
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder; create it, or write elsewhere");
        return Err(Error::io(dir, missing));
    }
    let mut held = partial_files();
    let temp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    let temp_path = temp.path().to_path_buf();
    held.push(temp_path.clone());
    Ok(Partial { temp: Some(temp), path: temp_path })
}

const PARTIAL_SUFFIX: &str = ".partial";
const PARTIAL_RANDOM: usize = 6;

/// Whether `file_name` is one of this module's temporary files for the output `name`.
fn is_partial_of(file_name: &str, name: &str) -> bool {
    let Some(middle) = file_name
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(PARTIAL_SUFFIX))
    else {
        return false;
    };
    middle.len() == PARTIAL_RANDOM && middle.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Removes the temporary files a killed run left in `dir` for the outputs `names`: only names
/// this module makes, and only while [`lock_folder`] holds `dir` (so no live run owns them).
/// Returns how many were removed.
pub fn sweep_partial_files(dir: &Path, names: &[&str], _lock: &FolderLock) -> Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else { continue };
        if names.iter().any(|name| is_partial_of(file_name, name)) && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// An exclusive lock on an output folder, held until dropped (or until the process ends, however
/// it ends: the operating system releases it, so a killed run never leaves a stale lock).
#[derive(Debug)]
pub struct FolderLock {
    _dir: File,
}

/// Locks `dir` for this run, or says that another run is writing into it.
pub fn lock_folder(dir: &Path) -> Result<FolderLock> {
    let handle = File::open(dir).map_err(|e| Error::io(dir, e))?;
    match handle.try_lock() {
        Ok(()) => Ok(FolderLock { _dir: handle }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy { path: dir.to_path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(dir, e)),
    }
}

/// Writes bytes to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = temp_beside(path)?;
    temp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    temp.file().and_then(|f| f.as_file().sync_all()).map_err(|e| Error::io(path, e))?;
    let held = partial_files();
    let moved = match temp.temp.take() {
        Some(file) => file.persist(path).map(|_| ()).map_err(|e| Error::io(path, e.error)),
        None => Ok(()),
    };
    drop(held);
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::AtomicCsv;

    #[test]
    fn nothing_appears_until_commit_and_abandoned_files_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        let mut csv = AtomicCsv::create(&path).unwrap();
        csv.write(&("a", 1)).unwrap();
        assert!(!path.exists());
        csv.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,1\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o044, 0o044, "outputs are readable by others: {mode:o}");
        }

        let other = dir.path().join("other.csv");
        let mut csv = AtomicCsv::create(&other).unwrap();
        csv.write(&("b", 2)).unwrap();
        drop(csv);
        assert!(!other.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_pair_appears_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("first.csv"), dir.path().join("second.csv"));
        std::fs::create_dir_all(second.join("in-the-way")).unwrap();
        let mut a = AtomicCsv::create(&first).unwrap();
        let mut b = AtomicCsv::create(&second).unwrap();
        a.write(&("a", 1)).unwrap();
        b.write(&("b", 2)).unwrap();
        assert!(commit_all(vec![TableFile::Csv(a), TableFile::Csv(b)]).is_err());
        assert!(!first.exists(), "the first file was left without the second");
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, vec!["second.csv"], "temporary files are gone");
        assert!(!partial_files().iter().any(|p| p.starts_with(dir.path())));
    }

    #[test]
    fn only_our_own_temporary_names_are_swept() {
        let cases = [
            (".paragraphs.csv.a1B2c3.partial", true),
            (".articles.csv.zzzzzz.partial", true),
            (".paragraphs.csv.a1B2c.partial", false),
            (".paragraphs.csv.a1-2c3.partial", false),
            ("paragraphs.csv.a1B2c3.partial", false),
            (".notes.csv.a1B2c3.partial", false),
            (".paragraphs.csv.a1B2c3.partial.keep", false),
        ];
        for (name, want) in cases {
            let got = ["paragraphs.csv", "articles.csv"].iter().any(|n| is_partial_of(name, n));
            assert_eq!(got, want, "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_folder(dir.path()).unwrap();
        assert!(matches!(lock_folder(dir.path()), Err(Error::Busy { .. })), "a second lock is refused");
        for (name, _) in cases {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        assert_eq!(sweep_partial_files(dir.path(), &["paragraphs.csv", "articles.csv"], &lock).unwrap(), 2);
        drop(lock);
        assert!(lock_folder(dir.path()).is_ok(), "the lock ends with its holder");
    }
}
