//! `[[watch]]`: the subjects an operator watches, the rules that decide whether an item is
//! about one (`terms`, `all`, `not`, `near`) and where a watch looks (`fields`, `feeds`).
//!
//! [`Field`] lives here rather than in [`crate::watch`], which compiles these watches: the
//! config names the fields a watch may be limited to, and the matcher depends on the
//! config, never the other way round.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};

use super::reader::{Reader, section_keys};
use super::terms::{CaseMode, TermConfig};

/// Most words allowed between the two terms of `near`.
pub const MAX_NEAR: u64 = 1000;

/// The parts of an item that watches look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Title,
    Summary,
    Content,
    Categories,
    /// The item's link, percent-escapes decoded (only for watches that ask for it).
    Link,
    /// The main text of the page the item links to, for feeds with `full_text = true`
    /// ([`crate::article`]); empty for other feeds.
    Article,
}

impl Field {
    /// Every field, in the order a watch's `fields` are kept in.
    pub const ALL: [Field; 6] = [
        Field::Title,
        Field::Summary,
        Field::Content,
        Field::Categories,
        Field::Link,
        Field::Article,
    ];

    /// The name used in the config and in alerts.
    pub fn name(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Summary => "summary",
            Field::Content => "content",
            Field::Categories => "categories",
            Field::Link => "link",
            Field::Article => "article",
        }
    }

    /// The field of a [`name`](Field::name), as written in `fields = [...]`.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// One watch: a subject and the rules that decide whether an item is about it. The watch
/// fires when every rule it has holds: one of `terms`, something of each `all` group, the
/// two `near` terms close together; and none of `not`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    pub name: String,
    /// The any-list (`terms`): one of them must match. Empty when the watch has only `all`
    /// or `near`.
    pub terms: Vec<TermConfig>,
    /// `all`: every group must match (a group is a list of aliases, one of which suffices).
    pub all: Vec<Vec<TermConfig>>,
    /// `not`: a match of any of these suppresses the watch for the whole item.
    pub not: Vec<TermConfig>,
    pub near: Option<NearConfig>,
    /// The fields looked at, in [`Field`] order; never empty.
    pub fields: Vec<Field>,
    /// The feeds whose items this watch looks at; empty: every feed.
    pub feeds: Vec<String>,
}

impl WatchConfig {
    /// A watch on any of `terms` (options as written), every default otherwise.
    pub fn any(name: &str, terms: Vec<TermConfig>) -> WatchConfig {
        WatchConfig {
            name: name.to_string(),
            terms,
            all: Vec::new(),
            not: Vec::new(),
            near: None,
            fields: DEFAULT_FIELDS.to_vec(),
            feeds: Vec::new(),
        }
    }
}

/// `near = { terms = ["A", "B"], within = N }`: A and B in the same field with at most N
/// words between them, in either order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearConfig {
    pub terms: [TermConfig; 2],
    pub within: usize,
}

/// The fields a watch looks at unless it says `fields = [...]` (not the link). `article`
/// has text only in feeds with `full_text = true`, so it is a default field of those alone.
pub const DEFAULT_FIELDS: [Field; 5] = [
    Field::Title,
    Field::Summary,
    Field::Content,
    Field::Categories,
    Field::Article,
];

impl Reader<'_> {
    pub(super) fn watches(&mut self, doc: &DeTable<'_>, feed_names: &[String]) -> Vec<WatchConfig> {
        let mut watches = Vec::new();
        let mut names = HashSet::new();
        for (i, (t, at)) in self
            .array_of_tables(doc, "watch")
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let key = format!("watch[{i}]");
            self.check_keys(t, &key, &section_keys("watch"));
            let name = self.name(t, &key, at, &mut names, "watch");
            // options for every term of the watch; a term's own setting wins
            let case = self.case(t, &key).unwrap_or_default();
            let stem = self.boolean(t, &key, "stem").unwrap_or_default();
            let opts = (case, stem);
            let terms = self.term_list(t, &key, "terms", opts);
            let all = self.groups(t, &key, opts);
            let not = self.term_list(t, &key, "not", opts).unwrap_or_default();
            let near = self.near(t, &key, opts);
            let fields = self.fields(t, &key);
            let feeds = self.watch_feeds(t, &key, feed_names);
            if t.get("terms").is_none() && t.get("all").is_none() && t.get("near").is_none() {
                self.error(
                    at,
                    &format!("{key}.terms"),
                    "missing: a watch needs terms (any of them fires), all or near, e.g. terms = [\"CSTO\"]",
                );
            }
            if let Some(name) = name {
                watches.push(WatchConfig {
                    name,
                    terms: terms.unwrap_or_default(),
                    all,
                    not,
                    near,
                    fields: fields.unwrap_or_else(|| DEFAULT_FIELDS.to_vec()),
                    feeds,
                });
            }
        }
        watches
    }

    /// `all = [group, ...]`: each group a list of aliases, or a single term.
    pub(super) fn groups(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        opts: (CaseMode, bool),
    ) -> Vec<Vec<TermConfig>> {
        let Some(v) = t.get("all") else {
            return Vec::new();
        };
        let example = "e.g. all = [[\"CSTO\", \"ОДКБ\"], [\"Armenia\", \"Армения\"]]";
        let DeValue::Array(a) = v.get_ref() else {
            self.error(
                v.span().start,
                &format!("{key}.all"),
                format!("expected a list of groups, {example}"),
            );
            return Vec::new();
        };
        if a.is_empty() {
            self.error(
                v.span().start,
                &format!("{key}.all"),
                format!("expected a non-empty list of groups, {example}"),
            );
        }
        let mut groups = Vec::new();
        for (g, group) in a.iter().enumerate() {
            let gkey = format!("{key}.all[{g}]");
            match group.get_ref() {
                DeValue::Array(terms) if terms.is_empty() => self.error(
                    group.span().start,
                    &gkey,
                    "an empty group can never match; list at least one term",
                ),
                DeValue::Array(terms) => groups.push(
                    terms
                        .iter()
                        .enumerate()
                        .filter_map(|(j, term)| self.term(term, &format!("{gkey}[{j}]"), opts))
                        .collect(),
                ),
                _ => groups.extend(self.term(group, &gkey, opts).map(|t| vec![t])),
            }
        }
        groups
    }

    /// `near = { terms = ["A", "B"], within = N }`.
    pub(super) fn near(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        opts: (CaseMode, bool),
    ) -> Option<NearConfig> {
        let v = t.get("near")?;
        let nkey = format!("{key}.near");
        let DeValue::Table(n) = v.get_ref() else {
            self.error(
                v.span().start,
                &nkey,
                "expected a table such as near = { terms = [\"CSTO\", \"Armenia\"], within = 5 }",
            );
            return None;
        };
        self.check_keys(n, &nkey, &["terms", "within"]);
        let within = self.count(n, &nkey, "within", 0, MAX_NEAR);
        if n.get("within").is_none() {
            self.error(
                v.span().start,
                &format!("{nkey}.within"),
                "missing: how many words may stand between the two terms, e.g. within = 5",
            );
        }
        let terms = self.term_list(n, &nkey, "terms", opts);
        let terms = match terms {
            Some(terms) if terms.len() == 2 => Some([terms[0].clone(), terms[1].clone()]),
            Some(_) => {
                self.error(
                    n.get("terms").map_or(v.span().start, |t| t.span().start),
                    &format!("{nkey}.terms"),
                    "expected exactly two terms, e.g. terms = [\"CSTO\", \"Armenia\"]",
                );
                None
            }
            None => {
                if n.get("terms").is_none() {
                    self.error(
                        v.span().start,
                        &format!("{nkey}.terms"),
                        "missing: the two terms, e.g. terms = [\"CSTO\", \"Armenia\"]",
                    );
                }
                None
            }
        };
        Some(NearConfig {
            terms: terms?,
            within: within?,
        })
    }

    /// `fields = ["title", ...]`: `None` when absent (the defaults apply) or invalid.
    pub(super) fn fields(&mut self, t: &DeTable<'_>, key: &str) -> Option<Vec<Field>> {
        let names = self.string_list(t, key, "fields")?;
        let mut fields = Vec::new();
        for (name, span) in names {
            match Field::parse(&name) {
                Some(f) => fields.push(f),
                None => self.error(
                    span.start,
                    &format!("{key}.fields"),
                    format!(
                        "{name:?} is not a field; use {}",
                        Field::ALL.map(|f| format!("{:?}", f.name())).join(", ")
                    ),
                ),
            }
        }
        fields.sort();
        fields.dedup();
        (!fields.is_empty()).then_some(fields)
    }

    /// `feeds = ["name", ...]`: names of configured feeds.
    pub(super) fn watch_feeds(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        feed_names: &[String],
    ) -> Vec<String> {
        let mut feeds = Vec::new();
        for (name, span) in self.string_list(t, key, "feeds").unwrap_or_default() {
            if feed_names.contains(&name) {
                if !feeds.contains(&name) {
                    feeds.push(name);
                }
            } else {
                self.error(
                    span.start,
                    &format!("{key}.feeds"),
                    format!(
                        "no feed is named {name:?}; the [[feeds]] are: {}",
                        feed_names.join(", ")
                    ),
                );
            }
        }
        feeds
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::errors;
    use super::super::{EXAMPLE, Env, parse};
    use super::*;

    /// The commented example watches of the documented config are valid when uncommented.
    #[test]
    fn the_commented_example_watches_are_valid() {
        let mut extra = String::new();
        let mut inside = false;
        for line in EXAMPLE.lines() {
            if line == "# [[watch]]" {
                inside = true;
            } else if !line.starts_with("# ") || line.starts_with("# The ") {
                inside = inside && line.starts_with("# ");
            }
            if inside && line.starts_with("# ") && !line.ends_with(':') {
                extra.push_str(&line[2..]);
                extra.push('\n');
            }
        }
        assert!(extra.matches("[[watch]]").count() >= 3, "{extra}");
        let text = format!("{EXAMPLE}\n{extra}");
        let c = match parse(&text, "example+", None, &Env::default()) {
            Ok(c) => c,
            Err(e) => panic!("{e}\n{extra}"),
        };
        let w = c.watches.iter().find(|w| w.name == "csto-armenia").unwrap();
        assert_eq!(w.all.len(), 2);
        assert!(w.all[1][1].stem && w.not[1].regex);
        let w = c
            .watches
            .iter()
            .find(|w| w.name == "border-troops")
            .unwrap();
        assert_eq!(w.near.as_ref().map(|n| n.within), Some(5));
        assert_eq!(w.fields, [Field::Title, Field::Summary]);
        assert_eq!(w.feeds, ["moscow-times", "eurasianet"]);
    }

    const ONE_FEED: &str =
        "[[feeds]]\nname='a'\nurl='http://x/'\n[[feeds]]\nname='b'\nurl='http://y/'\n";

    /// Every rule key, read into the watch: terms, all (groups and single terms), not,
    /// near, fields, feeds, and watch-level options reaching every term.
    #[test]
    fn rules_are_read() {
        let c = parse(
            &format!(
                "{ONE_FEED}[[watch]]\nname='w'\ncase='insensitive'\nterms=['CIS']\nall=[['x','y'], 'z']\nnot=[{{ regex = '(?i)cup' }}]\nnear={{ terms=['A', {{ term='B', stem=true }}], within=3 }}\nfields=['link','title']\nfeeds=['b']\n"
            ),
            "t",
            None,
            &Env::default(),
        )
        .unwrap();
        let w = &c.watches[0];
        assert_eq!(w.terms[0].case, CaseMode::Insensitive);
        assert_eq!(w.all.len(), 2);
        assert_eq!(w.all[1][0].text, "z");
        assert!(w.not[0].regex && !w.not[0].stem);
        let near = w.near.as_ref().unwrap();
        assert_eq!(near.within, 3);
        assert!(near.terms[1].stem && near.terms[0].case == CaseMode::Insensitive);
        assert_eq!(w.fields, [Field::Title, Field::Link]);
        assert_eq!(w.feeds, ["b"]);
        // without fields, the defaults; without terms but with near, fine
        let c = parse(
            &format!("{ONE_FEED}[[watch]]\nname='w'\nnear={{ terms=['A','B'], within=0 }}\n"),
            "t",
            None,
            &Env::default(),
        )
        .unwrap();
        assert_eq!(c.watches[0].fields, DEFAULT_FIELDS);
        assert!(c.watches[0].terms.is_empty());
    }

    /// Mistakes in rules: each reported with its line and key, and what would be valid.
    #[test]
    fn rule_errors_have_lines() {
        let text = format!(
            "{ONE_FEED}[[watch]]\nname='w'\nterms=[{{ regex = '(' }}, {{ regex = 'a*' }}, {{ regex = 'x', stem = true }}, {{ term = 'a', regex = 'b' }}]\nall=[[]]\nnear={{ terms=['A'], within=3, far=1 }}\nfields=['body']\nfeeds=['c']\nnot=[]\n[[watch]]\nname='v'\nnot=['x']\n"
        );
        let e = errors(&text);
        let expect = [
            "t.toml:9: watch[0].terms[0].regex: invalid regex \"(\": unclosed group",
            "t.toml:9: watch[0].terms[1].regex: regex \"a*\" matches empty text",
            "t.toml:9: watch[0].terms[2].stem: stem does not apply to a regex",
            "t.toml:9: watch[0].terms[3].regex: a term is either words",
            "t.toml:10: watch[0].all[0]: an empty group can never match",
            "t.toml:11: watch[0].near.far: unknown key; expected one of: terms, within",
            "t.toml:11: watch[0].near.terms: expected exactly two terms",
            "t.toml:12: watch[0].fields: \"body\" is not a field; use \"title\", \"summary\", \"content\", \"categories\", \"link\"",
            "t.toml:13: watch[0].feeds: no feed is named \"c\"; the [[feeds]] are: a, b",
            "t.toml:14: watch[0].not: expected a non-empty list of terms",
            "t.toml:15: watch[1].terms: missing: a watch needs terms (any of them fires), all or near",
        ];
        for x in expect {
            assert!(
                e.iter().any(|e| e.starts_with(x)),
                "missing {x:?} in {e:#?}"
            );
        }
        assert_eq!(e.len(), expect.len(), "{e:#?}");
    }
}
