//! The outlet's text as shown, and where a match found in the normalised text lies in it.
//!
//! Watches match normalised text ([`crate::text::normalize`]: NFKC, `ё`→`е`, invisible
//! characters dropped), but what an analyst reads must be what the outlet wrote: "что всё
//! готово" is not "что все готово". So each text field is kept twice: shown
//! ([`html_to_shown`]: tags dropped, entities decoded, control and invisible characters
//! cleaned, whitespace collapsed, nothing else) for alerts, views and the store; and
//! normalised for matching, item keys and edit digests. [`relocate`] carries a match's offsets
//! from the normalised text into the shown one, so that its `text`, `start`/`end` and snippet
//! are the outlet's words.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

use crate::text::{char_offset, html_decode, is_invisible, snippet};
use crate::watch::{Field, Fired, Match, SNIPPET_WIDTH};

/// Between the parts of one field made of several elements (an item's content and the
/// extension texts matched as content): no word character, so no phrase matches across it.
pub const PART_SEPARATOR: &str = " ¶ ";

/// The shown text of an HTML (or plain-text) fragment: tags dropped, entities decoded, then
/// [`tidy`]. Normalising it gives what [`crate::text::html_to_text`] gives.
pub fn html_to_shown(html: &str) -> String {
    tidy(&html_decode(html))
}

/// `s` with control characters and runs of whitespace turned into one space, invisible
/// characters (zero-width, bidi controls, soft hyphen) removed and the ends trimmed: what
/// [`crate::text::normalize`] does, without NFKC and without `ё`→`е`.
pub fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    crate::text::collapse(s, false, &mut out);
    out
}

/// ([`tidy`], [`crate::text::normalize`]) of `s`, in one pass over it when `s` is already in
/// NFKC (as most news text is): normalising then only folds `ё` in the tidy text.
pub fn tidy_and_normalize(s: &str) -> (String, String) {
    let shown = tidy(s);
    let norm = if crate::text::is_nfkc(s) {
        if shown.contains(['ё', 'Ё']) {
            shown.replace('ё', "е").replace('Ё', "Е")
        } else {
            shown.clone()
        }
    } else {
        crate::text::normalize(s)
    };
    (shown, norm)
}

/// The character-at-a-time [`tidy`] it replaced: the oracle of its tests.
#[cfg(test)]
pub(crate) fn tidy_slow(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
        } else if !is_invisible(c) {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// `a` and `b` joined with [`PART_SEPARATOR`], either alone when the other is empty.
pub fn join<'a>(a: &'a str, b: &'a str) -> Cow<'a, str> {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => Cow::Borrowed(a),
        (true, false) => Cow::Borrowed(b),
        (false, false) => Cow::Owned(format!("{a}{PART_SEPARATOR}{b}")),
    }
}

/// Moves the matches of `fired` from the normalised texts into the shown ones: `fields` are
/// (field, normalised text, shown text). A field whose two texts are the same is left as it is.
pub fn relocate(fired: &mut [Fired], fields: &[(Field, &str, &str)]) {
    for m in fired.iter_mut().flat_map(|f| f.matches.iter_mut()) {
        if let Some(&(_, norm, shown)) = fields.iter().find(|(f, ..)| *f == m.field)
            && norm != shown
        {
            relocate_match(m, norm, shown);
        }
    }
}

fn relocate_match(m: &mut Match, norm: &str, shown: &str) {
    let byte = |text: &str, chars: usize| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(i, _)| i)
    };
    let (start, end) = (byte(norm, m.start), byte(norm, m.end));
    let (s, e) = span(shown, norm, start, end);
    m.text = shown[s..e].to_string();
    m.start = char_offset(shown, s);
    m.end = char_offset(shown, e);
    m.snippet = snippet(shown, s, e, SNIPPET_WIDTH);
}

/// The byte range of `shown` that the byte range `start..end` of `norm` (its normalisation)
/// comes from. `shown` is normalised piece by piece (a character with the combining marks
/// after it), each piece remembering where it came from; when that does not give `norm`
/// exactly (NFKC composing across pieces, as Hangul jamo do), the range is placed by
/// character count instead, which is close for the scripts news is written in.
pub fn span(shown: &str, norm: &str, start: usize, end: usize) -> (usize, usize) {
    match pieces(shown, norm) {
        Some(pieces) if !pieces.is_empty() => {
            let at = |pos: usize| pieces.partition_point(|p| p.0 <= pos).saturating_sub(1);
            let s = pieces[at(start)].1;
            let e = pieces[at(end.saturating_sub(1).max(start))].2;
            (s, e.max(s))
        }
        _ => {
            let chars = |text: &str, byte: usize| char_offset(text, byte);
            let to_byte = |n: usize| shown.char_indices().nth(n).map_or(shown.len(), |(i, _)| i);
            let s = to_byte(chars(norm, start));
            (s, to_byte(chars(norm, end)).max(s))
        }
    }
}

/// For each piece of `shown` that yields normalised text: (where its output starts in the
/// normalised text, its start and end in `shown`); `None` when the pieces together do not
/// give `norm`.
fn pieces(shown: &str, norm: &str) -> Option<Vec<(usize, usize, usize)>> {
    let mut out = String::with_capacity(norm.len());
    let mut pieces = Vec::new();
    let mut pending = false;
    let mut chars = shown.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let mut end = start + c.len_utf8();
        while let Some(&(i, next)) = chars.peek() {
            if canonical_combining_class(next) == 0 {
                break;
            }
            end = i + next.len_utf8();
            chars.next();
        }
        let at = out.len();
        for d in shown[start..end].nfkc() {
            // as crate::text::normalize does it
            if d.is_whitespace() || d.is_control() {
                pending = !out.is_empty();
            } else if !is_invisible(d) {
                if pending {
                    out.push(' ');
                    pending = false;
                }
                out.push(match d {
                    'ё' => 'е',
                    'Ё' => 'Е',
                    d => d,
                });
            }
        }
        if out.len() > at {
            pieces.push((at, start, end));
        }
    }
    (out == norm).then_some(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{html_to_text, normalize};

    #[test]
    fn shown_text_keeps_the_outlets_letters() {
        let html = "<p>ОДКБ проведёт&nbsp;учения:</p>\u{200B}<p>«что всё\tготово»</p> ＣＩＳ";
        assert_eq!(
            html_to_shown(html),
            "ОДКБ проведёт учения: «что всё готово» ＣＩＳ"
        );
        assert_eq!(normalize(&html_to_shown(html)), html_to_text(html));
    }

    #[test]
    fn spans_point_into_the_shown_text() {
        let shown = "Ёлка, ﬁnance и е\u{301}ж: ＣＩＳ всё";
        let norm = normalize(shown);
        for word in ["Елка", "finance", "CIS", "все"] {
            let at = norm.find(word).unwrap();
            let (s, e) = span(shown, &norm, at, at + word.len());
            assert_eq!(normalize(&shown[s..e]), word, "{word}: {:?}", &shown[s..e]);
        }
        let at = norm.find("ж").unwrap();
        let (s, e) = span(shown, &norm, at - "é".len(), at);
        assert_eq!(&shown[s..e], "е\u{301}");
    }

    #[test]
    fn a_text_that_does_not_normalise_piecewise_is_placed_by_characters() {
        // Hangul jamo compose across pieces: NFKC of the whole differs from the pieces'
        let shown = "x \u{1100}\u{1161} y";
        let norm = normalize(shown);
        let at = norm.find('y').unwrap();
        let (s, e) = span(shown, &norm, at, at + 1);
        assert!(s <= e && e <= shown.len() && shown.is_char_boundary(s));
    }

    /// The run-copying [`tidy`] gives what the character-at-a-time one gave, and
    /// [`tidy_and_normalize`] what tidy and normalize give one by one.
    #[test]
    fn tidy_fast_path_agrees_with_the_slow_one() {
        for s in crate::text::tests::random_texts(20_000) {
            let decoded = html_decode(&s);
            for t in [&s[..], &decoded[..]] {
                assert_eq!(tidy(t), tidy_slow(t), "{t:?}");
                assert_eq!(
                    tidy_and_normalize(t),
                    (tidy_slow(t), crate::text::tests::normalize_slow(t)),
                    "{t:?}"
                );
            }
        }
    }

    #[test]
    fn join_skips_empty_parts() {
        assert_eq!(join("a", ""), "a");
        assert_eq!(join("", "b"), "b");
        assert_eq!(join("a", "b"), "a ¶ b");
        assert_eq!(normalize(&join("a", "b")), "a ¶ b");
    }
}
