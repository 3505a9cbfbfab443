//! The documentation's links and cited paths point at files that exist.
//!
//! The README was split into docs/ and source files moved between folders;
//! a link or a comment that names a file by its old place is the first
//! thing to go stale, and nothing else notices. These tests read the files
//! themselves (std only, no markdown crate) and report every dead reference
//! as `file:line: problem: cited`.
//!
//! What is checked:
//!
//! * Markdown (the top-level `*.md`, docs/, benches/ and every `*.md` under
//!   k8s/): a relative link `[text](path)` or `[text](path#anchor)`, and a
//!   reference definition `[label]: path`, must name an existing file or
//!   directory, relative to the markdown file. An anchor into a markdown
//!   file (or `#anchor` alone, into the same file) must be one of that
//!   file's headings, slugged the way GitHub does. Anchors into other files
//!   (`#L10`) are not checked. http(s), other `scheme://` links and
//!   `mailto:` are skipped.
//! * Cited repository paths, relative to the repository root: each word of
//!   a markdown code span, and each word of a Rust comment (`//`, `//!`,
//!   `///`, `/* */`) in src/, tests/ and benches/, that starts with one of
//!   [`PREFIXES`] or is a top-level name (`README*.md`, any `*.md`,
//!   `Containerfile`, `Cargo.toml`).
//!
//! Not checked: fenced code blocks (they show commands and layouts, some of
//! them future ones), words with a glob (`*`) or a placeholder (`<`, `{`,
//! `$`, `…`, `...`), and a `:LINE` or `#anchor` suffix of a cited path.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Folders whose paths count as citations of repository files.
const PREFIXES: [&str; 8] = [
    "src/",
    "tests/",
    "benches/",
    "docs/",
    "k8s/",
    "examples/",
    "fuzz/",
    ".ci/",
];

/// One dead reference.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    /// The citing file, relative to the repository root.
    file: String,
    /// 1-based line of the citation.
    line: usize,
    /// What is wrong.
    problem: &'static str,
    /// The link target or cited path as written.
    cited: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.problem, self.cited
        )
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn markdown_links_and_cited_paths_resolve() {
    let root = repo_root();
    let files = markdown_files(&root);
    assert!(
        files.iter().any(|f| f == "README.md"),
        "README.md not found under {}: wrong root?",
        root.display()
    );
    let findings: Vec<Finding> = files
        .iter()
        .flat_map(|rel| check_markdown(&root, rel, &read(&root, rel)))
        .collect();
    assert_none(&findings, "markdown");
}

#[test]
fn paths_cited_in_rust_comments_exist() {
    let root = repo_root();
    let files = rust_files(&root);
    assert!(
        files.iter().any(|f| f == "src/lib.rs"),
        "src/lib.rs not found under {}: wrong root?",
        root.display()
    );
    let findings: Vec<Finding> = files
        .iter()
        .flat_map(|rel| check_rust(&root, rel, &read(&root, rel)))
        .collect();
    assert_none(&findings, "Rust comments");
}

/// The checker can fail: a synthetic page with one dead link, one dead
/// anchor and one dead citation gets exactly those three findings, with
/// their lines, and nothing for the references that do resolve.
#[test]
fn dead_links_anchors_and_citations_in_markdown_are_reported() {
    let page = "\
# A page

[fine](../Cargo.toml) and [here](#a-page) and [web](https://example.org/x.md)
[gone](no-such-page.md) sits on line 4
[bad anchor](#no-such-heading)
A cited file: `src/no_such_module.rs`, and a real one: `src/lib.rs`.
";
    let found = check_markdown(&repo_root(), "docs/synthetic.md", page);
    let got: Vec<(usize, &str)> = found.iter().map(|f| (f.line, f.cited.as_str())).collect();
    assert_eq!(
        got,
        [
            (4, "no-such-page.md"),
            (5, "#no-such-heading"),
            (6, "src/no_such_module.rs"),
        ],
        "{found:#?}"
    );
    assert_eq!(
        found[0].to_string(),
        "docs/synthetic.md:4: link target does not exist: no-such-page.md"
    );
}

/// The same for Rust: a dead path in a doc comment is reported with its
/// line; one inside a string literal, or a real one, is not.
#[test]
fn dead_paths_in_rust_comments_are_reported_and_strings_are_not() {
    let source = r##"//! Crate docs cite src/lib.rs, which exists.
/// See README.gone.md for the table.
fn f() -> &'static str {
    let c = '"'; // a char literal holding a quote does not open a string
    let _ = c;
    "not a comment: // tests/in_a_string.rs"
}
/* a block comment citing benches/none.rs */
const RAW: &str = r#"// docs/in_a_raw_string.md"#;
"##;
    let found = check_rust(&repo_root(), "src/synthetic.rs", source);
    let got: Vec<(usize, &str)> = found.iter().map(|f| (f.line, f.cited.as_str())).collect();
    assert_eq!(
        got,
        [(2, "README.gone.md"), (8, "benches/none.rs")],
        "{found:#?}"
    );
}

#[test]
fn urls_globs_placeholders_and_fenced_code_are_not_checked() {
    let page = "\
Globs and placeholders: `src/*.rs`, `k8s/overlays/<name>/`, `src/relay/{a,b}.rs`,
`tests/…`, `docs/...`, `$TMPDIR/x`; a line suffix: `src/lib.rs:12`.
[mail](mailto:someone@example.org) [ftp](ftp://example.org/none.md)
```
src/does/not/exist.rs  [dead](nowhere.md)
```
~~~text
`tests/also_not_checked.rs`
~~~
";
    let found = check_markdown(&repo_root(), "README.md", page);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn headings_get_github_anchors() {
    let text = "# `reaplog init`: PID 1\n## Delivery, and memory\n## Delivery, and memory\n\
                ```\n# not a heading\n```\n### RFC 5424 / 5425: what's on the wire\n";
    let anchors = anchors(text);
    for a in [
        "reaplog-init-pid-1",
        "delivery-and-memory",
        "delivery-and-memory-1",
        "rfc-5424--5425-whats-on-the-wire",
    ] {
        assert!(anchors.contains(a), "{a} not in {anchors:?}");
    }
    assert!(!anchors.contains("not-a-heading"), "{anchors:?}");
}

fn assert_none(findings: &[Finding], what: &str) {
    if !findings.is_empty() {
        let list: Vec<String> = findings.iter().map(Finding::to_string).collect();
        panic!(
            "{} dead reference(s) in {what}:\n{}",
            findings.len(),
            list.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// Which files are read.

fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Top-level `*.md`, `docs/*.md`, `benches/*.md`, `k8s/**/*.md`.
fn markdown_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["", "docs", "benches"] {
        list(root, dir, false, "md", &mut out);
    }
    list(root, "k8s", true, "md", &mut out);
    out
}

/// `*.rs` under src/, tests/ and benches/.
fn rust_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["src", "tests", "benches"] {
        list(root, dir, true, "rs", &mut out);
    }
    out
}

/// Files of `dir` (relative to `root`) ending in `.ext`, sorted, as paths
/// relative to `root`; hidden entries and `target` are skipped.
fn list(root: &Path, dir: &str, recursive: bool, ext: &str, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(root.join(dir)) else {
        return; // an optional folder that is absent
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && n != "target")
        .collect();
    names.sort();
    for name in names {
        let rel = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        let path = root.join(&rel);
        if path.is_dir() {
            if recursive {
                list(root, &rel, true, ext, out);
            }
        } else if name.ends_with(&format!(".{ext}")) {
            out.push(rel);
        }
    }
}

// ---------------------------------------------------------------------------
// Markdown.

/// Every dead link, anchor and cited path of one markdown file `rel`
/// (relative to `root`) whose text is `text`.
fn check_markdown(root: &Path, rel: &str, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let here = Path::new(rel).parent().unwrap_or(Path::new(""));
    let own_anchors = anchors(text);
    for (line, content) in outside_fences(text) {
        let (spans, prose) = code_spans(content);
        for span in &spans {
            for word in words(span) {
                if let Some(path) = cited_path(word) {
                    if !root.join(path).exists() {
                        out.push(finding(rel, line, "cited path does not exist", path));
                    }
                }
            }
        }
        for target in link_targets(&prose) {
            if let Some(problem) = dead_link(root, here, &own_anchors, &target) {
                out.push(finding(rel, line, problem, &target));
            }
        }
    }
    out
}

fn finding(file: &str, line: usize, problem: &'static str, cited: &str) -> Finding {
    Finding {
        file: file.to_owned(),
        line,
        problem,
        cited: cited.to_owned(),
    }
}

/// `(line number, line)` for every line outside fenced code blocks.
fn outside_fences(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    // The open fence: its character and length (a fence closes with at
    // least as many of the same character).
    let mut fence: Option<(char, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match (fence, marker) {
            (None, Some(c)) if run >= 3 => fence = Some((c, run)),
            (None, _) => out.push((i + 1, line)),
            (Some((c, n)), Some(m)) if m == c && run >= n && trimmed[run..].trim().is_empty() => {
                fence = None
            }
            (Some(_), _) => {}
        }
    }
    out
}

/// The code spans of one line, and the line with them blanked out (so a
/// link shown as code is not taken for a link).
fn code_spans(line: &str) -> (Vec<String>, String) {
    let bytes = line.as_bytes();
    let mut spans = Vec::new();
    let mut prose = String::with_capacity(line.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            let ch = line[i..].chars().next().unwrap_or(' ');
            prose.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let open = run_of_backticks(bytes, i);
        match find_closing(bytes, i + open, open) {
            Some(close) => {
                spans.push(line[i + open..close].to_owned());
                prose.push(' ');
                i = close + open;
            }
            None => {
                // Not a span: the backticks are literal.
                prose.push_str(&line[i..i + open]);
                i += open;
            }
        }
    }
    (spans, prose)
}

fn run_of_backticks(bytes: &[u8], at: usize) -> usize {
    bytes[at..].iter().take_while(|b| **b == b'`').count()
}

/// Start of the next run of exactly `n` backticks at or after `from`.
fn find_closing(bytes: &[u8], from: usize, n: usize) -> Option<usize> {
    let mut j = from;
    while j < bytes.len() {
        if bytes[j] == b'`' {
            let run = run_of_backticks(bytes, j);
            if run == n {
                return Some(j);
            }
            j += run;
        } else {
            j += 1;
        }
    }
    None
}

/// Targets of inline links `[text](target "title")` and of reference
/// definitions `[label]: target`.
fn link_targets(prose: &str) -> Vec<String> {
    let mut out = Vec::new();
    let trimmed = prose.trim_start();
    if trimmed.starts_with('[') {
        if let Some(end) = trimmed.find("]:") {
            if let Some(target) = trimmed[end + 2..].split_whitespace().next() {
                out.push(strip_angles(target).to_owned());
            }
        }
    }
    let mut rest = prose;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = closing_paren(after).unwrap_or(after.len());
        let inside = after[..end].trim();
        let target = if let Some(angled) = inside.strip_prefix('<') {
            angled.split('>').next().unwrap_or_default()
        } else {
            inside.split_whitespace().next().unwrap_or_default()
        };
        if !target.is_empty() {
            out.push(target.to_owned());
        }
        rest = &after[end..];
    }
    out
}

fn strip_angles(s: &str) -> &str {
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
}

/// Index of the `)` that closes a link target (parentheses may nest).
fn closing_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Why `target`, linked from a file in `here`, is dead; `None` if it is
/// fine or not ours to check.
fn dead_link(
    root: &Path,
    here: &Path,
    own_anchors: &HashSet<String>,
    target: &str,
) -> Option<&'static str> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    if path.is_empty() {
        let anchor = anchor.unwrap_or_default();
        return (!own_anchors.contains(anchor)).then_some("no heading for this anchor");
    }
    let file = root.join(normalize(&here.join(path)));
    if !file.exists() {
        return Some("link target does not exist");
    }
    match anchor {
        Some(a) if path.ends_with(".md") && file.is_file() => {
            let text = fs::read_to_string(&file).unwrap_or_default();
            (!anchors(&text).contains(a)).then_some("no heading for this anchor")
        }
        _ => None,
    }
}

/// `path` with `.` and `dir/..` folded away, without asking the file
/// system (so a link from a folder that does not exist still resolves as
/// GitHub resolves it).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The anchors GitHub gives a markdown file's ATX headings: lower case,
/// letters, digits, `-` and `_` kept, spaces to `-`, everything else
/// dropped; a repeated heading gets `-1`, `-2`, ….
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for (_, line) in outside_fences(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let slug = slug(line[hashes..].trim());
        let mut candidate = slug.clone();
        let mut n = 0;
        while seen.contains(&candidate) {
            n += 1;
            candidate = format!("{slug}-{n}");
        }
        seen.insert(candidate);
    }
    seen
}

fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Rust comments.

/// Every dead path cited in the comments of one Rust file.
fn check_rust(root: &Path, rel: &str, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (line, comment) in comments(text) {
        for word in words(&comment) {
            if let Some(path) = cited_path(word) {
                if !root.join(path).exists() {
                    out.push(finding(rel, line, "cited path does not exist", path));
                }
            }
        }
    }
    out
}

/// `(line, text)` of every comment line of Rust source: line comments
/// (`//`, `///`, `//!`) and each line of a block comment, found with a small
/// lexer that skips string, raw string and char literals.
fn comments(src: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |j: usize| chars.get(j).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            let start = i + 2;
            let end = (start..chars.len())
                .find(|&j| chars[j] == '\n')
                .unwrap_or(chars.len());
            let text: String = chars[start..end].iter().collect();
            out.push((line, text.trim_start_matches(['/', '!']).to_owned()));
            i = end;
        } else if c == '/' && at(i + 1) == '*' {
            i = block_comment(&chars, i + 2, &mut line, &mut out);
        } else if c == '"' {
            i = skip_string(&chars, i + 1, &mut line);
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            i = skip_raw_string(&chars, i + 2 + hashes, hashes, &mut line);
        } else if c == '\'' {
            i = skip_char_or_lifetime(&chars, i);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads a (possibly nested) block comment starting after its `/*`; pushes
/// one entry per line and returns the index after the closing `*/`.
fn block_comment(
    chars: &[char],
    mut i: usize,
    line: &mut usize,
    out: &mut Vec<(usize, String)>,
) -> usize {
    let mut depth = 1;
    let mut text = String::new();
    while i < chars.len() && depth > 0 {
        let (c, next) = (chars[i], chars.get(i + 1).copied().unwrap_or('\0'));
        if c == '*' && next == '/' {
            depth -= 1;
            i += 2;
        } else if c == '/' && next == '*' {
            depth += 1;
            i += 2;
        } else {
            if c == '\n' {
                out.push((*line, std::mem::take(&mut text)));
                *line += 1;
            } else {
                text.push(c);
            }
            i += 1;
        }
    }
    out.push((*line, text));
    i
}

/// Skips a `"…"` string whose body starts at `i`; returns the index after it.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '"' => return i + 1,
            c => {
                if c == '\n' {
                    *line += 1;
                }
                i += 1;
            }
        }
    }
    i
}

/// `Some(number of #)` if a raw string (`r"`, `r#"`, `br#"`) starts at `i`.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    if chars[i] != 'r' {
        return None;
    }
    let ident = |j: Option<usize>| {
        j.and_then(|j| chars.get(j))
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
    };
    let before = i.checked_sub(1);
    let prefix_ok =
        !ident(before) || (before.map(|b| chars[b]) == Some('b') && !ident(i.checked_sub(2)));
    if !prefix_ok {
        return None;
    }
    let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
    (chars.get(i + 1 + hashes) == Some(&'"')).then_some(hashes)
}

/// Skips a raw string body starting at `i`, ended by `"` and `hashes` `#`.
fn skip_raw_string(chars: &[char], mut i: usize, hashes: usize, line: &mut usize) -> usize {
    while i < chars.len() {
        if chars[i] == '"'
            && chars[i + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes
        {
            return i + 1 + hashes;
        }
        if chars[i] == '\n' {
            *line += 1;
        }
        i += 1;
    }
    i
}

/// A char literal (`'x'`, `'\''`, `'\u{1F600}'`) is skipped whole; a
/// lifetime (`'a`) only by its quote.
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let close = (i + 3..chars.len()).find(|&j| chars[j] == '\'');
        return close.map_or(i + 1, |j| j + 1);
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    i + 1
}

// ---------------------------------------------------------------------------
// Which words are cited paths.

/// The words of a comment or code span: split at white space and at
/// characters no cited path here contains.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || "`()[]\"',;|=".contains(c))
        .filter(|w| !w.is_empty())
}

/// The repository path `word` cites, without trailing punctuation and
/// without a `:LINE` or `#anchor` suffix; `None` if it cites none or holds
/// a glob or a placeholder.
fn cited_path(word: &str) -> Option<&str> {
    if ["*", "<", "{", "$", "…", "..."]
        .iter()
        .any(|p| word.contains(p))
    {
        return None;
    }
    let word = word.trim_end_matches(['.', ':', '!', '?']);
    let path = word.split([':', '#']).next().unwrap_or_default();
    let top_level = !path.contains('/')
        && (path.ends_with(".md") || path == "Containerfile" || path == "Cargo.toml");
    let in_folder = PREFIXES.iter().any(|p| path.starts_with(p));
    (top_level || in_folder).then_some(path)
}
