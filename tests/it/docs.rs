//! The documentation's links. README.md is a short front page and the reference lives in
//! docs/*.md, so sections move between pages and links break silently: every relative link
//! in the project's Markdown must name a file that exists and, with `#anchor`, a heading
//! of that file (anchors made as GitHub makes them). Links inside code (fenced blocks,
//! backtick spans) are text, not links, and web links (`https:`) are not checked here:
//! nothing in the tests reaches beyond 127.0.0.1.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files whose links are checked: the front page and DESIGN.md, every page
/// of docs/, and systemd/README.md.
fn markdown_files() -> Vec<PathBuf> {
    let root = root();
    let mut files = vec![
        root.join("README.md"),
        root.join("DESIGN.md"),
        root.join("systemd/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("reading docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// GitHub's anchor for a heading's text: lower case; letters, digits, `-` and `_` kept,
/// spaces turned into `-`, everything else (punctuation, backticks, `*`) dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The text with fenced code blocks blanked out (newlines kept, so positions keep their
/// line numbers). A fence may be indented, as in a list item.
fn without_fences(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<&str> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        let blank = match (fence, marker) {
            (None, Some(m)) => {
                fence = Some(m);
                true
            }
            (Some(open), Some(m)) if m == open => {
                fence = None;
                true
            }
            (Some(_), _) => true,
            (None, None) => false,
        };
        if blank {
            out.extend(line.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The text with code spans blanked out: a run of N backticks up to the next run of
/// exactly N (which may be on a later line of the same paragraph); an unclosed run is text.
fn without_code_spans(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = chars.clone();
    let run_at = |i: usize| chars[i..].iter().take_while(|&&c| c == '`').count();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            i += 1;
            continue;
        }
        let n = run_at(i);
        let mut j = i + n;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '\n' && paragraph_ends(&chars[j + 1..]) {
                break;
            }
            if chars[j] == '`' {
                let m = run_at(j);
                if m == n {
                    close = Some(j);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        match close {
            Some(j) => {
                for c in &mut out[i..j + n] {
                    if *c != '\n' {
                        *c = ' ';
                    }
                }
                i = j + n;
            }
            None => i += n,
        }
    }
    out.into_iter().collect()
}

/// Whether the line that starts here is blank: the end of a paragraph, where a code span
/// cannot go on.
fn paragraph_ends(rest: &[char]) -> bool {
    rest.iter()
        .take_while(|&&c| c != '\n')
        .all(|c| c.is_whitespace())
}

/// The anchors the headings of a Markdown text make, a repeated one numbered `-1`, `-2`...
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in without_fences(text).lines() {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// The links `[text](target)` of a Markdown text outside code, with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let prose = without_code_spans(&without_fences(text));
    let mut found = Vec::new();
    for (n, line) in prose.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_matches(|c| c == '<' || c == '>');
            found.push((n + 1, target.to_string()));
            rest = &after[end..];
        }
    }
    found
}

/// Every broken relative link of one Markdown file, as "FILE:LINE: link TARGET: what".
fn broken_links(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {file:?}: {e}"));
    let dir = file.parent().unwrap();
    let mut problems = Vec::new();
    for (line, target) in links(&text) {
        let say = |what: String| format!("{}:{line}: link {target:?}: {what}", file.display());
        if target.is_empty() {
            problems.push(say("empty".into()));
            continue;
        }
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target.as_str(), None),
        };
        let linked = if path.is_empty() {
            file.to_path_buf()
        } else {
            dir.join(path)
        };
        if !linked.exists() {
            problems.push(say(format!("no file {}", linked.display())));
            continue;
        }
        let Some(anchor) = anchor else { continue };
        if linked.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let headings = anchors(&std::fs::read_to_string(&linked).unwrap());
        if !headings.contains(anchor) {
            let mut known: Vec<_> = headings.into_iter().collect();
            known.sort();
            problems.push(say(format!(
                "no heading #{anchor} in {} (its anchors: {})",
                linked.display(),
                known.join(", ")
            )));
        }
    }
    problems
}

#[test]
fn every_relative_link_in_the_documentation_resolves() {
    let files = markdown_files();
    assert!(files.len() >= 5, "docs/ has its pages: {files:?}");
    let problems: Vec<String> = files.iter().flat_map(|f| broken_links(f)).collect();
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

/// The front page stays a front page: short, and a way into every page of docs/.
#[test]
fn the_readme_is_a_short_front_page_linking_every_docs_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines < 150,
        "README.md has {lines} lines: move reference text to docs/"
    );
    let linked: HashSet<String> = links(&readme).into_iter().map(|(_, t)| t).collect();
    for page in markdown_files() {
        let Ok(rel) = page.strip_prefix(root().join("docs")) else {
            continue;
        };
        let target = format!("docs/{}", rel.display());
        assert!(
            linked
                .iter()
                .any(|t| t.split('#').next() == Some(target.as_str())),
            "README.md does not link {target}: add it to its Documentation list"
        );
    }
}

/// The checker catches what it is for, and leaves code alone.
#[test]
fn a_missing_file_or_heading_is_reported_and_code_is_not_a_link() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b.md"),
        "# B page\n\n## The `match` rule: why\n\n```\n## not a heading\n```\n",
    )
    .unwrap();
    let a = dir.path().join("a.md");
    std::fs::write(
        &a,
        "# A\n\n\
         [ok](b.md) [ok](b.md#the-match-rule-why) [ok](#a) [web](https://example.org/x.md)\n\
         [gone](missing.md)\n\
         [bad anchor](b.md#not-a-heading)\n\
         `[in code](nope.md)` and a span over\ntwo lines: `x\n[y](nope2.md)`\n\
         ```md\n[fenced](nope3.md)\n```\n\
         [own](#nope)\n",
    )
    .unwrap();
    let problems = broken_links(&a);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].contains(":4: link \"missing.md\": no file"),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].contains(":5: link \"b.md#not-a-heading\": no heading"),
        "{}",
        problems[1]
    );
    assert!(
        problems[2].contains(":12: link \"#nope\": no heading"),
        "{}",
        problems[2]
    );
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(
        slug(" Polling, failures and feed health"),
        "polling-failures-and-feed-health"
    );
    assert_eq!(
        slug(" Trying a rule: `match` and `rematch`"),
        "trying-a-rule-match-and-rematch"
    );
    assert_eq!(
        slug(" Sinks: webhook, exec, and the rest"),
        "sinks-webhook-exec-and-the-rest"
    );
    assert_eq!(slug(" Что такое СНГ"), "что-такое-снг");
    let repeated = anchors("# Notes\n## Notes\n## Notes\n");
    assert!(
        ["notes", "notes-1", "notes-2"]
            .iter()
            .all(|a| repeated.contains(*a))
    );
}
