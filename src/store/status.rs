//! What the store knows about its own health, for readiness and intake:
//! whether the SQLite file it opened is still the one at its path, and
//! whether the journal's commits are succeeding. The journal writer keeps
//! it; `/readyz` and intake read it. It also defines the small interface
//! through which the writer reports to whoever watches it (the store
//! imports nothing above it).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Readiness as the store sees it.
#[derive(Debug, Default)]
pub struct StoreStatus {
    /// Set once, never cleared: the store went away under the process.
    lost: Mutex<Option<String>>,
    /// The last commit failed (disk full, PostgreSQL down); cleared by the
    /// next successful commit.
    failing: Mutex<Option<String>>,
}

impl StoreStatus {
    /// Why the store cannot take writes now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        self.lost().or_else(|| {
            self.failing
                .lock()
                .ok()
                .and_then(|f| f.clone())
                .map(|error| format!("storage: commits are failing ({error})"))
        })
    }

    /// Set when the SQLite file was deleted or replaced.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    pub(crate) fn set_lost(&self, reason: String) {
        if let Ok(mut lost) = self.lost.lock()
            && lost.is_none()
        {
            *lost = Some(reason);
        }
    }

    pub(crate) fn commit_failed(&self, error: &str) {
        if let Ok(mut failing) = self.failing.lock() {
            *failing = Some(error.to_owned());
        }
    }

    pub(crate) fn committed(&self) {
        if let Ok(mut failing) = self.failing.lock()
            && failing.is_some()
        {
            *failing = None;
            log::info!("journal: commits succeed again");
        }
    }
}

/// How the journal writer reports on itself (the pipeline shows it as an
/// actor's health).
pub trait WriterObserver: Send + Sync {
    /// A batch of `requests` was committed.
    fn batch_written(&self, requests: usize, took: Duration);
    /// A batch, or one of its members, could not be written.
    fn batch_failed(&self, error: &str);
    /// Requests waiting for the writer.
    fn queue_depth(&self, depth: usize);
    /// The writer recovered from a panic (its batch failed).
    fn recovered(&self, cause: &str);
}

/// The SQLite file as it was opened: its identity (device and inode), to
/// tell whether the path still names it.
#[derive(Debug)]
pub struct OpenedFile {
    path: PathBuf,
    handle: File,
    device: u64,
    inode: u64,
}

impl OpenedFile {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let handle = File::open(path)?;
        let metadata = handle.metadata()?;
        Ok(OpenedFile {
            path: path.to_owned(),
            device: metadata.dev(),
            inode: metadata.ino(),
            handle,
        })
    }

    /// `Err(why)` when the file was deleted or another file now stands at
    /// its path: writes would go to a file nobody will ever read again.
    pub fn check(&self) -> Result<(), String> {
        let shown = self.path.display();
        let deleted = || {
            format!(
                "storage: the SQLite file {shown} was deleted while Alvares runs; \
                 intake refuses events until Alvares restarts on a good store"
            )
        };
        match std::fs::metadata(&self.path) {
            Err(_) => Err(deleted()),
            Ok(now) if now.dev() != self.device || now.ino() != self.inode => Err(format!(
                "storage: the SQLite file {shown} was replaced while Alvares runs; \
                 intake refuses events until Alvares restarts on a good store"
            )),
            Ok(_)
                if self
                    .handle
                    .metadata()
                    .map(|m| m.nlink() == 0)
                    .unwrap_or(true) =>
            {
                Err(deleted())
            }
            Ok(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_or_replaced_file_is_noticed() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("a.db");
        std::fs::write(&path, b"x").unwrap();
        let opened = OpenedFile::open(&path).unwrap();
        assert_eq!(opened.check(), Ok(()));
        std::fs::remove_file(&path).unwrap();
        assert!(opened.check().unwrap_err().contains("was deleted"));
        std::fs::write(&path, b"y").unwrap();
        assert!(opened.check().unwrap_err().contains("was replaced"));

        let other = folder.path().join("b.db");
        std::fs::write(&other, b"x").unwrap();
        let opened = OpenedFile::open(&other).unwrap();
        let replacement = folder.path().join("c.db");
        std::fs::write(&replacement, b"z").unwrap();
        // The old file stays open here, so only the rename changes the path.
        let _keep = File::open(&other).unwrap();
        std::fs::rename(&replacement, &other).unwrap();
        assert!(opened.check().unwrap_err().contains("was replaced"));
    }

    #[test]
    fn a_failing_commit_is_a_problem_until_one_succeeds() {
        let status = StoreStatus::default();
        assert_eq!(status.problem(), None);
        status.commit_failed("disk full");
        assert_eq!(
            status.problem().as_deref(),
            Some("storage: commits are failing (disk full)")
        );
        status.committed();
        assert_eq!(status.problem(), None);
        status.set_lost("gone".into());
        status.committed();
        assert_eq!(status.problem().as_deref(), Some("gone"));
    }
}
