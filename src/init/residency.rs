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

use std::ffi::c_void;

use super::log;

/// At most this many read-only segments are dropped (linkers emit 2 or 3).
const MAX_SEGMENTS: usize = 8;

/// Read-only segments of the main program, as (address, length).
#[derive(Default)]
struct Segments {
    ranges: [(usize, usize); MAX_SEGMENTS],
    count: usize,
}

/// Drops the resident pages of init's own read-only segments. Failure only
/// costs memory, so it is logged at debug level.
pub fn shed_startup_pages() {
    // Dropped only after the iteration: reading the program headers during
    // it would fault the first segment right back in.
    let segments = read_only_segments();
    let found = &segments.ranges[..segments.count];
    found
        .iter()
        .for_each(|&(start, len)| drop_range(start, len));
}

/// The main program's read-only PT_LOAD segments.
fn read_only_segments() -> Segments {
    let mut segments = Segments::default();
    let data = (&mut segments as *mut Segments).cast::<c_void>();
    // SAFETY: the callback only reads the program headers it is handed and
    // writes into `segments`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(collect_main_program), data) };
    segments
}

/// Called for the main program first; returns 1 to stop after it (shared
/// libraries, when dynamically linked, are shared anyway and left alone).
unsafe extern "C" fn collect_main_program(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> libc::c_int {
    // SAFETY: the loader passes a valid info whose phdr array has phnum
    // entries; `data` is the `Segments` passed by shed_startup_pages.
    let (bias, phdrs, segments) = unsafe {
        let info = &*info;
        let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
        (
            info.dlpi_addr as usize,
            phdrs,
            &mut *data.cast::<Segments>(),
        )
    };
    let read_only = phdrs
        .iter()
        .filter(|ph| ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_W == 0);
    for ph in read_only.take(MAX_SEGMENTS) {
        segments.ranges[segments.count] = (bias + ph.p_vaddr as usize, ph.p_memsz as usize);
        segments.count += 1;
    }
    1
}

/// `MADV_DONTNEED` over the whole pages inside `[start, start + len)`;
/// pages shared with a neighbouring segment are left alone.
fn drop_range(start: usize, len: usize) {
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    };
    let first = start.div_ceil(page) * page;
    let end = (start + len) / page * page;
    if end <= first {
        return;
    }
    // SAFETY: the range lies inside a read-only, file-backed mapping of our
    // own executable, which is never written: its contents come back from
    // the file on the next access.
    let rc = unsafe { libc::madvise(first as *mut c_void, end - first, libc::MADV_DONTNEED) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
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
