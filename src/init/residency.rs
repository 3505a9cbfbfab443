//! Resident memory after the start: once the child runs, init gives back
//! the pages of its own executable that it touched while starting (argument
//! parsing, std's runtime set-up, `Command`, the static-pie relocation
//! table), with `madvise(MADV_DONTNEED)` over the read-only and executable
//! segments of its binary.
//!
//! Why it matters: every first touch of a text page maps not one page but a
//! whole fault-around window (64 KiB by default) of the cached file, so a
//! few scattered calls in a multi-megabyte binary (the relay lives in the
//! same one) keep hundreds of KiB resident that the loop never uses again.
//! Those pages are clean and backed by the file: dropping them from our
//! page tables loses nothing, and the few the loop needs come back on the
//! next signal. Writable segments (data, bss, relocated RELRO) are never
//! touched, so no state is lost.

use super::log;
use super::sys::{self, read_only_segments};

/// Drops the resident pages of init's own read-only segments. Failure only
/// costs memory, so it is logged at debug level.
pub(super) fn shed_startup_pages() {
    // Dropped only after the iteration: reading the program headers during
    // it would fault the first segment right back in.
    let segments = read_only_segments();
    let found = &segments.ranges[..segments.count];
    found
        .iter()
        .for_each(|&(start, len)| drop_range(start, len));
}

/// `MADV_DONTNEED` over the whole pages inside `[start, start + len)`;
/// pages shared with a neighbouring segment are left alone.
fn drop_range(start: usize, len: usize) {
    let page = sys::page_size();
    let first = start.div_ceil(page) * page;
    let end = (start + len) / page * page;
    if end <= first {
        return;
    }
    if let Err(err) = sys::drop_read_only_pages(first, end - first) {
        log::debug!("madvise({first:#x}, {}) failed: {err}", end - first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_text_segment_of_this_program() {
        let segments = read_only_segments();
        let here = finds_the_text_segment_of_this_program as *const () as usize;
        let ranges = &segments.ranges[..segments.count];
        assert!(ranges.iter().any(|&(s, l)| (s..s + l).contains(&here)));
    }

    #[test]
    fn code_keeps_running_after_its_pages_are_dropped() {
        shed_startup_pages();
        let sum: u64 = (1..=100u64).sum();
        assert_eq!(sum, 5050);
        shed_startup_pages();
    }
}
