//! Terms, wherever a watch lists them (`terms`, `all`, `not`, `near`): plain words, or an
//! inline table with options (`{ term = "...", case = "...", stem = true }`), or a regex
//! (`{ regex = "..." }`), checked here so that a bad one is reported with its line.

use regex::Regex;
use toml::de::{DeTable, DeValue};

use super::reader::{Reader, Value};

/// The keys of a term written as an inline table, wherever a term may stand.
const TERM_KEYS: &[&str] = &["term", "regex", "case", "stem"];

/// One term of a watch, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermConfig {
    /// The words as configured, or the pattern when `regex` is set.
    pub text: String,
    pub case: CaseMode,
    /// Prefix match: the term may be followed by more letters of the same word.
    pub stem: bool,
    /// `text` is a regular expression, matched as written over the normalised text.
    pub regex: bool,
}

impl TermConfig {
    /// Plain words with the `auto` case rule and no stemming.
    pub fn words(text: &str) -> TermConfig {
        TermConfig {
            text: text.to_string(),
            case: CaseMode::Auto,
            stem: false,
            regex: false,
        }
    }
}

/// How a term treats letter case (`case`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseMode {
    /// All-capitals terms are acronyms (case-sensitive); others are case-insensitive.
    #[default]
    Auto,
    Sensitive,
    Insensitive,
}

/// Compiles a regex term as the matcher runs it: over normalised text, case-insensitive
/// only when `case = "insensitive"` (otherwise as written: `(?i)` works), at most 1 MiB
/// compiled. A pattern that matches the empty text is refused: it would match every item.
/// The error is one line, for a config message.
pub fn compile_regex(pattern: &str, case: CaseMode) -> Result<Regex, String> {
    let re = regex::RegexBuilder::new(pattern)
        .case_insensitive(case == CaseMode::Insensitive)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(s) => format!(
                "invalid regex {pattern:?}: {}",
                s.lines()
                    .rfind(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim_start_matches("error: ")
            ),
            regex::Error::CompiledTooBig(_) => format!(
                "regex {pattern:?} is too big (over 1 MiB compiled); split it into several terms"
            ),
            e => format!("invalid regex {pattern:?}: {e}"),
        })?;
    if re.is_match("") {
        return Err(format!(
            "regex {pattern:?} matches empty text, so it would fire on every item; make it need at least one character"
        ));
    }
    Ok(re)
}

impl Reader<'_> {
    /// `name = [term, ...]`, non-empty. `None` when absent or not a list (reported).
    pub(super) fn term_list(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        name: &str,
        opts: (CaseMode, bool),
    ) -> Option<Vec<TermConfig>> {
        let v = t.get(name)?;
        match v.get_ref() {
            DeValue::Array(a) if !a.is_empty() => Some(
                a.iter()
                    .enumerate()
                    .filter_map(|(j, term)| self.term(term, &format!("{key}.{name}[{j}]"), opts))
                    .collect(),
            ),
            _ => {
                self.error(
                    v.span().start,
                    &format!("{key}.{name}"),
                    "expected a non-empty list of terms, e.g. [\"CSTO\", \"ОДКБ\"]",
                );
                None
            }
        }
    }

    /// A term: a string, or `{ term = "...", case = "...", stem = true }`, or
    /// `{ regex = "...", case = "..." }`. `opts` are the watch's case and stem.
    pub(super) fn term(
        &mut self,
        v: &Value<'_>,
        key: &str,
        opts: (CaseMode, bool),
    ) -> Option<TermConfig> {
        let (case, stem) = opts;
        let (text, case, stem, regex, at) = match v.get_ref() {
            DeValue::String(s) => (s.to_string(), case, stem, false, v.span().start),
            DeValue::Table(t) => {
                self.check_keys(t, key, TERM_KEYS);
                let case = self.case(t, key).unwrap_or(case);
                let own_stem = self.boolean(t, key, "stem");
                let term = self.string(t, key, "term");
                let regex = self.string(t, key, "regex");
                match (term, regex) {
                    (Some((text, span)), None) => {
                        (text, case, own_stem.unwrap_or(stem), false, span.start)
                    }
                    (None, Some((pattern, span))) => {
                        if own_stem == Some(true) {
                            self.error(
                                t.get("stem").map_or(span.start, |s| s.span().start),
                                &format!("{key}.stem"),
                                "stem does not apply to a regex; let the pattern take the rest of the word, e.g. regex = \"Содружеств\\\\w*\"",
                            );
                        }
                        (pattern, case, false, true, span.start)
                    }
                    (Some(_), Some((_, span))) => {
                        self.error(
                            span.start,
                            &format!("{key}.regex"),
                            "a term is either words (term = ...) or a pattern (regex = ...), not both",
                        );
                        return None;
                    }
                    (None, None) => {
                        self.error(
                            v.span().start,
                            &format!("{key}.term"),
                            "missing: an inline term needs term = \"...\" (or regex = \"...\")",
                        );
                        return None;
                    }
                }
            }
            _ => {
                self.error(v.span().start, key, "expected a string, or an inline table such as { term = \"CIS\", case = \"insensitive\" }");
                return None;
            }
        };
        if regex {
            if let Err(e) = compile_regex(&text, case) {
                self.error(at, &format!("{key}.regex"), e);
                return None;
            }
        } else if crate::text::normalize(&text)
            .chars()
            .all(|c| !crate::text::is_word_char(c))
        {
            self.error(
                at,
                key,
                format!("term {text:?} has no letters or digits and would match nothing useful"),
            );
            return None;
        }
        Some(TermConfig {
            text,
            case,
            stem,
            regex,
        })
    }

    pub(super) fn case(&mut self, t: &DeTable<'_>, key: &str) -> Option<CaseMode> {
        let (s, span) = self.string(t, key, "case")?;
        match s.as_str() {
            "auto" => Some(CaseMode::Auto),
            "sensitive" => Some(CaseMode::Sensitive),
            "insensitive" => Some(CaseMode::Insensitive),
            _ => {
                self.error(
                    span.start,
                    &format!("{key}.case"),
                    format!(
                        "{s:?} is not a case mode; use \"auto\", \"sensitive\" or \"insensitive\""
                    ),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Env, parse};
    use super::*;

    #[test]
    fn terms_may_carry_options() {
        let c = parse(
            "[[feeds]]\nname='a'\nurl='http://x/'\n[[watch]]\nname='w'\nstem=true\nterms=['Содружеств', { term = 'cis', case = 'sensitive', stem = false }]\n",
            "t",
            None,
            &Env::default(),
        )
        .unwrap();
        let t = &c.watches[0].terms;
        assert!(t[0].stem && t[0].case == CaseMode::Auto);
        assert!(!t[1].stem && t[1].case == CaseMode::Sensitive);
    }
}
