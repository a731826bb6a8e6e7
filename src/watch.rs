//! Deciding which watches an item's text fires, and why.
//!
//! All terms of all watches are compiled into (at most) two Aho-Corasick automata, one for
//! case-sensitive terms over the normalised text and one for case-insensitive terms over its
//! case-folded copy, so the cost of matching does not grow with the number of terms the way
//! one regex per term does. Every hit is then checked for Unicode word boundaries: "CIS" never
//! matches "decision", and "СНГ" is a word in Cyrillic text. A stemmed term (`stem = true`)
//! only needs a boundary on its left, so "Содружеств" matches every case of the noun.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};

use crate::config::{CaseMode, WatchConfig};
use crate::text::{char_offset, fold_case, is_word_char, normalize, snippet};

/// How many characters of context an alert's snippet shows around a match.
pub const SNIPPET_WIDTH: usize = 160;

/// The parts of an item that watches look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Title,
    Summary,
    Content,
    Categories,
}

/// One reason a watch fired: the term, where it matched and the words around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// The term as configured.
    pub term: String,
    pub field: Field,
    /// The matched words as they appear in the normalised text.
    pub text: String,
    /// Character offsets of the match in the normalised text of `field`.
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

/// One compiled pattern: which watch and term it stands for.
#[derive(Debug, Clone)]
struct Target {
    watch: usize,
    term: usize,
    stem: bool,
}

#[derive(Debug)]
struct Automaton {
    ac: AhoCorasick,
    /// For each pattern id, every (watch, term) written that way.
    targets: Vec<Vec<Target>>,
}

/// All watches, compiled.
#[derive(Debug)]
pub struct Matcher {
    watch_names: Vec<String>,
    /// Terms as configured, per watch.
    terms: Vec<Vec<String>>,
    sensitive: Option<Automaton>,
    insensitive: Option<Automaton>,
}

impl Matcher {
    pub fn new(watches: &[WatchConfig]) -> Matcher {
        let mut sensitive: HashMap<String, Vec<Target>> = HashMap::new();
        let mut insensitive: HashMap<String, Vec<Target>> = HashMap::new();
        for (w, watch) in watches.iter().enumerate() {
            for (t, term) in watch.terms.iter().enumerate() {
                let norm = normalize(&term.text);
                if norm.is_empty() {
                    continue; // config validation rejects these; never match everything
                }
                let target = Target {
                    watch: w,
                    term: t,
                    stem: term.stem,
                };
                if is_case_sensitive(&norm, term.case) {
                    sensitive.entry(norm).or_default().push(target);
                } else {
                    insensitive
                        .entry(fold_case(&norm))
                        .or_default()
                        .push(target);
                }
            }
        }
        Matcher {
            watch_names: watches.iter().map(|w| w.name.clone()).collect(),
            terms: watches
                .iter()
                .map(|w| w.terms.iter().map(|t| t.text.clone()).collect())
                .collect(),
            sensitive: Automaton::build(sensitive),
            insensitive: Automaton::build(insensitive),
        }
    }

    /// Whether there is anything to match at all.
    pub fn is_empty(&self) -> bool {
        self.sensitive.is_none() && self.insensitive.is_none()
    }

    /// The watches that fire on these fields (already normalised with
    /// [`crate::text::normalize`] or [`crate::text::html_to_text`]), in configuration order.
    pub fn check(&self, fields: &[(Field, &str)]) -> Vec<Fired> {
        // (watch, term, field) -> first match
        let mut found: Vec<Vec<Match>> = vec![Vec::new(); self.watch_names.len()];
        for &(field, text) in fields {
            if text.is_empty() {
                continue;
            }
            if let Some(a) = &self.sensitive {
                self.scan(a, text, text, field, &mut found);
            }
            if let Some(a) = &self.insensitive {
                let folded = fold_case(text);
                self.scan(a, &folded, text, field, &mut found);
            }
        }
        found
            .into_iter()
            .enumerate()
            .filter(|(_, m)| !m.is_empty())
            .map(|(w, mut matches)| {
                matches.sort_by_key(|m| (m.field, m.start));
                Fired {
                    watch: self.watch_names[w].clone(),
                    matches,
                }
            })
            .collect()
    }

    /// Runs one automaton over `hay` (`text` or its case-folded copy, same byte offsets) and
    /// records the first whole-word match of each (watch, term) in `field`.
    fn scan(&self, a: &Automaton, hay: &str, text: &str, field: Field, found: &mut [Vec<Match>]) {
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
            for target in &a.targets[m.pattern().as_usize()] {
                let end = if target.stem {
                    // a stem matches the whole word it begins
                    end + text[end..]
                        .char_indices()
                        .find(|&(_, c)| !is_word_char(c))
                        .map_or(text.len() - end, |(i, _)| i)
                } else if right_ok {
                    end
                } else {
                    continue;
                };
                let term = &self.terms[target.watch][target.term];
                let list = &mut found[target.watch];
                if list.iter().any(|x| x.field == field && &x.term == term) {
                    continue;
                }
                list.push(Match {
                    term: term.clone(),
                    field,
                    text: text[start..end].to_string(),
                    start: char_offset(text, start),
                    end: char_offset(text, end),
                    snippet: snippet(text, start, end, SNIPPET_WIDTH),
                });
            }
        }
    }
}

impl Automaton {
    fn build(patterns: HashMap<String, Vec<Target>>) -> Option<Automaton> {
        if patterns.is_empty() {
            return None;
        }
        let (words, targets): (Vec<String>, Vec<Vec<Target>>) = patterns.into_iter().unzip();
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&words)
            .expect("a few thousand plain patterns always build");
        Some(Automaton { ac, targets })
    }
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

    fn watch(name: &str, terms: &[&str]) -> WatchConfig {
        WatchConfig {
            name: name.into(),
            terms: terms
                .iter()
                .map(|t| TermConfig {
                    text: t.to_string(),
                    case: CaseMode::Auto,
                    stem: t.ends_with('*'),
                })
                .map(|mut t| {
                    t.text = t.text.trim_end_matches('*').to_string();
                    t
                })
                .collect(),
        }
    }

    fn fires(terms: &[&str], text: &str) -> Vec<String> {
        let m = Matcher::new(&[watch("w", terms)]);
        let text = normalize(text);
        m.check(&[(Field::Title, &text)])
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
        let m = Matcher::new(&[watch("csto", &["ОДКБ"])]);
        let text = normalize("Учения ОДКБ прошли");
        let fired = m.check(&[(Field::Summary, &text)]);
        let hit = &fired[0].matches[0];
        assert_eq!((hit.start, hit.end), (7, 11));
        assert_eq!(hit.snippet, "Учения ОДКБ прошли");
        assert_eq!(hit.field, Field::Summary);
    }

    #[test]
    fn each_watch_fires_once_with_all_its_reasons() {
        let m = Matcher::new(&[watch("cis", &["CIS", "СНГ"]), watch("csto", &["CSTO"])]);
        let title = normalize("CIS and СНГ, CIS again");
        let fired = m.check(&[(Field::Title, &title), (Field::Categories, "CIS")]);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].watch, "cis");
        assert_eq!(fired[0].matches.len(), 3); // CIS in title, СНГ in title, CIS in categories
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
