//! What a watch's rules make of the hits of its terms: whether it fires and, either way,
//! why, in words an operator can act on.
//!
//! A watch fires when every rule it has holds: one of its `terms` matched, something of
//! each `all` group matched, its two `near` terms stand within `within` words of each other
//! in one field, and none of its `not` terms matched anywhere it looks (an exclusion
//! suppresses the watch for the whole item). The matches of a fired watch name the terms
//! that made it fire and the rule each satisfied.

use serde::Serialize;

use super::{Field, Hit, Match, Role, Rule, SNIPPET_WIDTH, Watch, bit, quote};
use crate::text::{char_offset, is_word_char, snippet};

/// Whether a watch fires on its hits, or the first rule that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Fires; `near` is the pair of hits (indexes) that satisfied `near`, when it has one.
    Fires { near: Option<(usize, usize)> },
    /// The item was seen in none of the feeds the watch is limited to.
    OutOfFeeds,
    /// None of `terms` matched.
    NoAny,
    /// Nothing of this `all` group matched.
    MissingGroup(usize),
    /// The two `near` terms never stand close enough (or one is missing).
    NotNear,
    /// Every positive rule holds, but a `not` term matched.
    Excluded,
}

/// One watch's result on a text, for `feedwatch match`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explained {
    pub watch: String,
    pub fires: bool,
    /// Why it does not fire, in words; absent when it fires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What made it fire, or what matched of it when it does not fire.
    pub matches: Vec<Match>,
    /// The `not` terms that matched (they suppress the watch).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excluded_by: Vec<Match>,
}

/// Decides one watch from its hits (sorted by slot, field, start).
pub(super) fn verdict(
    w: &Watch,
    hits: &[Hit],
    feeds: Option<&[String]>,
    fields: &[(Field, &str)],
) -> Verdict {
    if let Some(feeds) = feeds
        && !w.feeds.is_empty()
        && !feeds.iter().any(|f| w.feeds.contains(f))
    {
        return Verdict::OutOfFeeds;
    }
    let has = |role: Role| hits.iter().any(|h| role_of(w, h) == role);
    if w.has_any && !has(Role::Any) {
        return Verdict::NoAny;
    }
    if let Some(g) = (0..w.groups).find(|&g| !has(Role::All(g))) {
        return Verdict::MissingGroup(g);
    }
    let near = match w.within {
        None => None,
        Some(within) => match closest_pair(w, hits, within, fields) {
            Some((i, j, _)) => Some((i, j)),
            None => return Verdict::NotNear,
        },
    };
    if has(Role::Not) {
        return Verdict::Excluded;
    }
    Verdict::Fires { near }
}

/// The matches of a fired watch: the first hit of each (term, field) of `terms` and `all`,
/// and the `near` pair, in field and text order.
pub(super) fn matches(
    w: &Watch,
    hits: &[Hit],
    near: Option<(usize, usize)>,
    fields: &[(Field, &str)],
) -> Vec<Match> {
    let mut out: Vec<Match> = first_per_term(hits)
        .filter_map(|h| {
            let rule = match role_of(w, h) {
                Role::Any => Rule::Any,
                Role::All(_) => Rule::All,
                Role::Not | Role::Near(_) => return None,
            };
            Some(make_match(w, h, rule, fields))
        })
        .collect();
    if let Some((i, j)) = near {
        out.push(make_match(w, &hits[i], Rule::Near, fields));
        out.push(make_match(w, &hits[j], Rule::Near, fields));
    }
    out.sort_by_key(|m| (m.field, m.start, m.end));
    out
}

/// One watch's verdict and its explanation.
pub(super) fn explain(
    w: &Watch,
    hits: &[Hit],
    feeds: Option<&[String]>,
    fields: &[(Field, &str)],
) -> Explained {
    let verdict = verdict(w, hits, feeds, fields);
    let excluded_by: Vec<Match> = first_per_term(hits)
        .filter(|h| role_of(w, h) == Role::Not)
        .map(|h| make_match(w, h, Rule::Not, fields))
        .collect();
    let matches = match verdict {
        Verdict::Fires { near } => matches(w, hits, near, fields),
        _ => {
            let mut partial: Vec<Match> = first_per_term(hits)
                .filter_map(|h| {
                    let rule = match role_of(w, h) {
                        Role::Any => Rule::Any,
                        Role::All(_) => Rule::All,
                        Role::Near(_) => Rule::Near,
                        Role::Not => return None,
                    };
                    Some(make_match(w, h, rule, fields))
                })
                .collect();
            partial.sort_by_key(|m| (m.field, m.start, m.end));
            partial
        }
    };
    let reason = reason(w, hits, verdict, fields, &excluded_by);
    Explained {
        watch: w.name.clone(),
        fires: reason.is_none(),
        reason,
        matches,
        excluded_by,
    }
}

fn reason(
    w: &Watch,
    hits: &[Hit],
    verdict: Verdict,
    fields: &[(Field, &str)],
    excluded_by: &[Match],
) -> Option<String> {
    let terms_of = |pick: &dyn Fn(Role) -> bool| {
        let terms: Vec<String> = w
            .terms
            .iter()
            .filter(|t| pick(t.role))
            .map(|t| quote(&t.text))
            .collect();
        if terms.len() > 6 {
            format!("{}, … ({} terms)", terms[..5].join(", "), terms.len())
        } else {
            terms.join(", ")
        }
    };
    let positive = hits.iter().any(|h| role_of(w, h) != Role::Not);
    let out_of_scope = || {
        let given: Vec<Field> = fields
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(f, _)| *f)
            .collect();
        let scope: Vec<&str> = w.field_list.iter().map(|f| f.name()).collect();
        if !given.is_empty() && given.iter().all(|f| w.fields & bit(*f) == 0) {
            format!(" (it looks only at {})", scope.join(", "))
        } else {
            String::new()
        }
    };
    Some(match verdict {
        Verdict::Fires { .. } => return None,
        Verdict::OutOfFeeds => format!("limited to feeds {}", w.feeds.join(", ")),
        _ if !positive && excluded_by.is_empty() => format!("no term matched{}", out_of_scope()),
        Verdict::NoAny => format!(
            "none of its terms matched ({})",
            terms_of(&|r| r == Role::Any)
        ),
        Verdict::MissingGroup(g) => format!(
            "all: nothing of group {} matched ({})",
            g + 1,
            terms_of(&|r| r == Role::All(g))
        ),
        Verdict::NotNear => {
            let within = w.within.unwrap_or(0);
            let missing: Vec<String> = (0..2)
                .filter(|&i| !hits.iter().any(|h| role_of(w, h) == Role::Near(i)))
                .map(|i| terms_of(&|r| r == Role::Near(i)))
                .collect();
            if missing.is_empty() {
                format!(
                    "near: {} and {} are never within {within} word{} of each other",
                    terms_of(&|r| r == Role::Near(0)),
                    terms_of(&|r| r == Role::Near(1)),
                    if within == 1 { "" } else { "s" }
                )
            } else {
                format!("near: {} did not match", missing.join(" and "))
            }
        }
        Verdict::Excluded => {
            let mut by: Vec<String> = excluded_by.iter().map(|m| quote(&m.term)).collect();
            by.dedup();
            format!("excluded by {}", by.join(", "))
        }
    })
}

/// The hits of `near`'s two terms in one field with the fewest words between them, if any
/// pair has at most `within`: (index of one, index of the other, words between).
fn closest_pair(
    w: &Watch,
    hits: &[Hit],
    within: usize,
    fields: &[(Field, &str)],
) -> Option<(usize, usize, usize)> {
    let of = |i: usize| {
        hits.iter()
            .enumerate()
            .filter(move |(_, h)| role_of(w, h) == Role::Near(i))
    };
    let mut best: Option<(usize, usize, usize)> = None;
    for (i, a) in of(0) {
        for (j, b) in of(1).filter(|(_, b)| b.field == a.field) {
            if (a.start, a.end) == (b.start, b.end) {
                continue; // one occurrence is not two terms near each other
            }
            let gap = words_between(text_of(fields, a.field), a, b, within);
            if gap <= within && best.is_none_or(|(_, _, g)| gap < g) {
                best = Some((i, j, gap));
                if gap == 0 {
                    return best;
                }
            }
        }
    }
    best
}

/// Words standing between two hits in `text` (0 when they touch or overlap), counted up to
/// `limit + 1` at most so that a long text between two far hits costs little.
fn words_between(text: &str, a: &Hit, b: &Hit, limit: usize) -> usize {
    let (first, second) = if a.start <= b.start { (a, b) } else { (b, a) };
    if second.start <= first.end {
        return 0;
    }
    let mut words = 0;
    let mut in_word = false;
    for c in text[first.end..second.start].chars() {
        let w = is_word_char(c);
        if w && !in_word {
            words += 1;
            if words > limit {
                return words;
            }
        }
        in_word = w;
    }
    words
}

/// The first hit of each run of one term in one field.
fn first_per_term(hits: &[Hit]) -> impl Iterator<Item = &Hit> {
    hits.chunk_by(|a, b| a.slot == b.slot && a.field == b.field)
        .map(|run| &run[0])
}

fn role_of(w: &Watch, h: &Hit) -> Role {
    w.terms[h.slot as usize].role
}

fn text_of<'a>(fields: &[(Field, &'a str)], field: Field) -> &'a str {
    fields
        .iter()
        .find(|(f, _)| *f == field)
        .map_or("", |(_, t)| t)
}

fn make_match(w: &Watch, h: &Hit, rule: Rule, fields: &[(Field, &str)]) -> Match {
    let text = text_of(fields, h.field);
    Match {
        term: w.terms[h.slot as usize].text.clone(),
        rule,
        field: h.field,
        text: text[h.start..h.end].to_string(),
        start: char_offset(text, h.start),
        end: char_offset(text, h.end),
        snippet: snippet(text, h.start, h.end, SNIPPET_WIDTH),
    }
}
