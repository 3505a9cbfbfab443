//! Syslog's two numbers: the facility and the severity (RFC 5424 §6.2.1),
//! with the names rsyslog and the configuration use.

use std::fmt;
use std::str::FromStr;

/// Syslog facilities, RFC 5424 Table 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Facility {
    Kern = 0,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Ntp,
    Audit,
    Alert,
    Clock,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

/// Syslog severities, RFC 5424 Table 2. `Emergency` is the smallest (most
/// severe) in the ordering, as in the numeric codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Severity {
    Emergency = 0,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

/// Facility names in code order, the spelling rsyslog uses.
const FACILITY_NAMES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

const FACILITIES: [Facility; 24] = [
    Facility::Kern,
    Facility::User,
    Facility::Mail,
    Facility::Daemon,
    Facility::Auth,
    Facility::Syslog,
    Facility::Lpr,
    Facility::News,
    Facility::Uucp,
    Facility::Cron,
    Facility::Authpriv,
    Facility::Ftp,
    Facility::Ntp,
    Facility::Audit,
    Facility::Alert,
    Facility::Clock,
    Facility::Local0,
    Facility::Local1,
    Facility::Local2,
    Facility::Local3,
    Facility::Local4,
    Facility::Local5,
    Facility::Local6,
    Facility::Local7,
];

const SEVERITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

const SEVERITIES: [Severity; 8] = [
    Severity::Emergency,
    Severity::Alert,
    Severity::Critical,
    Severity::Error,
    Severity::Warning,
    Severity::Notice,
    Severity::Informational,
    Severity::Debug,
];

impl Facility {
    /// The numeric code, 0–23.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The facility with numeric code `code`, if any.
    pub fn from_code(code: u8) -> Option<Facility> {
        FACILITIES.get(usize::from(code)).copied()
    }

    /// The conventional name (`local0`, `authpriv`, …).
    pub fn name(self) -> &'static str {
        FACILITY_NAMES[usize::from(self.code())]
    }
}

impl Severity {
    /// The numeric code, 0–7.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The severity with numeric code `code`, if any.
    pub fn from_code(code: u8) -> Option<Severity> {
        SEVERITIES.get(usize::from(code)).copied()
    }

    /// The conventional short name (`err`, `info`, …).
    pub fn name(self) -> &'static str {
        SEVERITY_NAMES[usize::from(self.code())]
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Accepts the names `kern`, `user`, `mail`, `daemon`, `auth`, `syslog`,
/// `lpr`, `news`, `uucp`, `cron`, `authpriv`, `ftp`, `ntp`, `audit`, `alert`,
/// `clock`, `local0`–`local7` (any case), `security` (an old alias of
/// `auth`) and the codes 0–23.
impl FromStr for Facility {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let by_name = match lower.as_str() {
            "security" => Some(Facility::Auth),
            name => FACILITY_NAMES
                .iter()
                .position(|n| *n == name)
                .and_then(|i| FACILITIES.get(i).copied()),
        };
        by_name
            .or_else(|| lower.parse::<u8>().ok().and_then(Facility::from_code))
            .ok_or_else(|| {
                format!(
                    "unknown facility {s:?}: expected one of {} or a number 0-23",
                    FACILITY_NAMES.join(", ")
                )
            })
    }
}

/// Accepts `emerg`/`emergency`/`panic`, `alert`, `crit`/`critical`,
/// `err`/`error`, `warning`/`warn`, `notice`, `info`/`informational`,
/// `debug` (any case) and the codes 0–7.
impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let sev = match lower.as_str() {
            "emerg" | "emergency" | "panic" => Some(Severity::Emergency),
            "alert" => Some(Severity::Alert),
            "crit" | "critical" => Some(Severity::Critical),
            "err" | "error" => Some(Severity::Error),
            "warning" | "warn" => Some(Severity::Warning),
            "notice" => Some(Severity::Notice),
            "info" | "informational" => Some(Severity::Informational),
            "debug" => Some(Severity::Debug),
            n => n.parse::<u8>().ok().and_then(Severity::from_code),
        };
        sev.ok_or_else(|| {
            format!(
                "unknown severity {s:?}: expected one of emerg, alert, crit, err (error), \
                 warning (warn), notice, info, debug or a number 0-7"
            )
        })
    }
}

#[cfg(test)]
pub(crate) mod strategies {
    //! proptest strategies over every facility and severity.
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_facility() -> impl Strategy<Value = Facility> {
        (0u8..24).prop_map(|c| Facility::from_code(c).unwrap())
    }

    pub(crate) fn arb_severity() -> impl Strategy<Value = Severity> {
        (0u8..8).prop_map(|c| Severity::from_code(c).unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::strategies::{arb_facility, arb_severity};
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn facility_and_severity_names_round_trip(f in arb_facility(), s in arb_severity()) {
            prop_assert_eq!(f.name().parse::<Facility>(), Ok(f));
            prop_assert_eq!(f.code().to_string().parse::<Facility>(), Ok(f));
            prop_assert_eq!(s.name().to_uppercase().parse::<Severity>(), Ok(s));
            prop_assert_eq!(s.code().to_string().parse::<Severity>(), Ok(s));
        }
    }

    #[test]
    fn facility_and_severity_parse_errors_name_the_valid_choices() {
        let e = "local8".parse::<Facility>().unwrap_err();
        assert!(e.contains("local7") && e.contains("0-23"), "{e}");
        assert!("24".parse::<Facility>().is_err());
        let e = "verbose".parse::<Severity>().unwrap_err();
        assert!(e.contains("warning") && e.contains("0-7"), "{e}");
        assert_eq!("warn".parse::<Severity>(), Ok(Severity::Warning));
        assert_eq!("ERROR".parse::<Severity>(), Ok(Severity::Error));
        assert_eq!(" authpriv ".parse::<Facility>(), Ok(Facility::Authpriv));
    }
}
