//! Deciding which watches an item's text fires, and why.
//!
//! All plain terms of all watches (those of `terms`, `all`, `not` and `near` alike) are
//! compiled into one Aho-Corasick automaton, so each field is scanned once however many
//! terms there are: the cost does not grow with the number of terms the way one regex per
//! term does. When any term ignores case, the automaton holds every term case-folded and
//! runs over the field's case-folded copy (same byte offsets), and a case-sensitive term's
//! hit is kept only when the original text has exactly its letters; when none does, it runs
//! over the text itself and nothing is folded. Every hit is checked for Unicode word
//! boundaries: "CIS" never matches "decision", and "СНГ" is a word in Cyrillic text. A stemmed
//! term (`stem = true`) only needs a boundary on its left, so "Содружеств" matches every case
//! of the noun. Regex terms, the explicit escape hatch, run one by one over the same text.
//!
//! This module owns compiling and scanning; `rules` owns what the hits mean for each watch
//! (`terms`, `all`, `not`, `near`) and the explanations.

mod rules;
/// The specification table and the HTML-wrapping property.
#[cfg(test)]
mod spec;

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::config::{CaseMode, WatchConfig};
// the fields (defined with the config, which limits watches to them) and the regex
// compiler (shared with the config's validation), where the matcher's users look for them
pub use crate::config::{Field, compile_regex};
use crate::text::{fold_case, fold_case_into, is_word_char, link_to_text, normalize};

pub use rules::Explained;

/// How many characters of context an alert's snippet shows around a match.
pub const SNIPPET_WIDTH: usize = 160;

/// Hits kept per regex term and field: a pattern such as `\w+` must not flood the
/// evaluation; the first hit explains the alert and `near` rarely needs more.
const MAX_REGEX_HITS: usize = 256;

/// A field's bit in a watch's set of fields.
fn bit(field: Field) -> u8 {
    1 << field as u8
}

/// Which rule of a watch a match satisfied (or, for `not`, broke).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// One of the watch's `terms`.
    #[default]
    Any,
    /// A term of one of the `all` groups.
    All,
    /// One of the two `near` terms, found close to the other.
    Near,
    /// An exclusion (`not`): shown in explanations, never in alerts.
    Not,
}

/// One reason a watch fired: the term, where it matched and the words around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// The term as configured (a regex term: its pattern).
    pub term: String,
    /// The rule the term belongs to; alerts stored before rules existed read as `any`.
    #[serde(default)]
    pub rule: Rule,
    pub field: Field,
    /// The matched words as the outlet wrote them (for a text tried by hand, `feedwatch
    /// match`: as normalised).
    pub text: String,
    /// Character offsets of the match in the shown text of `field` ([`crate::shown`]); in
    /// alerts raised before text was kept as shown, in its normalised text.
    pub start: usize,
    pub end: usize,
    /// About [`SNIPPET_WIDTH`] characters around the match.
    pub snippet: String,
}

/// A watch that fired on a text, with every distinct (term, field) that made it fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub watch: String,
    pub matches: Vec<Match>,
}

/// An item's text as the matcher sees it: title, summary and content already normalised
/// ([`crate::text::html_to_text`]), categories and link as the item has them; and the title,
/// summary and content as shown, which its matches point into.
#[derive(Debug, Clone, Copy)]
pub struct ItemText<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    pub content: &'a str,
    pub categories: &'a [String],
    pub link: Option<&'a str>,
    /// Title, summary and content as the outlet wrote them ([`crate::shown`]).
    pub shown: [&'a str; 3],
    /// The categories as the outlet wrote them, one for each of `categories`.
    pub shown_categories: &'a [String],
}

/// A term that cannot be compiled (config validation catches these first).
#[derive(Debug, thiserror::Error)]
#[error("compiling watch {watch}: term {term:?}: {message}")]
pub struct RuleError {
    pub watch: String,
    pub term: String,
    pub message: String,
}

/// What a term is for in its watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Any,
    /// A term of the `all` group with this index.
    All(usize),
    Not,
    /// The first (0) or second (1) `near` term.
    Near(usize),
}

/// One term of a compiled watch.
#[derive(Debug)]
struct Term {
    /// As configured, for explanations.
    text: String,
    role: Role,
}

/// One watch, compiled: its terms are indexed by slot.
#[derive(Debug)]
struct Watch {
    name: String,
    /// Bit set of the [`Field`]s it looks at.
    fields: u8,
    field_list: Vec<Field>,
    /// Feeds it is limited to; empty: all.
    feeds: Vec<String>,
    terms: Vec<Term>,
    /// Whether it has an any-list (`terms`) that must match.
    has_any: bool,
    /// Number of `all` groups.
    groups: usize,
    /// `near`'s word limit, when it has `near`.
    within: Option<usize>,
}

/// One compiled pattern: which watch and term slot it stands for.
#[derive(Debug, Clone)]
struct Target {
    watch: u32,
    slot: u32,
    stem: bool,
    /// For a case-sensitive term in a folded automaton: the normalised term, which the
    /// original text must match byte for byte.
    exact: Option<Box<str>>,
}

#[derive(Debug)]
struct Automaton {
    ac: AhoCorasick,
    /// For each pattern id, every (watch, slot) written that way.
    targets: Vec<Vec<Target>>,
    /// Whether patterns and haystacks are case-folded.
    folded: bool,
}

#[derive(Debug)]
struct RegexTerm {
    watch: u32,
    slot: u32,
    re: Regex,
}

/// A whole-word occurrence of one term of one watch, as byte offsets in the field's text.
#[derive(Debug, Clone, Copy)]
struct Hit {
    watch: u32,
    slot: u32,
    field: Field,
    start: usize,
    end: usize,
}

/// All watches, compiled.
#[derive(Debug)]
pub struct Matcher {
    watches: Vec<Watch>,
    /// Every plain term; `None` when there are none.
    automaton: Option<Automaton>,
    regexes: Vec<RegexTerm>,
    /// Bit set of the fields any watch looks at: the others are never scanned.
    fields: u8,
}

impl Matcher {
    pub fn new(configs: &[WatchConfig]) -> Result<Matcher, RuleError> {
        // (normalised term, case-sensitive, target) for every plain term
        let mut plain: Vec<(String, bool, Target)> = Vec::new();
        let mut regexes = Vec::new();
        let mut watches = Vec::new();
        for (w, c) in configs.iter().enumerate() {
            let roles = c
                .terms
                .iter()
                .map(|t| (t, Role::Any))
                .chain(
                    c.all
                        .iter()
                        .enumerate()
                        .flat_map(|(g, group)| group.iter().map(move |t| (t, Role::All(g)))),
                )
                .chain(c.not.iter().map(|t| (t, Role::Not)))
                .chain(
                    c.near
                        .iter()
                        .flat_map(|n| n.terms.iter().enumerate().map(|(i, t)| (t, Role::Near(i)))),
                );
            let mut terms = Vec::new();
            for (term, role) in roles {
                let slot = terms.len() as u32;
                terms.push(Term {
                    text: term.text.clone(),
                    role,
                });
                if term.regex {
                    let re = compile_regex(&term.text, term.case).map_err(|message| RuleError {
                        watch: c.name.clone(),
                        term: term.text.clone(),
                        message,
                    })?;
                    regexes.push(RegexTerm {
                        watch: w as u32,
                        slot,
                        re,
                    });
                    continue;
                }
                let norm = normalize(&term.text);
                if norm.is_empty() {
                    continue; // config validation rejects these; never match everything
                }
                let target = Target {
                    watch: w as u32,
                    slot,
                    stem: term.stem,
                    exact: None,
                };
                let sensitive = is_case_sensitive(&norm, term.case);
                plain.push((norm, sensitive, target));
            }
            watches.push(Watch {
                name: c.name.clone(),
                fields: c.fields.iter().fold(0, |m, f| m | bit(*f)),
                field_list: c.fields.clone(),
                feeds: c.feeds.clone(),
                terms,
                has_any: !c.terms.is_empty(),
                groups: c.all.len(),
                within: c.near.as_ref().map(|n| n.within),
            });
        }
        Ok(Matcher {
            fields: watches.iter().fold(0, |m, w| m | w.fields),
            watches,
            automaton: Automaton::build(plain),
            regexes,
        })
    }

    /// Whether there is anything to match at all.
    pub fn is_empty(&self) -> bool {
        self.automaton.is_none() && self.regexes.is_empty()
    }

    /// Whether any watch looks at `field` (others need not be prepared).
    pub fn looks_at(&self, field: Field) -> bool {
        self.fields & bit(field) != 0
    }

    /// The watches that fire on an item seen in `feeds`.
    pub fn check_item(&self, feeds: Option<&[String]>, item: &ItemText<'_>) -> Vec<Fired> {
        self.check_item_with(feeds, item, None)
    }

    /// [`Matcher::check_item`] with the item's article text, for the items of `full_text`
    /// feeds ([`crate::article`]): (normalised, shown), the shown text being the article as
    /// extracted and stored, which its matches point into.
    pub fn check_item_with(
        &self,
        feeds: Option<&[String]>,
        item: &ItemText<'_>,
        article: Option<(&str, &str)>,
    ) -> Vec<Fired> {
        let cats = match self.looks_at(Field::Categories) {
            true => item.categories.join(" · "),
            false => String::new(),
        };
        let link = match (self.looks_at(Field::Link), item.link) {
            (true, Some(link)) => link_to_text(link),
            _ => String::new(),
        };
        let mut fired = self.check(
            feeds,
            &[
                (Field::Title, item.title),
                (Field::Summary, item.summary),
                (Field::Content, item.content),
                (Field::Categories, &cats),
                (Field::Link, &link),
                (Field::Article, article.map_or("", |(norm, _)| norm)),
            ],
        );
        let [title, summary, content] = item.shown;
        let (article_norm, article_shown) = article.unwrap_or_default();
        let shown_cats = match self.looks_at(Field::Categories) && !fired.is_empty() {
            true => item.shown_categories.join(" · "),
            false => String::new(),
        };
        crate::shown::relocate(
            &mut fired,
            &[
                (Field::Title, item.title, title),
                (Field::Summary, item.summary, summary),
                (Field::Content, item.content, content),
                (Field::Categories, &cats, &shown_cats),
                (Field::Article, article_norm, article_shown),
            ],
        );
        fired
    }

    /// The watches that fire on these fields (already normalised with
    /// [`crate::text::normalize`] or [`crate::text::html_to_text`]), in configuration order.
    /// `feeds` are the feeds the item was seen in; `None` (a text tried by hand) applies no
    /// watch's feed limit.
    pub fn check(&self, feeds: Option<&[String]>, fields: &[(Field, &str)]) -> Vec<Fired> {
        let hits = self.hits(fields);
        let mut fired = Vec::new();
        for hits in hits.chunk_by(|a, b| a.watch == b.watch) {
            let watch = &self.watches[hits[0].watch as usize];
            if let rules::Verdict::Fires { near } = rules::verdict(watch, hits, feeds, fields) {
                fired.push(Fired {
                    watch: watch.name.clone(),
                    matches: rules::matches(watch, hits, near, fields),
                });
            }
        }
        fired
    }

    /// Every watch, in configuration order, with whether it fires on these fields and why
    /// (or why not): for `feedwatch match`.
    pub fn explain(&self, feeds: Option<&[String]>, fields: &[(Field, &str)]) -> Vec<Explained> {
        let hits = self.hits(fields);
        let mut by_watch = hits.chunk_by(|a, b| a.watch == b.watch).peekable();
        (0..self.watches.len())
            .map(|w| {
                let mine = by_watch
                    .next_if(|h| h[0].watch as usize == w)
                    .unwrap_or_default();
                rules::explain(&self.watches[w], mine, feeds, fields)
            })
            .collect()
    }

    /// Every whole-word hit of every term in these fields, sorted by (watch, slot, field,
    /// start): one automaton pass per field, then the regex terms.
    fn hits(&self, fields: &[(Field, &str)]) -> Vec<Hit> {
        let mut hits = Vec::new();
        let mut folded = Vec::new();
        for &(field, text) in fields {
            if text.is_empty() || !self.looks_at(field) {
                continue;
            }
            if let Some(a) = &self.automaton {
                let hay = if a.folded {
                    fold_case_into(text, &mut folded);
                    &folded[..]
                } else {
                    text.as_bytes()
                };
                self.scan(a, hay, text, field, &mut hits);
            }
            for r in &self.regexes {
                if self.watches[r.watch as usize].fields & bit(field) == 0 {
                    continue;
                }
                let found = r.re.find_iter(text).filter(|m| !m.is_empty());
                hits.extend(found.take(MAX_REGEX_HITS).map(|m| Hit {
                    watch: r.watch,
                    slot: r.slot,
                    field,
                    start: m.start(),
                    end: m.end(),
                }));
            }
        }
        hits.sort_unstable_by_key(|h| (h.watch, h.slot, h.field, h.start));
        hits
    }

    /// Runs the automaton over `hay` (`text` or its case-folded copy, same byte offsets) and
    /// records every whole-word match for the watches that look at `field`.
    fn scan(&self, a: &Automaton, hay: &[u8], text: &str, field: Field, hits: &mut Vec<Hit>) {
        let bit = bit(field);
        for m in a.ac.find_overlapping_iter(hay) {
            let (start, end) = (m.start(), m.end());
            let left_ok = text[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !is_word_char(c));
            if !left_ok {
                continue;
            }
            let right_ok = text[end..].chars().next().is_none_or(|c| !is_word_char(c));
            let mut word_end = None;
            for t in &a.targets[m.pattern().as_usize()] {
                if self.watches[t.watch as usize].fields & bit == 0 {
                    continue;
                }
                if t.exact
                    .as_ref()
                    .is_some_and(|e| e.as_bytes() != &text.as_bytes()[start..end])
                {
                    continue; // a case-sensitive term found with other letter cases
                }
                let end = if t.stem {
                    // a stem matches the whole word it begins
                    *word_end.get_or_insert_with(|| {
                        end + text[end..]
                            .char_indices()
                            .find(|&(_, c)| !is_word_char(c))
                            .map_or(text.len() - end, |(i, _)| i)
                    })
                } else if right_ok {
                    end
                } else {
                    continue;
                };
                hits.push(Hit {
                    watch: t.watch,
                    slot: t.slot,
                    field,
                    start,
                    end,
                });
            }
        }
    }
}

impl Automaton {
    /// One automaton for all plain terms: (normalised term, case-sensitive, target).
    fn build(plain: Vec<(String, bool, Target)>) -> Option<Automaton> {
        if plain.is_empty() {
            return None;
        }
        let folded = plain.iter().any(|(_, sensitive, _)| !sensitive);
        let mut patterns: BTreeMap<String, Vec<Target>> = BTreeMap::new();
        for (norm, sensitive, mut target) in plain {
            let pattern = if folded {
                let f = fold_case(&norm);
                if sensitive {
                    target.exact = Some(norm.into());
                }
                f
            } else {
                norm
            };
            patterns.entry(pattern).or_default().push(target);
        }
        let (words, targets): (Vec<String>, Vec<Vec<Target>>) = patterns.into_iter().unzip();
        // With hundreds of terms the prefilter finds few bytes to skip and costs more
        // than it saves (match_bench: about 20% slower with it).
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .build(&words)
            .or_else(|_| {
                // a DFA for very many long terms can outgrow its limits; the NFA has none
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&words)
            })
            .expect("plain patterns within aho-corasick's limits always build");
        Some(Automaton {
            ac,
            targets,
            folded,
        })
    }
}

/// A term in double quotes as configured, for messages: unlike `{:?}` it leaves a regex's
/// backslashes as the operator wrote them.
pub fn quote(term: &str) -> String {
    format!("\"{term}\"")
}

/// An all-capitals term ("CIS", "ОДКБ") is an acronym: matched case-sensitively under `auto`.
pub fn is_case_sensitive(term: &str, mode: CaseMode) -> bool {
    match mode {
        CaseMode::Sensitive => true,
        CaseMode::Insensitive => false,
        CaseMode::Auto => {
            let mut letters = term.chars().filter(|c| c.is_alphabetic()).peekable();
            letters.peek().is_some() && letters.all(|c| c.is_uppercase())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TermConfig;
    use crate::text::html_to_text;

    fn watch(name: &str, terms: &[&str]) -> WatchConfig {
        WatchConfig::any(
            name,
            terms
                .iter()
                .map(|t| TermConfig {
                    stem: t.ends_with('*'),
                    ..TermConfig::words(t.trim_end_matches('*'))
                })
                .collect(),
        )
    }

    fn fires(terms: &[&str], text: &str) -> Vec<String> {
        let m = Matcher::new(&[watch("w", terms)]).unwrap();
        let text = normalize(text);
        m.check(None, &[(Field::Title, &text)])
            .into_iter()
            .flat_map(|f| f.matches.into_iter().map(|m| m.text))
            .collect()
    }

    #[test]
    fn acronyms_match_whole_words_case_sensitively() {
        assert_eq!(fires(&["CIS"], "CIS leaders met"), ["CIS"]);
        assert_eq!(fires(&["CIS"], "the CIS's members, CIS-wide"), ["CIS"]);
        for trap in [
            "decision",
            "precise",
            "San Francisco",
            "concise",
            "cisgender",
            "the cis leaders",
        ] {
            assert!(fires(&["CIS"], trap).is_empty(), "{trap}");
        }
    }

    #[test]
    fn cyrillic_words_have_boundaries_too() {
        assert_eq!(fires(&["СНГ"], "Лидеры СНГ встретились"), ["СНГ"]);
        assert!(fires(&["СНГ"], "СНГовский").is_empty());
        assert_eq!(
            fires(&["Содружество"], "содружество наций"),
            ["содружество"]
        );
    }

    #[test]
    fn phrases_match_across_any_whitespace() {
        let hits = fires(
            &["Commonwealth of Independent States"],
            "the Commonwealth\n of  Independent\tStates",
        );
        assert_eq!(hits, ["Commonwealth of Independent States"]);
    }

    #[test]
    fn stems_match_inflected_forms() {
        assert_eq!(
            fires(&["Содружеств*"], "саммит Содружества Независимых"),
            ["Содружества"]
        );
        assert!(fires(&["Содружеств*"], "несодружество").is_empty());
    }

    #[test]
    fn offsets_are_characters_and_snippet_contains_the_match() {
        let m = Matcher::new(&[watch("csto", &["ОДКБ"])]).unwrap();
        let text = normalize("Учения ОДКБ прошли");
        let fired = m.check(None, &[(Field::Summary, &text)]);
        let hit = &fired[0].matches[0];
        assert_eq!((hit.start, hit.end), (7, 11));
        assert_eq!(hit.snippet, "Учения ОДКБ прошли");
        assert_eq!(hit.field, Field::Summary);
    }

    #[test]
    fn each_watch_fires_once_with_all_its_reasons() {
        let m = Matcher::new(&[watch("cis", &["CIS", "СНГ"]), watch("csto", &["CSTO"])]).unwrap();
        let title = normalize("CIS and СНГ, CIS again");
        let fired = m.check(None, &[(Field::Title, &title), (Field::Categories, "CIS")]);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].watch, "cis");
        assert_eq!(fired[0].matches.len(), 3); // CIS in title, СНГ in title, CIS in categories
    }

    /// A watch from config text (the `[[watch]]` body), through the real reader.
    fn rules(body: &str) -> Matcher {
        let text = format!(
            "[[feeds]]\nname='a'\nurl='http://x/'\n[[feeds]]\nname='b'\nurl='http://y/'\n[[watch]]\nname='w'\n{body}\n"
        );
        let config = crate::config::parse(&text, "t", None, &Default::default()).unwrap();
        Matcher::new(&config.watches).unwrap()
    }

    fn fired(m: &Matcher, feed: Option<&str>, fields: &[(Field, &str)]) -> Vec<(Rule, String)> {
        let feeds = feed.map(|f| vec![f.to_string()]);
        let fields: Vec<(Field, String)> =
            fields.iter().map(|(f, t)| (*f, html_to_text(t))).collect();
        let fields: Vec<(Field, &str)> = fields.iter().map(|(f, t)| (*f, t.as_str())).collect();
        m.check(feeds.as_deref(), &fields)
            .into_iter()
            .flat_map(|f| f.matches)
            .map(|m| (m.rule, m.text))
            .collect()
    }

    #[test]
    fn not_suppresses_the_whole_watch() {
        let m = rules("terms=['CIS']\nnot=['CIS Cup']");
        assert_eq!(fired(&m, None, &[(Field::Title, "CIS summit")]).len(), 1);
        assert!(
            fired(
                &m,
                None,
                &[
                    (Field::Title, "CIS summit"),
                    (Field::Content, "the CIS Cup")
                ]
            )
            .is_empty()
        );
    }

    #[test]
    fn all_needs_every_group_and_lists_each() {
        let m = rules("all=[['CSTO','ОДКБ'], 'Armenia']");
        assert!(fired(&m, None, &[(Field::Title, "CSTO drills")]).is_empty());
        assert_eq!(
            fired(
                &m,
                None,
                &[
                    (Field::Title, "ОДКБ drills"),
                    (Field::Content, "in Armenia")
                ]
            ),
            [(Rule::All, "ОДКБ".into()), (Rule::All, "Armenia".into())]
        );
    }

    #[test]
    fn near_counts_words_between_in_either_order() {
        let m = rules("near={ terms=['CSTO','Armenia'], within=2 }");
        let t = |s: &str| fired(&m, None, &[(Field::Content, s)]);
        assert_eq!(t("CSTO troops in Armenia").len(), 2);
        assert_eq!(t("Armenia, the CSTO").len(), 2);
        assert!(t("CSTO troops arrived in Armenia").is_empty());
        assert!(t("CSTO").is_empty());
        // the closest pair is the one shown
        assert_eq!(
            t("CSTO met. Later CSTO and Armenia"),
            [(Rule::Near, "CSTO".into()), (Rule::Near, "Armenia".into())]
        );
    }

    #[test]
    fn fields_and_feeds_limit_a_watch() {
        let m = rules("terms=['cis']\nfields=['link']\nfeeds=['b']");
        let link = [(Field::Link, "https://x/cis-summit"), (Field::Title, "cis")];
        assert!(fired(&m, Some("a"), &link).is_empty());
        assert_eq!(fired(&m, Some("b"), &link), [(Rule::Any, "cis".into())]);
        assert_eq!(fired(&m, None, &link), [(Rule::Any, "cis".into())]);
    }

    #[test]
    fn regex_terms_keep_their_own_matches() {
        let m = rules("terms=[{ regex = '\\bОДКБ-\\d+' }]");
        assert_eq!(
            fired(&m, None, &[(Field::Title, "учения ОДКБ-2024")]),
            [(Rule::Any, "ОДКБ-2024".into())]
        );
        assert!(fired(&m, None, &[(Field::Title, "ОДКБ-x")]).is_empty());
    }

    #[test]
    fn explanations_say_why_not() {
        let m = rules("terms=['CIS']\nall=['summit']\nnot=['Cup']");
        let ex = |s: &str| m.explain(None, &[(Field::Content, s)]).remove(0);
        assert_eq!(ex("nothing").reason.as_deref(), Some("no term matched"));
        assert_eq!(
            ex("CIS").reason.as_deref(),
            Some("all: nothing of group 1 matched (\"summit\")")
        );
        let e = ex("CIS summit Cup");
        assert_eq!(e.reason.as_deref(), Some("excluded by \"Cup\""));
        assert_eq!(e.excluded_by[0].rule, Rule::Not);
        assert_eq!(e.matches.len(), 2);
        assert!(ex("CIS summit").fires);
    }

    /// One folded automaton holds case-sensitive and insensitive terms alike: an acronym
    /// sharing its folded letters with an insensitive term still needs its own capitals,
    /// and with no insensitive term at all nothing is folded.
    #[test]
    fn sensitive_and_insensitive_terms_share_one_automaton() {
        let mut any_case = watch("any", &["x"]);
        any_case.terms = vec![TermConfig {
            case: CaseMode::Insensitive,
            ..TermConfig::words("cis")
        }];
        let m = Matcher::new(&[watch("acronym", &["CIS"]), any_case]).unwrap();
        assert!(m.automaton.as_ref().unwrap().folded);
        let names = |text: &str| -> Vec<String> {
            m.check(None, &[(Field::Title, text)])
                .into_iter()
                .map(|f| f.watch)
                .collect()
        };
        assert_eq!(names("the cis"), ["any"]);
        assert_eq!(names("the Cis"), ["any"]);
        assert_eq!(names("the CIS"), ["acronym", "any"]);
        let m = Matcher::new(&[watch("acronym", &["CIS", "ОДКБ"])]).unwrap();
        assert!(!m.automaton.as_ref().unwrap().folded);
        assert_eq!(m.check(None, &[(Field::Title, "ОДКБ, CIS")]).len(), 1);
    }

    #[test]
    fn case_modes() {
        assert!(is_case_sensitive("CIS", CaseMode::Auto));
        assert!(is_case_sensitive("ОДКБ", CaseMode::Auto));
        assert!(!is_case_sensitive("Commonwealth", CaseMode::Auto));
        assert!(!is_case_sensitive("CIS", CaseMode::Insensitive));
        assert!(!is_case_sensitive("123", CaseMode::Auto));
    }
}
