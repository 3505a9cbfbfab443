//! `[redact]`, `[[drop]]` and `[structured_data]`: the TOML of line
//! processing (issue 14), and its compilation into
//! [`crate::relay::encode::process::Processing`]. Every error names the key.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::{env_lookup, expand_env, expanded, expanded_opt, parsed_opt};
use crate::relay::encode::process::drop::DropRule;
use crate::relay::encode::process::redact::Redactor;
use crate::relay::encode::process::sd::StaticSd;
use crate::relay::encode::process::Processing;
use crate::relay::encode::syslog::Severity;

/// `[redact]`: on by default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::relay) struct Redact {
    /// GitLab's token formats, credentials in URLs and credential headers.
    #[serde(default = "yes")]
    pub gitlab_tokens: bool,
    /// The user's regular expressions: the whole match, or group 1 if the
    /// pattern has groups, becomes `[REDACTED]`.
    #[serde(default)]
    pub patterns: Vec<String>,
}

impl Default for Redact {
    fn default() -> Self {
        Redact {
            gitlab_tokens: true,
            patterns: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// One `[[drop]]` rule: a line that matches every key given is not shipped.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::relay) struct Drop {
    /// The rule's label in `reaplog_lines_dropped_total`; default: its
    /// position (`"0"`, `"1"`, …).
    #[serde(default, deserialize_with = "expanded_opt")]
    pub name: Option<String>,
    /// Glob over the file's APP-NAME.
    #[serde(default, deserialize_with = "expanded_opt")]
    pub app_name: Option<String>,
    /// Glob over the file's MSGID.
    #[serde(default, deserialize_with = "expanded_opt")]
    pub msgid: Option<String>,
    /// Glob over the file's HOSTNAME (the pod).
    #[serde(default, deserialize_with = "expanded_opt")]
    pub hostname: Option<String>,
    /// Lines less severe than this severity.
    #[serde(default, deserialize_with = "parsed_opt")]
    pub below: Option<Severity>,
    /// Regular expression over MSG (before redaction).
    #[serde(default)]
    pub regex: Option<String>,
}

/// `[structured_data]`: one static SD-ELEMENT on every message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::relay) struct StructuredData {
    /// `NAME@PEN`.
    #[serde(deserialize_with = "expanded")]
    pub id: String,
    /// PARAM-NAME = PARAM-VALUE, `${ENV}` expanded; written in name order.
    #[serde(default, deserialize_with = "expanded_map")]
    pub params: BTreeMap<String, String>,
    /// Add `file="<path>"`, the path the line was read from.
    #[serde(default)]
    pub path: bool,
}

fn expanded_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, String>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            let v = expand_env(&v, env_lookup).map_err(|e| {
                serde::de::Error::custom(format!("structured_data.params.{k}: {e}"))
            })?;
            Ok((k, v))
        })
        .collect()
}

/// Compiles the three sections; the error names the key.
pub(super) fn compile(
    redact: &Redact,
    drops: &[Drop],
    sd: Option<&StructuredData>,
) -> Result<Processing, String> {
    let redact = Redactor::new(redact.gitlab_tokens, &redact.patterns)?;
    let drops = drops
        .iter()
        .enumerate()
        .map(|(i, d)| compile_drop(i, d))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, d) in drops.iter().enumerate() {
        if drops[..i].iter().any(|e| e.label == d.label) {
            return Err(format!(
                "drop[{i}].name {:?}: another rule has this name; names label the metric and must differ",
                d.label
            ));
        }
    }
    let sd = sd
        .map(|s| {
            let params = s
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            StaticSd::new(&s.id, params, s.path)
        })
        .transpose()?;
    Ok(Processing { redact, drops, sd })
}

fn compile_drop(i: usize, d: &Drop) -> Result<DropRule, String> {
    let glob = |key: &str, v: &Option<String>| {
        v.as_deref()
            .map(|p| glob::Pattern::new(p).map_err(|e| format!("drop[{i}].{key} {p:?}: {e}")))
            .transpose()
    };
    let regex = d
        .regex
        .as_deref()
        .map(|r| regex::bytes::Regex::new(r).map_err(|e| format!("drop[{i}].regex {r:?}: {e}")))
        .transpose()?;
    let rule = DropRule {
        label: d.name.clone().unwrap_or_else(|| i.to_string()),
        app_name: glob("app_name", &d.app_name)?,
        msgid: glob("msgid", &d.msgid)?,
        hostname: glob("hostname", &d.hostname)?,
        below: d.below,
        regex,
    };
    if !rule.has_keys() {
        return Err(format!(
            "drop[{i}]: gives none of app_name, msgid, hostname, below, regex; a rule without keys would drop every line"
        ));
    }
    if d.below == Some(Severity::Debug) {
        return Err(format!(
            "drop[{i}].below = \"debug\": no severity is below debug, so the rule would never drop a line"
        ));
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use crate::relay::config::Config;
    use crate::relay::encode::syslog::Severity;

    fn parse(extra: &str) -> Result<Config, String> {
        Config::parse(&format!(
            "state_dir = \"/var/lib/reaplog\"\n[[source]]\npaths = [\"/var/log/app/*.log\"]\napp_name = \"app\"\n[output]\ntype = \"stdout\"\n{extra}"
        ))
    }

    #[test]
    fn redaction_is_on_by_default_with_no_drops_and_no_structured_data() {
        let c = parse("").unwrap();
        assert!(c.redact.gitlab_tokens && c.redact.patterns.is_empty());
        assert!(c.drops.is_empty() && c.structured_data.is_none());
        assert!(c.processing.drops.is_empty() && c.processing.sd.is_none());
    }

    #[test]
    fn parses_all_three_sections() {
        std::env::set_var("REAPLOG_TEST_CLUSTER", "prod-eu");
        let c = parse(
            r#"
[redact]
gitlab_tokens = false
patterns = ['secret_key=(\w+)']

[[drop]]
name = "probes"
app_name = "nginx"
regex = 'GET /-/(readiness|liveness)'

[[drop]]
msgid = "*_json"
hostname = "gitlab-sidekiq-*"
below = "info"

[structured_data]
id = "gitlab@32473"
params = { cluster = "${REAPLOG_TEST_CLUSTER}", environment = "${REAPLOG_TEST_SURELY_UNSET_ENV:-production}" }
path = true
"#,
        )
        .unwrap();
        assert!(!c.redact.gitlab_tokens);
        assert_eq!(c.drops.len(), 2);
        assert_eq!(c.drops[1].below, Some(Severity::Informational));
        assert_eq!(c.processing.drop_labels(), ["probes", "1"]);
        let sd = c.structured_data.as_ref().unwrap();
        assert_eq!(sd.params["cluster"], "prod-eu");
        assert_eq!(sd.params["environment"], "production");
        assert!(sd.path);
    }

    #[test]
    fn config_errors_name_the_key() {
        for (extra, key) in [
            ("[[drop]]\nname = \"x\"", "drop[0]"),
            ("[[drop]]\nregex = \"(\"", "drop[0].regex"),
            ("[[drop]]\napp_name = \"[\"", "drop[0].app_name"),
            ("[[drop]]\nbelow = \"loud\"", "below"),
            ("[[drop]]\nbelow = \"debug\"", "drop[0].below"),
            ("[[drop]]\nbelow = \"info\"\nsevrity = 1", "sevrity"),
            (
                "[[drop]]\nname = \"a\"\nbelow = \"info\"\n[[drop]]\nname = \"a\"\nmsgid = \"x\"",
                "drop[1].name",
            ),
            ("[redact]\npatterns = [\"(\"]", "redact.patterns[0]"),
            ("[redact]\ngitlab_token = true", "gitlab_token"),
            ("[structured_data]\nid = \"gitlab\"", "structured_data.id"),
            (
                "[structured_data]\nid = \"g@1\"\nparams = { \"a b\" = \"x\" }",
                "structured_data.params",
            ),
            (
                "[structured_data]\nid = \"g@1\"\nparams = { c = \"${REAPLOG_TEST_SURELY_UNSET_ENV}\" }",
                "REAPLOG_TEST_SURELY_UNSET_ENV",
            ),
        ] {
            let err = parse(extra).unwrap_err();
            assert!(err.contains(key), "{extra:?}: {err}");
        }
    }
}
