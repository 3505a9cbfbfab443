//! The operator's monitoring kit in `k8s/overlays/relay-statefulset/`: the
//! alert rules (`prometheusrule.yaml`) and the Grafana dashboard
//! (`grafana-dashboard.json`), checked offline.
//!
//! * Every `reaplog_…` name either file mentions is one the relay writes:
//!   a string literal in the non-test code of `src/relay/metrics/`, so a
//!   renamed metric fails here instead of leaving a blank panel or an alert
//!   that can never fire.
//! * The rules' `spec` passes `promtool check rules`, and `promtool test
//!   rules` runs the cases of `tests/it/monitoring/rules_test.yaml` (when
//!   each alert must fire, and for which pod only).
//! * The dashboard is well formed (titles, ids, layout, the `${datasource}`
//!   variable on every panel and query), and each of its queries, with the
//!   Grafana variables replaced by sample values, passes `promtool check
//!   rules` as a recording rule: PromQL Grafana would reject at view time
//!   fails here.
//!
//! promtool comes from Debian's `prometheus` package. Without it the
//! promtool tests print `SKIPPED` and pass, unless `CI=true` (`.ci/run`
//! sets it), which makes a missing promtool a failure.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

const RULES: &str = "k8s/overlays/relay-statefulset/prometheusrule.yaml";
const DASHBOARD: &str = "k8s/overlays/relay-statefulset/grafana-dashboard.json";
const RULE_TESTS: &str = "tests/it/monitoring/rules_test.yaml";
/// Where the relay's metric names are written.
const METRICS_SRC: &str = "src/relay/metrics";
/// The datasource every panel and query must use: the dashboard's variable.
const DATASOURCE: &str = "${datasource}";
/// Grafana's grid is 24 columns wide.
const GRID_COLUMNS: u64 = 24;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------
// The tests.

/// The rule groups pass promtool, and it finds every alert the file names.
#[test]
fn alert_rules_pass_promtool_check_rules() {
    let Some(promtool) = promtool("alert_rules_pass_promtool_check_rules") else {
        return;
    };
    let text = read(RULES);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    fs::write(&file, rule_groups(&text).expect(RULES)).expect("write rules");
    let out = run(&promtool, &["check", "rules"], &file);
    let report = report(&out);
    assert!(out.status.success(), "{report}");
    let alerts = text.matches("- alert: ").count();
    assert!(alerts >= 6, "only {alerts} alerts in {RULES}");
    assert!(
        report.contains(&format!("SUCCESS: {alerts} rules found")),
        "{report}"
    );
}

/// `promtool test rules`: each alert fires at the time its case says, for
/// the pod that should, and not for the pod beside it that should not.
#[test]
fn alerts_fire_when_their_unit_cases_say() {
    let Some(promtool) = promtool("alerts_fire_when_their_unit_cases_say") else {
        return;
    };
    let out = test_rules(&promtool, &read(RULES));
    assert!(out.status.success(), "{}", report(&out));
}

/// The unit cases can fail: with ReaplogAllTargetsDown waiting 5 minutes
/// instead of 2, its case does, naming the alert.
#[test]
fn a_rule_that_waits_too_long_fails_its_unit_case() {
    let Some(promtool) = promtool("a_rule_that_waits_too_long_fails_its_unit_case") else {
        return;
    };
    let text = read(RULES);
    let anchor = "(reaplog_target_up) == 0\n          for: 2m";
    assert!(text.contains(anchor), "{RULES} no longer has {anchor:?}");
    let broken = text.replacen(anchor, "(reaplog_target_up) == 0\n          for: 5m", 1);
    let out = test_rules(&promtool, &broken);
    let report = report(&out);
    assert!(!out.status.success(), "the broken rule passed:\n{report}");
    assert!(report.contains("ReaplogAllTargetsDown"), "{report}");
}

#[test]
fn alert_rules_use_only_metrics_the_relay_exposes() {
    check_names(RULES, &read(RULES), &exposed_metrics()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn dashboard_is_well_formed_and_uses_only_metrics_the_relay_exposes() {
    check_dashboard(&read(DASHBOARD), &exposed_metrics()).unwrap_or_else(|e| panic!("{e}"));
}

/// Each dashboard query, made concrete, is valid PromQL to promtool.
#[test]
fn dashboard_queries_pass_promtool_check_rules() {
    let Some(promtool) = promtool("dashboard_queries_pass_promtool_check_rules") else {
        return;
    };
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect(DASHBOARD);
    let queries = dashboard_queries(&dashboard).unwrap_or_else(|e| panic!("{e}"));
    assert!(queries.len() >= 10, "only {} queries", queries.len());
    let out = check_as_recording_rules(&promtool, &queries);
    let report = report(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{report}"
    );
}

/// The PromQL check can fail: one unbalanced parenthesis among good
/// queries fails promtool.
#[test]
fn a_dashboard_query_with_a_syntax_error_fails_promtool() {
    let Some(promtool) = promtool("a_dashboard_query_with_a_syntax_error_fails_promtool") else {
        return;
    };
    let queries = vec![
        (
            "ok".to_owned(),
            "sum by (pod) (reaplog_files_open)".to_owned(),
        ),
        (
            "broken".to_owned(),
            "sum by (pod (reaplog_files_open)".to_owned(),
        ),
    ];
    let out = check_as_recording_rules(&promtool, &queries);
    assert!(!out.status.success(), "{}", report(&out));
}

/// The dashboard check can fail: each broken copy is rejected, naming
/// what is wrong.
#[test]
fn a_broken_dashboard_is_rejected() {
    let exposed = exposed_metrics();
    let good: Value = serde_json::from_str(&read(DASHBOARD)).expect(DASHBOARD);
    assert!(read(DASHBOARD).contains("reaplog_files_open{"));
    let renamed = read(DASHBOARD).replacen("reaplog_files_open{", "reaplog_files_opened{", 1);
    let cases: Vec<(&str, String, &str)> = vec![
        ("unknown metric", renamed, "reaplog_files_opened"),
        (
            "panel without datasource",
            edit_panel(&good, 2, |p| {
                if let Some(o) = p.as_object_mut() {
                    o.remove("datasource");
                }
            }),
            "datasource is not",
        ),
        (
            "duplicate panel id",
            edit_panel(&good, 3, |p| p["id"] = good["panels"][2]["id"].clone()),
            "is used twice",
        ),
        (
            "empty expr",
            edit_panel(&good, 2, |p| p["targets"][0]["expr"] = json!("")),
            "empty expr",
        ),
        (
            "unknown Grafana variable",
            edit_panel(&good, 2, |p| {
                p["targets"][0]["expr"] = json!("reaplog_ready{instance=\"$instance\"}")
            }),
            "$instance",
        ),
        (
            "panel outside the grid",
            edit_panel(&good, 2, |p| p["gridPos"]["x"] = json!(20)),
            "gridPos",
        ),
    ];
    for (what, text, expected) in cases {
        match check_dashboard(&text, &exposed) {
            Ok(()) => panic!("{what}: the broken dashboard passed"),
            Err(e) => assert!(e.contains(expected), "{what}: {expected:?} not in:\n{e}"),
        }
    }
}

#[test]
fn a_rule_naming_an_unknown_metric_is_rejected() {
    let broken = read(RULES).replacen("reaplog_ready ==", "reaplog_readiness ==", 1);
    let err = check_names(RULES, &broken, &exposed_metrics()).expect_err("passed");
    assert!(err.contains("reaplog_readiness"), "{err}");
}

/// Names count only in string literals of non-test code: not in comments,
/// not in a `format!` prefix, not in a test module.
#[test]
fn exposed_names_come_from_string_literals_of_non_test_code() {
    let src = r##"// reaplog_in_a_comment
/* reaplog_in_a_block */ const A: &str = "reaplog_a_total{{x=\"1\"}} {v}";
const Q: char = '"'; const E: char = '\''; const B: &str = r#"see reaplog_b_seconds"#;
let p = format!("reaplog_target_{}", x);
#[cfg(test)]
mod tests { const T: &str = "reaplog_only_in_a_test"; }
"##;
    let got = names_in_literals(src);
    let want: BTreeSet<String> = ["reaplog_a_total", "reaplog_b_seconds"]
        .map(String::from)
        .into();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------
// promtool.

/// promtool on PATH; `None` (the test is skipped) without it, unless
/// `CI=true`, where that is a failure.
fn promtool(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("promtool"))
            .find(|c| c.is_file())
    });
    if found.is_none() {
        let why = "promtool not found on PATH: install Debian's prometheus package";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: {why} (CI=true)"
        );
        eprintln!("SKIPPED {test}: {why}");
    }
    found
}

fn run(promtool: &Path, args: &[&str], file: &Path) -> Output {
    Command::new(promtool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", promtool.display()))
}

fn report(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `promtool test rules` with the cases of [`RULE_TESTS`] over the rules of
/// the PrometheusRule `text`, without their annotations: promtool compares
/// an alert's annotations whole, and the cases test when alerts fire, not
/// their wording (`check rules` validates the templates).
fn test_rules(promtool: &Path, text: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = rule_groups(text).expect(RULES);
    fs::write(dir.path().join("rules.yaml"), without_annotations(&rules)).expect("write");
    let cases = dir.path().join("rules_test.yaml");
    fs::write(&cases, read(RULE_TESTS)).expect("write");
    run(promtool, &["test", "rules"], &cases)
}

/// `promtool check rules` over `(name, expr)` pairs, each a recording rule.
/// The file is JSON, which is YAML too.
fn check_as_recording_rules(promtool: &Path, queries: &[(String, String)]) -> Output {
    let rules: Vec<Value> = queries
        .iter()
        .map(|(name, expr)| json!({ "record": name, "expr": expr }))
        .collect();
    let file = json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dashboard_rules.yaml");
    fs::write(&path, file.to_string()).expect("write");
    run(promtool, &["check", "rules"], &path)
}

// ---------------------------------------------------------------------------
// The rule file, as text (there is no YAML parser among the dev-dependencies).

/// The PrometheusRule's `spec` as a plain rule file: the lines after
/// `spec:`, which must all be indented by two spaces, with those removed.
fn rule_groups(text: &str) -> Result<String, String> {
    let (_, spec) = text
        .split_once("\nspec:\n")
        .ok_or("no top-level `spec:` line")?;
    let mut out = String::with_capacity(spec.len());
    for (i, line) in spec.lines().enumerate() {
        if line.trim().is_empty() {
            out.push('\n');
            continue;
        }
        let inner = line.strip_prefix("  ").ok_or(format!(
            "line {} after spec: is not indented: {line:?}",
            i + 1
        ))?;
        out.push_str(inner);
        out.push('\n');
    }
    if !out.starts_with("groups:") {
        return Err("spec does not start with groups:".into());
    }
    Ok(out)
}

/// `rules` without its `annotations:` blocks (the key and every line
/// indented deeper than it).
fn without_annotations(rules: &str) -> String {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out = String::with_capacity(rules.len());
    let mut block: Option<usize> = None;
    for line in rules.lines() {
        if let Some(depth) = block {
            if line.trim().is_empty() || indent(line) > depth {
                continue;
            }
            block = None;
        }
        if line.trim_start().starts_with("annotations:") {
            block = Some(indent(line));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------
// Metric names.

/// Every metric name the relay writes: the `reaplog_…` names in string
/// literals of the non-test code of each file in [`METRICS_SRC`].
fn exposed_metrics() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(METRICS_SRC);
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("read source");
            names.extend(names_in_literals(&text));
        }
    }
    assert!(names.len() >= 20, "only {names:?} in {METRICS_SRC}");
    names
}

/// The `reaplog_…` names in the string literals of `src` before its first
/// `#[cfg(test)]`.
fn names_in_literals(src: &str) -> BTreeSet<String> {
    let code = src.split("#[cfg(test)]").next().unwrap_or_default();
    string_literals(code)
        .iter()
        .flat_map(|s| metric_names(s))
        .collect()
}

/// Every `reaplog_[a-z0-9_]+` in `text`; a name ending in `_` (a prefix
/// that `format!` completes) is not one.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("reaplog_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let preceded_by_word = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !preceded_by_word && !tail[..end].ends_with('_') {
            out.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out
}

/// The bodies of the string literals (plain, byte and raw) of Rust source,
/// skipping comments and char literals; escapes are left as written.
fn string_literals(src: &str) -> Vec<String> {
    let chars: Vec<char> = src.chars().collect();
    let at = |j: usize| chars.get(j).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match (chars[i], at(i + 1)) {
            ('/', '/') => i = find_from(&chars, i, "\n"),
            ('/', '*') => i = find_from(&chars, i + 2, "*/") + 2,
            // '\n', '\'', '\u{..}': the quote after the escaped char.
            ('\'', '\\') => i = find_from(&chars, i + 3, "'") + 1,
            ('\'', _) if at(i + 2) == '\'' => i += 3,
            ('"', _) => i = plain_string(&chars, i + 1, &mut out),
            ('r', '"' | '#') if raw_prefix_ok(at(i.wrapping_sub(1))) => {
                i = raw_string(&chars, i + 1, &mut out)
            }
            _ => i += 1,
        }
    }
    out
}

/// `r` after this char starts a raw string: nothing of an identifier
/// before it, or the `b` of `br"…"`.
fn raw_prefix_ok(before: char) -> bool {
    before == 'b' || !(before.is_alphanumeric() || before == '_')
}

/// Index of the next `pat` at or after `from` (the end if there is none).
fn find_from(chars: &[char], from: usize, pat: &str) -> usize {
    let pat: Vec<char> = pat.chars().collect();
    (from..chars.len())
        .find(|&j| chars[j..].starts_with(&pat))
        .unwrap_or(chars.len())
}

/// Reads a `"…"` body starting at `i`; returns the index after it.
fn plain_string(chars: &[char], mut i: usize, out: &mut Vec<String>) -> usize {
    let mut body = String::new();
    while i < chars.len() && chars[i] != '"' {
        if chars[i] == '\\' {
            body.push(chars[i]);
            i += 1;
        }
        if let Some(c) = chars.get(i) {
            body.push(*c);
        }
        i += 1;
    }
    out.push(body);
    i + 1
}

/// Reads a raw string whose `#`s (if any) start at `i`; returns the index
/// after it. `r` followed by `#` but no `"` is an identifier, not a string.
fn raw_string(chars: &[char], i: usize, out: &mut Vec<String>) -> usize {
    let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
    if chars.get(i + hashes) != Some(&'"') {
        return i;
    }
    let close: String = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    let start = i + hashes + 1;
    let end = find_from(chars, start, &close);
    out.push(chars[start..end].iter().collect());
    end + close.len()
}

/// Every `reaplog_…` name in `text` (exprs, descriptions, comments alike)
/// must be exposed.
fn check_names(file: &str, text: &str, exposed: &BTreeSet<String>) -> Result<(), String> {
    let unknown: Vec<String> = metric_names(text)
        .into_iter()
        .filter(|n| !exposed.contains(n))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{file} names metrics {METRICS_SRC} does not write: {}",
        unknown.join(", ")
    ))
}

// ---------------------------------------------------------------------------
// The dashboard.

/// Every problem of the dashboard JSON `text`, or `Ok`.
fn check_dashboard(text: &str, exposed: &BTreeSet<String>) -> Result<(), String> {
    let dashboard: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut problems = Vec::new();
    check_templating(&dashboard, &mut problems);
    let panels = all_panels(&dashboard);
    if panels.is_empty() {
        problems.push("no panels".to_owned());
    }
    let mut ids = HashSet::new();
    for p in &panels {
        let what = format!("panel {} ({})", p["id"], p["title"]);
        if !ids.insert(p["id"].to_string()) || !p["id"].is_u64() {
            problems.push(format!("{what}: id is missing or is used twice"));
        }
        check_panel(&what, p, &mut problems);
    }
    check_layout(&panels, &mut problems);
    if let Err(e) = dashboard_queries(&dashboard) {
        problems.push(e);
    }
    if let Err(e) = check_names(DASHBOARD, text, exposed) {
        problems.push(e);
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(problems.join("\n"))
}

/// The panels, those inside rows included.
fn all_panels(dashboard: &Value) -> Vec<&Value> {
    let top = dashboard["panels"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    top.iter()
        .flat_map(|p| {
            let inner = p["panels"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            std::iter::once(p).chain(inner)
        })
        .collect()
}

fn is_row(panel: &Value) -> bool {
    panel["type"] == "row"
}

/// A title and a place on the grid; a panel that is not a row also the
/// `${datasource}` datasource and queries that use it.
fn check_panel(what: &str, p: &Value, problems: &mut Vec<String>) {
    if p["title"].as_str().is_none_or(|t| t.trim().is_empty()) {
        problems.push(format!("{what}: no title"));
    }
    if grid(p).is_none() {
        problems.push(format!("{what}: gridPos is missing or outside the grid"));
    }
    if is_row(p) {
        return;
    }
    if p["datasource"]["uid"] != DATASOURCE {
        problems.push(format!("{what}: datasource is not {DATASOURCE}"));
    }
    let targets = p["targets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if targets.is_empty() {
        problems.push(format!("{what}: no targets"));
    }
    let mut ref_ids = HashSet::new();
    for t in targets {
        if t["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
            problems.push(format!("{what}: target {}: empty expr", t["refId"]));
        }
        if t["datasource"]["uid"] != DATASOURCE {
            problems.push(format!(
                "{what}: target {}: datasource is not {DATASOURCE}",
                t["refId"]
            ));
        }
        if !ref_ids.insert(t["refId"].to_string()) {
            problems.push(format!("{what}: refId {} is used twice", t["refId"]));
        }
    }
}

/// `(x, y, w, h)` of a panel, if it has one that fits the grid.
fn grid(p: &Value) -> Option<Cells> {
    let g = &p["gridPos"];
    let (x, y, w, h) = (
        g["x"].as_u64()?,
        g["y"].as_u64()?,
        g["w"].as_u64()?,
        g["h"].as_u64()?,
    );
    (w > 0 && h > 0 && x + w <= GRID_COLUMNS).then_some((x, y, w, h))
}

/// No two panels on the same cells.
fn check_layout(panels: &[&Value], problems: &mut Vec<String>) {
    let placed: Vec<(&Value, Cells)> = panels.iter().filter_map(|p| Some((*p, grid(p)?))).collect();
    for (i, (a, cells_a)) in placed.iter().enumerate() {
        for (b, cells_b) in &placed[i + 1..] {
            if overlap(*cells_a, *cells_b) {
                problems.push(format!(
                    "panels {} and {} overlap on the grid",
                    a["title"], b["title"]
                ));
            }
        }
    }
}

/// `(x, y, w, h)` on Grafana's grid.
type Cells = (u64, u64, u64, u64);

fn overlap((ax, ay, aw, ah): Cells, (bx, by, bw, bh): Cells) -> bool {
    ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah
}

/// The variables: `datasource` (Prometheus), and `namespace` and `pod`
/// from `label_values` over that datasource.
fn check_templating(dashboard: &Value, problems: &mut Vec<String>) {
    let vars = dashboard["templating"]["list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let var = |name: &str| vars.iter().find(|v| v["name"] == name);
    match var("datasource") {
        Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
        _ => problems.push("no datasource variable of type prometheus".to_owned()),
    }
    for name in ["namespace", "pod"] {
        let ok = var(name).is_some_and(|v| {
            v["datasource"]["uid"] == DATASOURCE
                && v["query"]
                    .as_str()
                    .is_some_and(|q| q.starts_with("label_values("))
        });
        if !ok {
            problems.push(format!(
                "no {name} variable from label_values on {DATASOURCE}"
            ));
        }
    }
}

/// Every query of the dashboard as `(recording rule name, concrete expr)`;
/// an error if a query uses a variable [`concrete`] does not know.
fn dashboard_queries(dashboard: &Value) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for p in all_panels(dashboard) {
        let targets = p["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_default();
            let name = format!(
                "dashboard:panel_{}:{}",
                p["id"],
                t["refId"].as_str().unwrap_or("x")
            );
            let concrete = concrete(expr).map_err(|v| {
                format!(
                    "panel {} ({}): unknown variable {v} in {expr}",
                    p["id"], p["title"]
                )
            })?;
            out.push((name, concrete));
        }
    }
    Ok(out)
}

/// `expr` with the Grafana variables the dashboard may use replaced by
/// sample values; `Err(variable)` for any other `$…`.
fn concrete(expr: &str) -> Result<String, String> {
    const SAMPLES: [(&str, &str); 7] = [
        ("$__rate_interval", "2m"),
        ("$__interval", "30s"),
        ("$__range", "6h"),
        ("${namespace}", "gitlab"),
        ("$namespace", "gitlab"),
        ("${pod}", "reaplog-relay-0"),
        ("$pod", "reaplog-relay-0"),
    ];
    let done = SAMPLES
        .iter()
        .fold(expr.to_owned(), |e, (var, value)| e.replace(var, value));
    match done.find('$') {
        None => Ok(done),
        Some(at) => {
            let rest = &done[at + 1..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || "_{}".contains(c)))
                .unwrap_or(rest.len());
            Err(format!("${}", &rest[..end]))
        }
    }
}

/// A copy of `dashboard` with panel `index` (of the top-level list) edited.
fn edit_panel(dashboard: &Value, index: usize, edit: impl FnOnce(&mut Value)) -> String {
    let mut copy = dashboard.clone();
    edit(&mut copy["panels"][index]);
    copy.to_string()
}
