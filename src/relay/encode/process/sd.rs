//! `[structured_data]`: one static SD-ELEMENT on every message, with the
//! file's path as a parameter if asked.
//!
//! The names are checked here, once, against RFC 5424 §6.3 (the encoder
//! would otherwise quietly replace what it cannot write): an SD-ID or
//! PARAM-NAME is 1 to 32 printable US-ASCII characters other than `=`,
//! SP, `]` and `"`; an SD-ID is `NAME@PEN` (§6.3.2: IDs without `@` are
//! reserved for IANA), the PEN being digits, optionally dotted. Values may
//! be any UTF-8; the encoder escapes `"`, `\` and `]` in them (§6.3.3).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::Path;

use crate::relay::encode::rfc5424::SdElement;

/// The parameter that carries the file's path when `path = true`.
pub(crate) const PATH_PARAM: &str = "file";

/// The static element, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticSd {
    id: String,
    /// In the order they are written.
    params: Vec<(String, String)>,
    /// Add `file="<path>"`.
    path: bool,
}

impl StaticSd {
    /// Checks `id` and the parameter names; the error says which and why.
    pub fn new(id: &str, params: Vec<(String, String)>, path: bool) -> Result<StaticSd, String> {
        check_sd_id(id)?;
        for (name, _) in &params {
            check_sd_name(name).map_err(|e| format!("structured_data.params: {e}"))?;
            if path && name == PATH_PARAM {
                return Err(format!(
                    "structured_data.params.{PATH_PARAM}: with path = true the relay writes {PATH_PARAM} itself"
                ));
            }
        }
        Ok(StaticSd {
            id: id.to_owned(),
            params,
            path,
        })
    }

    /// The element for lines of the file at `path`.
    pub fn element(&self, path: &Path) -> SdElement {
        let mut params = self.params.clone();
        if self.path {
            params.push((PATH_PARAM.to_owned(), path.to_string_lossy().into_owned()));
        }
        SdElement {
            id: self.id.clone(),
            params,
        }
    }
}

/// An SD-NAME: 1 to 32 printable US-ASCII characters other than `=`, SP,
/// `]` and `"` (RFC 5424 §6.3.2, §6.3.3).
fn check_sd_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 32 {
        return Err(format!("{name:?}: must be 1 to 32 characters"));
    }
    match name
        .bytes()
        .find(|&b| !(33..=126).contains(&b) || matches!(b, b'=' | b']' | b'"'))
    {
        Some(b) => Err(format!(
            "{name:?}: {:?} is not allowed (printable US-ASCII only, no '=', space, ']' or '\"')",
            char::from(b)
        )),
        None => Ok(()),
    }
}

/// An SD-ID of a private element: `NAME@PEN`.
fn check_sd_id(id: &str) -> Result<(), String> {
    check_sd_name(id).map_err(|e| format!("structured_data.id {e}"))?;
    let Some((name, pen)) = id.split_once('@') else {
        return Err(format!(
            "structured_data.id {id:?}: must be NAME@PEN (an IANA private enterprise number, e.g. gitlab@32473; IDs without @ are reserved, RFC 5424 §6.3.2)"
        ));
    };
    let pen_ok = pen
        .split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if name.is_empty() || !pen_ok {
        return Err(format!(
            "structured_data.id {id:?}: must be NAME@PEN, a name and a number (digits, optionally dotted) after one @"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sd(id: &str, params: &[(&str, &str)], path: bool) -> Result<StaticSd, String> {
        let params = params
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        StaticSd::new(id, params, path)
    }

    #[test]
    fn accepts_private_ids_and_plain_names() {
        assert!(sd("gitlab@32473", &[("cluster", "c1")], true).is_ok());
        assert!(sd("x@1.2.3", &[], false).is_ok());
        assert!(sd(&format!("{}@1", "a".repeat(30)), &[], false).is_ok());
    }

    #[test]
    fn rejects_ids_that_rfc_5424_does_not_allow() {
        for bad in [
            "",
            "gitlab",
            "gitlab@",
            "@32473",
            "gitlab@pen",
            "gitlab@1..2",
            "git lab@1",
            "git=lab@1",
            "git]lab@1",
            "git\"lab@1",
            "gitlab@1@2",
            "zürich@1",
        ] {
            let err = sd(bad, &[], false).unwrap_err();
            assert!(err.contains("structured_data.id"), "{bad:?}: {err}");
        }
        let long = format!("{}@32473", "a".repeat(27));
        assert!(sd(&long, &[], false).is_err(), "33 characters");
    }

    #[test]
    fn rejects_bad_param_names_and_a_clash_with_the_path() {
        for bad in ["", "a b", "a=b", "a]", "a\"", &"n".repeat(33)] {
            let err = sd("g@1", &[(bad, "v")], false).unwrap_err();
            assert!(err.contains("structured_data.params"), "{bad:?}: {err}");
        }
        let err = sd("g@1", &[("file", "v")], true).unwrap_err();
        assert!(err.contains("path = true"), "{err}");
        assert!(sd("g@1", &[("file", "v")], false).is_ok());
    }

    #[test]
    fn element_adds_the_path_last() {
        let s = sd("g@1", &[("cluster", "c\"1]")], true).unwrap();
        let e = s.element(Path::new("/var/log/gitlab/w-0/production_json.log"));
        assert_eq!(e.id, "g@1");
        assert_eq!(
            e.params,
            [
                ("cluster".to_string(), "c\"1]".to_string()),
                (
                    "file".to_string(),
                    "/var/log/gitlab/w-0/production_json.log".to_string()
                )
            ]
        );
    }
}
