//! Sources from the configuration, resolved into files with their rules.
//!
//! A scan walks every source (preset roots, glob patterns), asks the preset
//! or the source's own settings for each file's rule, and names the
//! HOSTNAME: the pod directory when `per_pod_dirs`, else the relay's.
//! Rules are cached per path, so a rescan allocates only for new files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::relay::config::{Preset, Shard, Source, StartAt};
use crate::relay::encode::classify::{self, FileRule, LineFormat};
use crate::relay::encode::syslog::{Facility, Severity};
use crate::relay::input::discover::{self, DiscoverError};
use crate::relay::input::fingerprint::FileKey;
use crate::relay::input::shard;

/// A file a scan found, and how to stamp its lines.
pub(crate) struct Found {
    /// Index of the source in the configuration.
    pub source: usize,
    pub path: PathBuf,
    pub key: FileKey,
    pub rule: Arc<FileRule>,
    pub hostname: Arc<str>,
    pub start_at: StartAt,
}

/// One scan's result.
#[derive(Default)]
pub(crate) struct Scan {
    pub files: Vec<Found>,
    pub warnings: Vec<DiscoverError>,
}

/// A file's rule and HOSTNAME, shared by every line of it.
type Resolved = (Arc<FileRule>, Arc<str>);

/// Every configured source, with the per-path rule cache.
pub(crate) struct SourceSet {
    sources: Vec<Source>,
    /// Per source: `watch = "auto"` and every directory it covers is on a
    /// file system whose writes inotify sees (not NFS, CephFS, SMB, FUSE…).
    notified: Vec<bool>,
    shard: Option<Shard>,
    hostname: Arc<str>,
    /// `None` = the preset skips this path (not a log file).
    cache: HashMap<PathBuf, Option<Resolved>>,
}

impl SourceSet {
    pub(crate) fn new(sources: Vec<Source>, hostname: String, shard: Option<Shard>) -> SourceSet {
        let notified = sources.iter().map(inotify_sees_writes).collect();
        SourceSet {
            notified,
            sources,
            shard,
            hostname: Arc::from(hostname),
            cache: HashMap::new(),
        }
    }

    /// The directories inotify should watch: roots (recursively), and each
    /// glob's fixed prefix ([`discover::glob_watch`]).
    pub(crate) fn watch_dirs(&self) -> Vec<discover::WatchDir> {
        let mut dirs = Vec::new();
        for (s, notified) in self.sources.iter().zip(&self.notified) {
            if !notified {
                continue;
            }
            dirs.extend(s.root.iter().map(|root| discover::WatchDir {
                path: root.clone(),
                recursive: true,
            }));
            dirs.extend(s.paths.iter().map(|p| discover::glob_watch(p)));
        }
        dirs
    }

    /// Whether inotify hints cover source `i` (`watch = "auto"` on a local
    /// file system): its files are then looked at on a hint, and by a slow
    /// sweep, instead of at every poll.
    pub(crate) fn notified(&self, i: usize) -> bool {
        self.notified.get(i).copied().unwrap_or(false)
    }

    /// How often source `i`'s files are polled.
    pub(crate) fn poll_interval(&self, i: usize) -> std::time::Duration {
        self.sources
            .get(i)
            .map_or(std::time::Duration::from_secs(1), |s| s.poll_interval)
    }

    /// The `[[source]]` tables.
    pub(crate) fn configs(&self) -> &[Source] {
        &self.sources
    }

    /// How many sources there are.
    pub(crate) fn len(&self) -> usize {
        self.sources.len()
    }

    /// The root of source `i`, if it has one (else it is a list of globs).
    pub(crate) fn root(&self, i: usize) -> Option<&Path> {
        self.sources.get(i)?.root.as_deref()
    }

    /// The file at `path`, listed under source `i`'s root: its key and rule,
    /// or `None` when it is gone, not a file, skipped by the preset or
    /// another shard's.
    pub(crate) fn found(&mut self, i: usize, path: PathBuf) -> Option<Found> {
        let meta = std::fs::metadata(&path).ok().filter(|m| m.is_file())?;
        let key = FileKey::of(&meta);
        let start_at = self.sources.get(i)?.start_at;
        let (rule, hostname) = self.rule_for(i, &path)?;
        Some(Found {
            source: i,
            path,
            key,
            rule,
            hostname,
            start_at,
        })
    }

    /// Lists every file of every source. A file matched by two sources is
    /// taken by the first.
    pub(crate) fn scan(&mut self) -> Scan {
        self.scan_where(|_| true)
    }

    /// Lists every file of the sources without a root (their globs are
    /// expanded again at every call).
    pub(crate) fn scan_globs(&mut self) -> Scan {
        self.scan_where(|s| s.root.is_none())
    }

    fn scan_where(&mut self, take: impl Fn(&Source) -> bool) -> Scan {
        let mut scan = Scan::default();
        let mut seen = std::collections::HashSet::new();
        for i in 0..self.sources.len() {
            if !take(&self.sources[i]) {
                continue;
            }
            let mut paths = Vec::new();
            let source = &self.sources[i];
            match &source.root {
                Some(root) => discover::walk_root(root, &mut paths, &mut scan.warnings),
                None => {
                    for pattern in &source.paths {
                        discover::expand_glob(pattern, &mut paths, &mut scan.warnings);
                    }
                }
            }
            for path in paths {
                // Gone since the walk, not a file, or skipped: `None`.
                if let Some(found) = self.found(i, path) {
                    if seen.insert(found.key) {
                        scan.files.push(found);
                    }
                }
            }
        }
        scan
    }

    /// Rotated copies under every root (svlogd `@….s`, logrotate `x.1`) and
    /// beside every glob's files: where a file rotated while the relay was
    /// down is found again.
    pub(crate) fn rotated_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        for s in &self.sources {
            match &s.root {
                Some(root) => discover::walk_rotated(root, &mut out, &mut warnings),
                None => {
                    for pattern in &s.paths {
                        let dir = discover::glob_base(pattern);
                        let Ok(entries) = std::fs::read_dir(&dir) else {
                            continue;
                        };
                        out.extend(entries.flatten().map(|e| e.path()).filter(|p| {
                            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                                discover::name_kind(n) == discover::NameKind::Rotated
                            })
                        }));
                    }
                }
            }
        }
        out
    }

    /// A label per source for metrics: its root, or its patterns.
    pub(crate) fn labels(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|s| match &s.root {
                Some(root) => root.display().to_string(),
                None => s.paths.join(","),
            })
            .collect()
    }

    /// The source index and rule of `path` under whichever source covers it
    /// (by root or glob).
    pub(crate) fn resolve_any(&mut self, path: &Path) -> Option<(usize, Resolved)> {
        let index = self.sources.iter().position(|s| match &s.root {
            Some(root) => path.starts_with(root),
            None => s
                .paths
                .iter()
                .any(|p| glob::Pattern::new(p).is_ok_and(|g| g.matches_path(path))),
        })?;
        Some((index, self.rule_for(index, path)?))
    }

    fn rule_for(&mut self, source: usize, path: &Path) -> Option<Resolved> {
        if let Some(cached) = self.cache.get(path) {
            return cached.clone();
        }
        let resolved = resolve(&self.sources[source], path, &self.hostname, self.shard);
        self.cache.insert(path.to_owned(), resolved.clone());
        resolved
    }
}

/// Whether inotify sees every write under `source`: `watch = "auto"` and
/// its directories on a local file system. A network file system's client
/// gets no event for another client's writes, so polling it is the only
/// way (a warning says so once per source).
fn inotify_sees_writes(source: &Source) -> bool {
    if source.watch == crate::relay::config::Watch::Poll {
        return false;
    }
    let dirs: Vec<PathBuf> = match &source.root {
        Some(root) => vec![root.clone()],
        None => source
            .paths
            .iter()
            .map(|p| discover::glob_base(p))
            .collect(),
    };
    for dir in dirs {
        if let Some(name) = crate::relay::sys::fs_type(&dir).and_then(remote_fs_name) {
            tracing::info!(path = %dir.display(), fs = name,
                "watch = \"auto\" polls this directory: inotify does not see other clients' writes on {name}");
            return false;
        }
    }
    true
}

/// The name of a network or FUSE file system by its statfs `f_type`
/// (magic numbers from the kernel's include/uapi/linux/magic.h and the
/// file systems' own sources).
fn remote_fs_name(f_type: i64) -> Option<&'static str> {
    Some(match f_type {
        0x6969 => "NFS",
        0x00c3_6400 => "CephFS",
        0xff53_4d42 => "CIFS",
        0xfe53_4d42 => "SMB2",
        0x517b => "SMB",
        0x6573_5546 => "FUSE",
        0x0102_1997 => "9P",
        0x0116_1970 => "GFS2",
        0x7461_636f => "OCFS2",
        0x5346_414f => "AFS",
        0x0bd0_0bd0 => "Lustre",
        _ => return None,
    })
}

/// The rule and HOSTNAME for `path` of `source`, or None when the preset
/// skips it or another shard owns it.
pub(crate) fn resolve(
    source: &Source,
    path: &Path,
    default_host: &Arc<str>,
    shard: Option<Shard>,
) -> Option<Resolved> {
    let owned =
        |key: &Path| shard.is_none_or(|s| shard::owns(s, key.as_os_str().as_encoded_bytes()));
    match (source.preset, &source.root) {
        (Some(Preset::Gitlab), Some(root)) => {
            let rel = path.strip_prefix(root).ok()?;
            let (host, rel) = if source.per_pod_dirs {
                let mut parts = rel.components();
                let pod = parts.next()?.as_os_str();
                let rest = parts.as_path();
                // A file directly under root is no pod's: skip it.
                if rest.as_os_str().is_empty() || !owned(Path::new(pod)) {
                    return None;
                }
                (Arc::from(pod.to_string_lossy().into_owned()), rest)
            } else {
                // Without pod directories, a directory is the unit: its
                // rotated copies stay with the replica that ships it.
                if !owned(rel.parent().unwrap_or(rel)) {
                    return None;
                }
                (Arc::clone(default_host), rel)
            };
            let rule = classify::gitlab_rule(rel)?;
            Some((Arc::new(rule), host))
        }
        _ => {
            if !owned(path.parent().unwrap_or(path)) {
                return None;
            }
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let rule = classify::plain_rule(
                source.app_name.as_deref().unwrap_or("-"),
                source.msgid.as_deref().unwrap_or(&stem),
                source.facility.unwrap_or(Facility::Local7),
                source.severity.unwrap_or(Severity::Informational),
                source.format.unwrap_or(LineFormat::Auto),
            );
            Some((Arc::new(rule), Arc::clone(default_host)))
        }
    }
}

/// The relay's own HOSTNAME: the config's, else `POD_NAME`, else `HOSTNAME`,
/// else the kernel's host name.
pub(crate) fn default_hostname(configured: Option<&str>) -> String {
    if let Some(h) = configured.filter(|h| !h.is_empty()) {
        return h.to_owned();
    }
    for var in ["POD_NAME", "HOSTNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_file_systems_are_named_and_local_ones_are_not() {
        assert_eq!(remote_fs_name(0x6969), Some("NFS"));
        assert_eq!(remote_fs_name(0x00c3_6400), Some("CephFS"));
        assert_eq!(remote_fs_name(0xEF53), None, "ext4");
        assert_eq!(remote_fs_name(0x0102_1994), None, "tmpfs");
    }

    #[test]
    fn configured_hostname_wins() {
        assert_eq!(default_hostname(Some("web-0")), "web-0");
    }
}
