//! Issue 11, with the real binary against a real rsyslog: file identity
//! across a real remount (an ext4 image mounted through one loop device,
//! then through another: same inodes, a new `st_dev`), a different file
//! that takes the same path and inode number on another file system, and
//! the open-file budget with appends and rotations done while files are
//! closed. Every line carries a unique id; each test prints sent / lost /
//! duplicates (`cargo test --test it relay_scale:: -- --nocapture`).
//!
//! The loop-device tests need root (`losetup`, `mount`); CI runs as root.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::relay::{
    count_lines, relay_config, tls_output, Fixture, NumberedFile, ReceivedIds, Rotation, Tally,
};
use crate::support::rsyslog::{Input, Options, Rsyslog};
use crate::support::wait_until_every;

/// Runs `cmd`, failing the test with its output when it fails.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// An ext4 image file, attached to a loop device and mounted at a path
/// while [`Mounted`] lives; unmounted and detached on drop.
struct Image {
    file: PathBuf,
}

impl Image {
    /// A new 16 MiB ext4 image at `file`.
    fn new(file: PathBuf) -> Image {
        run(Command::new("truncate").arg("-s").arg("16M").arg(&file));
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&file));
        Image { file }
    }

    /// Attaches the image to a free loop device and mounts it at `at`.
    fn mount(&self, at: &Path) -> Mounted {
        fs::create_dir_all(at).unwrap();
        let device = run(Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&self.file));
        let mut mounted = Mounted {
            device,
            at: at.to_owned(),
            mounted: false,
        };
        run(Command::new("mount").arg(&mounted.device).arg(at));
        mounted.mounted = true;
        mounted
    }
}

struct Mounted {
    device: String,
    at: PathBuf,
    mounted: bool,
}

impl Mounted {
    /// Unmounts, keeping the loop device attached until drop (so that the
    /// next mount gets another device).
    fn unmount(&mut self) {
        run(Command::new("umount").arg(&self.at));
        self.mounted = false;
    }

    /// `st_dev` of the mounted file system.
    fn dev(&self) -> u64 {
        fs::metadata(&self.at).unwrap().dev()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.at).status();
        }
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
    }
}

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The relay's config: one gitlab source over `root`, TLS to rsyslog.
fn config(fx: &Fixture, root: &Path, start_at: &str, top: &str, port: u16) -> String {
    let source = format!(
        "[[source]]\npreset = \"gitlab\"\nroot = \"{}\"\nper_pod_dirs = true\nwatch = \"poll\"\npoll_interval = \"100ms\"\nstart_at = \"{start_at}\"\n",
        root.display()
    );
    let top = format!("partial_line_timeout = \"1s\"\nshutdown_timeout = \"5s\"\n{top}");
    relay_config(
        &fx.state,
        &top,
        &source,
        &tls_output(port, &fx.pki.ca, &fx.pki, Some("localhost")),
    )
}

/// Waits until rsyslog holds every id of `files` (or `timeout`), then for
/// late copies; the tally by id.
fn settle(out: &Path, files: &[&NumberedFile], timeout: Duration) -> Tally {
    let ids: Vec<String> = files.iter().flat_map(|f| f.ids()).collect();
    let mut got = ReceivedIds::default();
    wait_until_every(timeout, Duration::from_millis(100), || {
        got.refresh(out).has_all(ids.iter().map(String::as_str))
    });
    std::thread::sleep(Duration::from_millis(1500));
    got.refresh(out);
    Tally::of(ids, &got)
}

/// Ids received more than once, in all.
fn duplicates(out: &Path) -> u64 {
    let mut got = ReceivedIds::default();
    got.refresh(out);
    got.counts
        .values()
        .map(|&c| u64::from(c.saturating_sub(1)))
        .sum()
}

#[test]
fn a_remounted_volume_resumes_every_file_where_it_was() {
    if !is_root() {
        eprintln!("skipped: needs root for losetup and mount");
        return;
    }
    let fx = Fixture::new();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&fx.pki));
    let image = Image::new(fx.path("volume.img"));
    let mnt = fx.path("volume");
    let first = image.mount(&mnt);
    let root = mnt.join("logs");
    let mut a = NumberedFile::new(root.join("web-0/production_json.log"), "a", 120);
    let mut b = NumberedFile::new(root.join("web-1/gitaly/current"), "b", 120);
    a.write(1000);
    b.write(500);
    fx.write_config(&config(&fx, &root, "beginning", "", rsyslog.port()));
    let mut relay = fx.start_relay();
    let tally = settle(&rsyslog.output_path(), &[&a, &b], Duration::from_secs(30));
    assert!(
        tally.lost.is_empty(),
        "first run: {}",
        tally.summary("remount")
    );
    relay.stop(Duration::from_secs(10));
    let dev_before = first.dev();
    let mut first = first;
    first.unmount();

    // The same image through another loop device: new st_dev, same inodes.
    let second = image.mount(&mnt);
    drop(first);
    assert_ne!(second.dev(), dev_before, "the remount must change st_dev");
    a.write(100);
    b.write(50);
    // start_at = "end" must not skip what was written while the relay was
    // away: a checkpoint exists.
    fx.write_config(&config(&fx, &root, "end", "", rsyslog.port()));
    let mut relay = fx.start_relay();
    let tally = settle(&rsyslog.output_path(), &[&a, &b], Duration::from_secs(30));
    let dups = duplicates(&rsyslog.output_path());
    relay.stop(Duration::from_secs(10));
    let log = relay.log();
    eprintln!(
        "remount: {}; duplicates {dups}; st_dev {dev_before} -> {}",
        tally.summary("remount"),
        second.dev()
    );
    assert!(tally.lost.is_empty(), "{}\n{log}", tally.summary("remount"));
    assert_eq!(dups, 0, "old lines shipped again after the remount\n{log}");
    assert_eq!(
        count_lines(&log, &["checkpointed file is gone"]),
        0,
        "an entry was dropped instead of resumed\n{log}"
    );
    assert!(
        count_lines(&log, &["mounted again"]) >= 2,
        "each file says it was resumed by inode\n{log}"
    );
}

#[test]
fn another_file_with_the_same_path_and_inode_on_another_volume_is_new() {
    if !is_root() {
        eprintln!("skipped: needs root for losetup and mount");
        return;
    }
    let fx = Fixture::new();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&fx.pki));
    let mnt = fx.path("volume");
    let root = mnt.join("logs");
    let rel = "web-0/production_json.log";
    let image_a = Image::new(fx.path("a.img"));
    let image_b = Image::new(fx.path("b.img"));

    let first = image_a.mount(&mnt);
    let mut a = NumberedFile::new(root.join(rel), "a", 120);
    a.write(1000);
    let inode_a = fs::metadata(&a.path).unwrap().ino();
    fx.write_config(&config(&fx, &root, "beginning", "", rsyslog.port()));
    let mut relay = fx.start_relay();
    let tally = settle(&rsyslog.output_path(), &[&a], Duration::from_secs(30));
    assert!(tally.lost.is_empty(), "{}", tally.summary("first volume"));
    relay.stop(Duration::from_secs(10));
    drop(first);

    // Another file system, the same path made in the same order: ext4 gives
    // it the same inode number. Shorter than the checkpointed offset would
    // not be needed: other first bytes must be enough.
    let second = image_b.mount(&mnt);
    let mut b = NumberedFile::new(root.join(rel), "b", 120);
    b.write(2000);
    let inode_b = fs::metadata(&b.path).unwrap().ino();
    assert_eq!(inode_a, inode_b, "the test needs the same inode number");
    fx.write_config(&config(&fx, &root, "beginning", "", rsyslog.port()));
    let mut relay = fx.start_relay();
    let tally = settle(&rsyslog.output_path(), &[&b], Duration::from_secs(30));
    relay.stop(Duration::from_secs(10));
    eprintln!(
        "false match: {}; inode {inode_b} on both volumes",
        tally.summary("other volume")
    );
    assert!(
        tally.lost.is_empty(),
        "a different file was taken for the checkpointed one: {}\n{}",
        tally.summary("other volume"),
        relay.log()
    );
    drop(second);
}

/// Descriptors of `pid` that point into `tree`.
fn fds_into(pid: i32, tree: &Path) -> usize {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter(|target| target.starts_with(tree))
        .count()
}

#[test]
fn with_a_small_open_file_budget_closed_files_lose_no_append_and_no_rotation() {
    const BUDGET: usize = 8;
    let fx = Fixture::new();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&fx.pki));
    let mut files: Vec<NumberedFile> = (0..40)
        .map(|i| {
            let rel = match i % 2 {
                0 => format!("pod-{i:02}/production_json.log"),
                _ => format!("pod-{i:02}/gitaly/current"),
            };
            NumberedFile::new(fx.root.join(rel), &format!("f{i}"), 100)
        })
        .collect();
    for f in &mut files {
        f.write(20);
    }
    let top = format!("max_open_files = {BUDGET}\n");
    fx.write_config(&config(&fx, &fx.root, "beginning", &top, rsyslog.port()));
    let relay = fx.start_relay();
    let all: Vec<&NumberedFile> = files.iter().collect();
    let tally = settle(&rsyslog.output_path(), &all, Duration::from_secs(60));
    assert!(
        tally.lost.is_empty(),
        "{}\n{}",
        tally.summary("budget"),
        relay.log()
    );

    // Idle now: most files are closed. Sample the descriptors a while.
    let mut max_fds = 0;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        max_fds = max_fds.max(fds_into(relay.pid(), &fx.root));
        std::thread::sleep(Duration::from_millis(50));
    }

    // While closed: an append, then a rotation of every third file (by
    // rename, svlogd's rename or copytruncate), then lines in the new file.
    for (i, f) in files.iter_mut().enumerate() {
        f.write(5);
        match i % 3 {
            0 if f.path.ends_with("current") => f.rotate(Rotation::Svlogd),
            0 => f.rotate(Rotation::Rename),
            1 => f.rotate(Rotation::CopyTruncate),
            _ => {}
        }
        f.write(5);
    }
    let watch = Instant::now();
    let mut peak = 0;
    let all: Vec<&NumberedFile> = files.iter().collect();
    let ids: Vec<String> = all.iter().flat_map(|f| f.ids()).collect();
    let mut got = ReceivedIds::default();
    wait_until_every(Duration::from_secs(60), Duration::from_millis(50), || {
        peak = peak.max(fds_into(relay.pid(), &fx.root));
        got.refresh(&rsyslog.output_path())
            .has_all(ids.iter().map(String::as_str))
    });
    let took = watch.elapsed();
    std::thread::sleep(Duration::from_millis(1500));
    got.refresh(&rsyslog.output_path());
    let tally = Tally::of(ids, &got);
    let dups = duplicates(&rsyslog.output_path());
    let log = relay.log();
    eprintln!(
        "budget {BUDGET}: {}; duplicates {dups}; {:.1} s to ship the closed files' lines; open log fds idle ≤ {max_fds}, while catching up ≤ {peak}",
        tally.summary("budget"),
        took.as_secs_f64()
    );
    assert!(tally.lost.is_empty(), "{}\n{log}", tally.summary("budget"));
    assert_eq!(dups, 0, "a line shipped twice\n{log}");
    // A look at a file's first bytes (a changed closed file, a fingerprint
    // check) holds one more descriptor for a moment, also in the seconds
    // after the catch-up on a busy machine (CI saw 9 of 8 once).
    assert!(
        max_fds <= BUDGET + 1 && peak <= BUDGET + 1,
        "the budget is {BUDGET}: {max_fds} open at idle, {peak} while catching up (a look at a file's first bytes may add one for a moment)"
    );
    assert_eq!(count_lines(&log, &["Too many open files"]), 0, "{log}");
    assert!(
        count_lines(&log, &["closed file was rotated"]) >= 5,
        "a rotation found a closed file\n{log}"
    );
}
