//! The open-file budget: how many log files the relay holds open at once.
//!
//! A descriptor is held by the file's tailer and, after the tailer closed
//! it, by the batches that may still have to read its lines again (the
//! resend window, see `output/resend.rs`). [`OpenFile`] counts itself in
//! [`OpenFiles`] from open to the drop of its last holder, so the count is
//! the truth whoever holds the descriptor.
//!
//! The reader opens a file only while the count is below the budget
//! (closing idle tailers first); the resend window keeps a batch's frames
//! instead of its descriptors once the count is past three quarters of it
//! ([`OpenFiles::crowded`]), so the window can never hold the budget.

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The shared count of open log files and the budget it must stay under.
#[derive(Debug)]
pub struct OpenFiles {
    open: AtomicUsize,
    max: usize,
}

impl OpenFiles {
    /// A budget of `max` open files (at least 1).
    pub fn new(max: usize) -> Arc<OpenFiles> {
        Arc::new(OpenFiles {
            open: AtomicUsize::new(0),
            max: max.max(1),
        })
    }

    /// Files open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The budget.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Whether one more file may be opened.
    pub fn has_room(&self) -> bool {
        self.open() < self.max
    }

    /// Past three quarters of the budget: holders other than the tailers
    /// should stop keeping descriptors.
    pub fn crowded(&self) -> bool {
        self.open() > self.max / 4 * 3
    }
}

/// A log file's descriptor, counted in its [`OpenFiles`] until dropped.
#[derive(Debug)]
pub struct OpenFile {
    file: File,
    count: Option<Arc<OpenFiles>>,
}

impl OpenFile {
    /// `file`, counted in `count` (`None`: not counted, a file read once by
    /// a replay or a test).
    pub fn new(file: File, count: Option<Arc<OpenFiles>>) -> OpenFile {
        if let Some(c) = &count {
            c.open.fetch_add(1, Ordering::Relaxed);
        }
        OpenFile { file, count }
    }

    /// The budget this descriptor counts in.
    pub fn budget(&self) -> Option<&Arc<OpenFiles>> {
        self.count.as_ref()
    }
}

impl std::ops::Deref for OpenFile {
    type Target = File;

    fn deref(&self) -> &File {
        &self.file
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        if let Some(c) = &self.count {
            c.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_counts_until_its_last_holder_drops_it() {
        let budget = OpenFiles::new(4);
        let a = Arc::new(OpenFile::new(
            tempfile::tempfile().unwrap(),
            Some(Arc::clone(&budget)),
        ));
        let held = Arc::clone(&a);
        assert_eq!(budget.open(), 1);
        drop(a);
        assert_eq!(budget.open(), 1, "a batch still holds it");
        drop(held);
        assert_eq!(budget.open(), 0);
    }

    #[test]
    fn room_and_crowding_follow_the_count() {
        let budget = OpenFiles::new(4);
        let files: Vec<_> = (0..4)
            .map(|_| OpenFile::new(tempfile::tempfile().unwrap(), Some(Arc::clone(&budget))))
            .collect();
        assert!(!budget.has_room());
        assert!(budget.crowded());
        drop(files);
        assert!(budget.has_room() && !budget.crowded());
        let uncounted = OpenFile::new(tempfile::tempfile().unwrap(), None);
        assert_eq!(budget.open(), 0);
        drop(uncounted);
    }
}
