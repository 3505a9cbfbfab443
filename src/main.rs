//! The `reaplog` binary: a thin dispatcher over the library.
//!
//! * `reaplog init [OPTIONS] -- CMD [ARGS…]` — PID 1 (see `reaplog::init`).
//! * `reaplog relay --config FILE` — the log relay (see `reaplog::relay`).
//! * `reaplog install DEST` — copies this binary to DEST (an initContainer
//!   from the FROM-scratch image has no `cp`: see k8s/).
//! * Invoked as `tini` (argv[0]), it is `reaplog init`, so an image can swap
//!   `/usr/bin/tini` for reaplog and change nothing else.

use std::ffi::OsString;
use std::path::Path;

const USAGE: &str = "usage: reaplog init [OPTIONS] -- CMD [ARGS...]
       reaplog relay --config FILE [--check]
       reaplog relay --demo
       reaplog install DEST
       reaplog --version";

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    std::process::exit(dispatch(&argv0, rest));
}

fn dispatch(argv0: &OsString, mut rest: Vec<OsString>) -> i32 {
    let invoked_as = Path::new(argv0).file_name().unwrap_or_default();
    if invoked_as == "tini" || invoked_as == "tini-static" {
        return reaplog::init::main(rest);
    }
    if rest.is_empty() {
        eprintln!("{USAGE}");
        return 2;
    }
    let sub = rest.remove(0);
    match sub.to_str() {
        Some("init") => reaplog::init::main(rest),
        Some("relay") => reaplog::relay::main(rest),
        Some("install") => match rest.as_slice() {
            [flag] if flag == "--help" || flag == "-h" => {
                println!("usage: reaplog install DEST   (copies this binary to DEST, mode 0555)");
                0
            }
            // A DEST that looks like an option is a mistake, not a file name.
            [dest] if !dest.to_string_lossy().starts_with('-') => match install(Path::new(dest)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("reaplog install: {}: {e}", Path::new(dest).display());
                    1
                }
            },
            _ => {
                eprintln!("usage: reaplog install DEST");
                2
            }
        },
        Some("--version" | "-V") => {
            println!("reaplog {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("reaplog: unknown command {sub:?}\n{USAGE}");
            2
        }
    }
}

/// Copies the running binary to `dest` (mode 0555) through a temporary file
/// in the same directory and a rename, so a reader never sees half a binary.
fn install(dest: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let exe = std::fs::read("/proc/self/exe")?;
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, exe)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o555))?;
    std::fs::rename(&tmp, dest)
}
