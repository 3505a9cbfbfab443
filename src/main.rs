//! The `reaplog` binary: a thin dispatcher over the library.
//!
//! * `reaplog init [OPTIONS] -- CMD [ARGS…]` — PID 1 (see `reaplog::init`).
//! * `reaplog relay --config FILE` — the log relay (see `reaplog::relay`).
//! * Invoked as `tini` (argv[0]), it is `reaplog init`, so an image can swap
//!   `/usr/bin/tini` for reaplog and change nothing else.

use std::ffi::OsString;
use std::path::Path;

const USAGE: &str = "usage: reaplog init [OPTIONS] -- CMD [ARGS...]
       reaplog relay --config FILE [--check]
       reaplog relay --demo
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
        Some("relay") => reaplog::relay::cli::main(rest),
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
