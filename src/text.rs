//! Turning feed markup into the plain text that watches match against.
//!
//! Matching is on text, not markup (DESIGN.md): tags are dropped (their attributes never
//! match), entities decoded, Unicode brought to NFKC, zero-width and bidi-control characters
//! removed, `ё` folded to `е`, control characters neutralised and whitespace collapsed, so a
//! phrase matches across line breaks and a feed cannot forge or break an alert line.
//! Terms go through [`normalize`] too, so both sides agree.

use unicode_normalization::UnicodeNormalization;

/// Plain text of an HTML (or plain-text) fragment, normalised with [`normalize`].
pub fn html_to_text(html: &str) -> String {
    normalize(&html_decode(html))
}

/// An HTML (or plain-text) fragment with its tags dropped and its entities decoded, not yet
/// normalised: what [`html_to_text`] normalises and [`crate::shown`] shows.
pub fn html_decode(html: &str) -> std::borrow::Cow<'_, str> {
    if !html.contains('<') && !html.contains('&') {
        return std::borrow::Cow::Borrowed(html);
    }
    let stripped = if html.contains('<') {
        strip_tags(html)
    } else {
        html.to_string()
    };
    if !stripped.contains('&') {
        return std::borrow::Cow::Owned(stripped);
    }
    let mut out = String::with_capacity(stripped.len());
    html_escape::decode_html_entities_to_string(&stripped, &mut out);
    std::borrow::Cow::Owned(out)
}

/// Drops tags, comments, CDATA markers and the bodies of `script`/`style`. Inline tags
/// (`<b>`, `<a>`, ...) vanish without a trace so "<b>C</b>IS" stays one word; every other tag
/// becomes a space so "</p><p>" never glues two words together.
fn strip_tags(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    let mut text_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        let next = bytes.get(i + 1).copied().unwrap_or(b' ');
        if !(next.is_ascii_alphabetic() || next == b'/' || next == b'!' || next == b'?') {
            i += 1; // a lone "<" in text, as in "a < b"
            continue;
        }
        out.push_str(&html[text_start..i]);
        if html[i..].starts_with("<!--") {
            i = find_from(html, i + 4, "-->").map_or(bytes.len(), |e| e + 3);
            out.push(' ');
        } else if html[i..].starts_with("<![CDATA[") {
            // keep the content of a CDATA section as text
            let start = i + 9;
            let end = find_from(html, start, "]]>").unwrap_or(bytes.len());
            out.push_str(&html[start..end]);
            i = (end + 3).min(bytes.len());
        } else {
            let end = tag_end(bytes, i + 1);
            let name = tag_name(&html[i + 1..end.min(bytes.len())]);
            i = (end + 1).min(bytes.len());
            let closing = next == b'/';
            if !closing && (name == "script" || name == "style") {
                // skip to the matching close tag; its contents are not text
                let close = format!("</{name}");
                i = find_ascii_ci(html, i, &close)
                    .map(|p| tag_end(bytes, p + 1) + 1)
                    .unwrap_or(bytes.len())
                    .min(bytes.len());
                out.push(' ');
            } else if !is_inline(&name) {
                out.push(' ');
            }
        }
        text_start = i;
    }
    if text_start < bytes.len() {
        out.push_str(&html[text_start..]);
    }
    out
}

/// Index of the `>` that closes a tag opened before `from`, skipping quoted attribute values.
fn tag_end(bytes: &[u8], from: usize) -> usize {
    let mut quote = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return i,
            None => {}
        }
        i += 1;
    }
    bytes.len()
}

fn tag_name(tag: &str) -> String {
    tag.trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn is_inline(name: &str) -> bool {
    matches!(
        name,
        "a" | "abbr"
            | "b"
            | "bdi"
            | "bdo"
            | "cite"
            | "code"
            | "data"
            | "dfn"
            | "em"
            | "font"
            | "i"
            | "kbd"
            | "mark"
            | "q"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strike"
            | "strong"
            | "sub"
            | "sup"
            | "time"
            | "u"
            | "var"
            | "wbr"
    )
}

fn find_from(hay: &str, from: usize, needle: &str) -> Option<usize> {
    hay.get(from..)?.find(needle).map(|p| p + from)
}

fn find_ascii_ci(hay: &str, from: usize, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    (from..h.len().saturating_sub(n.len() - 1)).find(|&p| h[p..p + n.len()].eq_ignore_ascii_case(n))
}

/// An item's link as text a watch can match (`fields = ["link"]`): percent-escapes
/// decoded, so that a Cyrillic slug reads as words, then normalised. Separators such as
/// `/`, `-` and `.` stay, and they are word boundaries.
pub fn link_to_text(link: &str) -> String {
    let bytes = link.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
    while i < bytes.len() {
        if let (b'%', Some(h), Some(l)) = (bytes[i], hex(i + 1), hex(i + 2)) {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    normalize(&String::from_utf8_lossy(&out))
}

/// NFKC, invisible characters removed, `ё`→`е`, controls neutralised, whitespace collapsed
/// to single spaces and trimmed.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    normalize_into(s, &mut out);
    out
}

/// [`normalize`] into a reused buffer (cleared first). Text that is already in NFKC (all
/// ASCII and basic Cyrillic, and most other news text: [`is_nfkc`]) skips the NFKC pass;
/// the rest is brought to NFKC in a per-thread scratch buffer first. Either way the text is
/// then copied in runs of plain characters (`collapse`), not a character at a time.
pub fn normalize_into(s: &str, out: &mut String) {
    out.clear();
    if is_nfkc(s) {
        collapse(s, true, out);
        return;
    }
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut nfkc) => {
            nfkc.clear();
            nfkc_by_words(s, &mut nfkc);
            collapse(&nfkc, true, out);
            if nfkc.capacity() > 1 << 20 {
                *nfkc = String::new(); // a huge document's buffer is not kept for ever
            }
        }
        Err(_) => collapse(&s.nfkc().collect::<String>(), true, out),
    });
}

/// Appends `s` in NFKC (up to [`is_nfkc`]'s spaces) to `out`, bringing to NFKC only the
/// words that need it. NFKC never reaches across an ASCII space or control character:
/// such a character is a starter that composes with nothing before it, and nothing
/// composes with it but marks after it, which stay in the next word.
fn nfkc_by_words(s: &str, out: &mut String) {
    let mut rest = s;
    while !rest.is_empty() {
        let end = rest
            .bytes()
            .skip(1)
            .position(|b| b <= b' ' || b == 0x7F)
            .map_or(rest.len(), |p| p + 1);
        let (word, tail) = rest.split_at(end);
        if is_nfkc(word) {
            out.push_str(word);
        } else {
            out.extend(word.nfkc());
        }
        rest = tail;
    }
}

/// Whether [`normalize`] may skip the NFKC pass on `s`: whether `s` is in NFKC once the
/// spaces that NFKC turns into U+0020 (no-break, thin, ideographic...)
/// are read as U+0020, which whitespace collapsing treats alike anyway. A byte sweep for
/// ASCII, U+00A0 and the basic Cyrillic block (U+0400..U+045F), else Unicode's quick check
/// (whose "maybe" counts as no).
pub fn is_nfkc(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0..0x80 => i += 1,
            // U+00A0
            0xC2 if b.get(i + 1) == Some(&0xA0) => i += 2,
            // U+0400..U+043F and U+0440..U+045F
            0xD0 if b.get(i + 1).is_some_and(|&x| x & 0xC0 == 0x80) => i += 2,
            0xD1 if b.get(i + 1).is_some_and(|&x| (0x80..0xA0).contains(&x)) => i += 2,
            _ => {
                let chars = s[i..]
                    .chars()
                    .map(|c| if is_nfkc_space(c) { ' ' } else { c });
                return unicode_normalization::is_nfkc_quick(chars)
                    == unicode_normalization::IsNormalized::Yes;
            }
        }
    }
    true
}

/// Whitespace characters whose NFKC is one U+0020.
fn is_nfkc_space(c: char) -> bool {
    matches!(
        c,
        '\u{A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// Appends `s` to `out` the way [`normalize`] treats NFKC text (and [`crate::shown::tidy`]
/// any text, with `fold_yo` false): whitespace and control characters collapse to one space
/// between words, invisible characters vanish, and with `fold_yo` `ё`/`Ё` become `е`/`Е`.
/// Runs of characters kept as they are go in with one copy each; ASCII and basic Cyrillic
/// are recognised from their bytes.
pub(crate) fn collapse(s: &str, fold_yo: bool, out: &mut String) {
    let b = s.as_bytes();
    let mut pending = false;
    let mut run = 0; // start of the run of kept characters not yet copied
    let mut i = 0;
    // copies a run of kept characters, after a space if one is due
    let flush = |out: &mut String, pending: &mut bool, from: usize, to: usize| {
        if from < to {
            if *pending {
                out.push(' ');
                *pending = false;
            }
            out.push_str(&s[from..to]);
        }
    };
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            if c > b' ' && c != 0x7F {
                i += 1;
                continue;
            }
            // ASCII whitespace or control
            flush(out, &mut pending, run, i);
            pending = !out.is_empty();
            i += 1;
            run = i;
            continue;
        }
        if c == 0xD0 || c == 0xD1 {
            // U+0400..U+047F: letters, never space, control or invisible
            let yo = (c == 0xD0 && b.get(i + 1) == Some(&0x81))
                || (c == 0xD1 && b.get(i + 1) == Some(&0x91));
            if fold_yo && yo {
                flush(out, &mut pending, run, i);
                if pending {
                    out.push(' ');
                    pending = false;
                }
                out.push(if c == 0xD0 { 'Е' } else { 'е' });
                i += 2;
                run = i;
            } else {
                i += 2;
            }
            continue;
        }
        let ch = s[i..].chars().next().expect("a character starts here");
        let len = ch.len_utf8();
        if ch.is_whitespace() || ch.is_control() {
            flush(out, &mut pending, run, i);
            pending = !out.is_empty();
            run = i + len;
        } else if is_invisible(ch) {
            flush(out, &mut pending, run, i);
            run = i + len;
        }
        i += len;
    }
    flush(out, &mut pending, run, b.len());
}

/// Characters that change nothing a reader sees but split words for a matcher, or reorder
/// what a terminal shows (bidi controls could disguise an alert line).
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' // soft hyphen
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM/RLM
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{FEFF}' // BOM / zero-width no-break space
    )
}

/// Lower-cases `s` one character at a time, keeping every character's UTF-8 length, so that
/// byte offsets in the folded text are byte offsets in `s`. A character whose lower case has
/// another length (rare after NFKC, e.g. `İ`) is kept as it is.
pub fn fold_case(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    fold_case_into(s, &mut out);
    // folding maps whole characters to whole characters of the same length
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`fold_case`] into a reused byte buffer (cleared first), for the matcher's hot path.
///
/// ASCII and the basic Cyrillic block (U+0400..U+045F, which covers Russian, Ukrainian,
/// Belarusian, Serbian, ...) are folded in one branch-free sweep in which each byte is a
/// function of itself and its neighbours: news text mixes scripts word by word, which
/// defeats a branch predictor. Any other non-ASCII letter (Latin-1, Greek, ...) is then
/// folded through Unicode's lower case, in a second pass that only runs when there is one.
pub fn fold_case_into(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.clear();
    out.extend_from_slice(bytes);
    if s.is_ascii() {
        out.make_ascii_lowercase();
        return;
    }
    let n = bytes.len();
    // n >= 2: a non-ASCII character takes two bytes at least
    out[0] = fold_byte(0, bytes[0], bytes[1]);
    out[n - 1] = fold_byte(bytes[n - 2], bytes[n - 1], 0);
    let mut other = needs_unicode(bytes[0], bytes[1]) | needs_unicode(bytes[n - 1], 0);
    // three shifted views, no index arithmetic: the loop vectorises
    let (prev, cur, next) = (&bytes[..n - 2], &bytes[1..n - 1], &bytes[2..]);
    for (((o, &p), &c), &x) in out[1..n - 1].iter_mut().zip(prev).zip(cur).zip(next) {
        *o = fold_byte(p, c, x);
        other |= needs_unicode(c, x);
    }
    if other {
        for (i, c) in s.char_indices() {
            if c.is_ascii() || ('\u{0400}'..='\u{045F}').contains(&c) {
                continue;
            }
            let mut lower = c.to_lowercase();
            if let (Some(l), None) = (lower.next(), lower.next())
                && l != c
                && l.len_utf8() == c.len_utf8()
            {
                l.encode_utf8(&mut out[i..i + c.len_utf8()]);
            }
        }
    }
}

/// One byte of the ASCII + basic Cyrillic fold, from the bytes around it: A-Z → a-z;
/// Ѐ-Џ D0 80-8F → D1 90-9F; А-П D0 90-9F → D0 B0-BF; Р-Я D0 A0-AF → D1 80-8F. 0xD0 is
/// always a lead byte, so "after 0xD0" means "second byte of a U+0400..U+043F letter".
/// Non-short-circuit `&` and `|` keep it free of branches.
#[inline(always)]
fn fold_byte(prev: u8, cur: u8, next: u8) -> u8 {
    let in16 = |b: u8, from: u8| b.wrapping_sub(from) < 0x10;
    let ascii_upper = cur.wrapping_sub(b'A') < 26;
    let lead_up = (cur == 0xD0) & (in16(next, 0x80) | in16(next, 0xA0));
    let after_d0 = prev == 0xD0;
    let add = (ascii_upper as u8) * 0x20
        + (lead_up as u8)
        + ((after_d0 & in16(cur, 0x80)) as u8) * 0x10
        + ((after_d0 & in16(cur, 0x90)) as u8) * 0x20;
    let sub = ((after_d0 & in16(cur, 0xA0)) as u8) * 0x20;
    cur.wrapping_add(add).wrapping_sub(sub)
}

/// Whether the character starting with `cur` (followed by `next`) is a non-ASCII letter
/// outside U+0400..U+045F, which [`fold_byte`] leaves to Unicode's lower case.
#[inline(always)]
fn needs_unicode(cur: u8, next: u8) -> bool {
    ((cur >= 0xC0) & (cur != 0xD0) & (cur != 0xD1)) | ((cur == 0xD1) & (next >= 0xA0))
}

/// Whether `c` belongs to a word, for whole-word matching: letters, digits, marks and `_`.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || is_mark(c)
}

fn is_mark(c: char) -> bool {
    // combining marks left after NFKC (e.g. stress accents in Russian texts)
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{0483}'..='\u{0489}')
}

/// The text around `start..end` (byte offsets in `text`), about `width` characters long,
/// cut at character boundaries, with "…" where it was cut.
pub fn snippet(text: &str, start: usize, end: usize, width: usize) -> String {
    let match_chars = text[start..end].chars().count();
    let side = width.saturating_sub(match_chars) / 2;
    let from = match side {
        0 => start,
        _ => text[..start]
            .char_indices()
            .rev()
            .nth(side - 1)
            .map_or(0, |(i, _)| i),
    };
    let to = text[end..]
        .char_indices()
        .nth(side)
        .map_or(text.len(), |(i, _)| end + i);
    let mut s = String::new();
    if from > 0 {
        s.push('…');
    }
    s.push_str(text[from..to].trim());
    if to < text.len() {
        s.push('…');
    }
    s
}

/// Longest outside text (an error message quoting a document, a `Location`) shown, logged
/// or stored by [`sanitize`], in characters.
pub const MAX_SHOWN: usize = 1000;

/// Text that came from outside (an error message from reqwest, feed-rs or the system, a
/// header, a stored error of an older version) as it may be shown, logged or stored: escape
/// sequences removed whole ([`clean`]), URL userinfo and query values redacted
/// ([`crate::redact::redact_urls_in`]), at most [`MAX_SHOWN`] characters ([`cap`]). The one
/// function every such text goes through before it reaches a terminal, a log or the store.
pub fn sanitize(s: &str) -> String {
    cap(&crate::redact::redact_urls_in(&clean(s)), MAX_SHOWN)
}

/// `s` without terminal escape sequences (CSI `ESC [ ... m`, OSC `ESC ] ... BEL` such as a
/// window title, DCS/APC/PM strings, their 8-bit C1 forms) and without bidi controls or
/// other invisible characters; every other control character (newlines included) becomes a
/// space, runs of whitespace collapse to one space and the ends are trimmed: one line a
/// terminal shows as it is. Unlike [`normalize`] it keeps the characters themselves (no NFKC, no `ё`).
pub fn clean(s: &str) -> String {
    let plain = |c: char| !(c.is_control() || is_invisible(c) || c.is_whitespace() && c != ' ');
    if s.chars().all(plain) && !s.contains("  ") {
        return s.trim().to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut space = false;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let introducer = match c {
            '\u{1b}' => {
                let Some(&next) = chars.get(i) else { break };
                i += 1;
                match next {
                    '[' => '\u{9b}',
                    ']' => '\u{9d}',
                    'P' | 'X' | '^' | '_' => '\u{90}',
                    // a two-character sequence (ESC 7, ESC c, ...); charset ones take one more
                    '(' | ')' | '*' | '+' | '-' | '.' | '/' | '#' | '%' | ' ' => {
                        i += 1;
                        continue;
                    }
                    _ => continue,
                }
            }
            c @ ('\u{9b}' | '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}') => c,
            _ => {
                if c.is_control() || c.is_whitespace() {
                    space = true;
                } else if !is_invisible(c) {
                    if space && !out.is_empty() {
                        out.push(' ');
                    }
                    space = false;
                    out.push(c);
                }
                continue;
            }
        };
        if introducer == '\u{9b}' {
            // CSI: parameter and intermediate bytes, then one final byte
            while i < chars.len() && ('\u{20}'..='\u{3f}').contains(&chars[i]) {
                i += 1;
            }
            if i < chars.len() && ('\u{40}'..='\u{7e}').contains(&chars[i]) {
                i += 1;
            }
        } else {
            // a string (OSC, DCS, ...): up to BEL, ST (ESC \ or U+009C), or the end
            while i < chars.len() {
                match chars[i] {
                    '\u{7}' | '\u{9c}' => {
                        i += 1;
                        break;
                    }
                    '\u{1b}' => {
                        i += usize::from(chars.get(i + 1) == Some(&'\\')) + 1;
                        break;
                    }
                    _ => i += 1,
                }
            }
        }
    }
    out.trim_end().to_string()
}

/// `s` cut to at most `max` characters: at the last space before the limit when there is
/// one in the second half, else inside a word, and marked with "…" (counted in `max`).
pub fn cap(s: &str, max: usize) -> String {
    let Some((limit, _)) = s.char_indices().nth(max) else {
        return s.to_string();
    };
    // room for the "…"
    let end = s[..limit].char_indices().next_back().map_or(0, |(i, _)| i);
    let head = &s[..end];
    let half = head.chars().count() / 2;
    let cut = match head.rfind(char::is_whitespace) {
        Some(at) if head[..at].chars().count() >= half && at > 0 => &head[..at],
        _ => head,
    };
    let mut out = cut.trim_end().to_string();
    out.push('…');
    out
}

/// Character offset of byte offset `byte` in `text`.
pub fn char_offset(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The character-at-a-time [`normalize`] it replaced: the oracle of its tests.
    pub(crate) fn normalize_slow(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut pending_space = false;
        let mut push = |out: &mut String, c: char| {
            if c.is_whitespace() || c.is_control() {
                pending_space = !out.is_empty();
                return;
            }
            if is_invisible(c) {
                return;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(match c {
                'ё' => 'е',
                'Ё' => 'Е',
                c => c,
            });
        };
        if s.is_ascii() {
            for c in s.chars() {
                push(&mut out, c);
            }
        } else {
            for c in s.nfkc() {
                push(&mut out, c);
            }
        }
        out
    }

    #[test]
    fn tags_are_dropped_and_attributes_never_become_text() {
        assert_eq!(
            html_to_text(r#"<p class="CIS">one</p><p>two <a href="/cis">link</a></p>"#),
            "one two link"
        );
    }

    #[test]
    fn inline_tags_do_not_split_words_but_blocks_do() {
        assert_eq!(html_to_text("<b>C</b>IS"), "CIS");
        assert_eq!(html_to_text("end.</p><p>Next"), "end. Next");
        assert_eq!(html_to_text("line<br>break"), "line break");
    }

    #[test]
    fn entities_are_decoded_after_tags_are_gone() {
        assert_eq!(
            html_to_text("AT&amp;T &lt;b&gt; &nbsp;x &eacute;"),
            "AT&T <b> x é"
        );
        assert_eq!(html_to_text("&#1057;&#1053;&#1043;"), "СНГ");
    }

    #[test]
    fn scripts_styles_and_comments_are_not_text() {
        assert_eq!(
            html_to_text("a<script>var CIS=1;</script>b<style>.CIS{}</style>c<!-- CIS -->d"),
            "a b c d"
        );
    }

    #[test]
    fn a_lone_less_than_sign_is_text() {
        assert_eq!(html_to_text("a < b and c<3"), "a < b and c<3");
    }

    #[test]
    fn normalize_collapses_whitespace_and_removes_invisibles() {
        assert_eq!(
            normalize("  Common\u{200B}wealth\n\t of\r\nStates "),
            "Commonwealth of States"
        );
        assert_eq!(normalize("Объединённые"), "Объединенные");
        assert_eq!(normalize("ＣＩＳ"), "CIS"); // NFKC folds full-width letters
        assert_eq!(normalize("a\u{202E}b\u{0007}c"), "ab c");
        // no-break and typographic spaces are spaces; the NFKC shortcut keeps results equal
        assert_eq!(
            normalize("СНГ\u{00A0}и\u{2009}ОДКБ\u{3000}x"),
            "СНГ и ОДКБ x"
        );
        assert_eq!(normalize("\u{00A0}e\u{0301} ﬁ"), "é fi");
    }

    /// Random strings over an alphabet of the characters the text functions treat apart:
    /// ASCII letters, spaces and controls, Cyrillic with `ё`, invisibles, no-break and
    /// typographic spaces, combining marks, compatibility characters, Hangul jamo, tags and
    /// entities. A fixed seed: the same strings on every run.
    pub(crate) fn random_texts(n: usize) -> Vec<String> {
        const ALPHABET: &[&str] = &[
            "a",
            "Z",
            "CIS",
            " ",
            "  ",
            "\t",
            "\n",
            "\r\n",
            "\u{0}",
            "\u{7}",
            "\u{7f}",
            "\u{1b}[31m",
            ".",
            ",",
            "-",
            "СНГ",
            "ОДКБ",
            "ё",
            "Ё",
            "всё",
            "Ѐ",
            "ѿ",
            "\u{200B}",
            "\u{202E}",
            "\u{FEFF}",
            "\u{AD}",
            "\u{85}",
            "\u{A0}",
            "\u{2009}",
            "\u{202F}",
            "\u{3000}",
            "\u{301}",
            "\u{308}",
            "е\u{301}",
            "ﬁ",
            "ＣＩＳ",
            "…",
            "«",
            "»",
            "—",
            "é",
            "ß",
            "İ",
            "Σ",
            "ς",
            "\u{1100}",
            "\u{1161}",
            "한",
            "😀",
            "<b>",
            "</p>",
            "<br>",
            "<script>x</script>",
            "<!-- c -->",
            "&amp;",
            "&nbsp;",
            "&#1057;",
            "&",
            "<",
            "½",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..n)
            .map(|_| {
                let len = (next() % 24) as usize;
                (0..len)
                    .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    /// The run-copying [`normalize`] gives what the character-at-a-time one gave, and
    /// [`is_nfkc`] never says yes to a text that NFKC changes.
    #[test]
    fn normalize_fast_path_agrees_with_the_slow_one() {
        for s in random_texts(20_000) {
            assert_eq!(normalize(&s), normalize_slow(&s), "{s:?}");
            let decoded = html_decode(&s);
            assert_eq!(normalize(&decoded), normalize_slow(&decoded), "{s:?}");
            if is_nfkc(&s) {
                let spaced: String = s
                    .chars()
                    .map(|c| if is_nfkc_space(c) { ' ' } else { c })
                    .collect();
                assert_eq!(s.nfkc().collect::<String>(), spaced, "{s:?}");
            }
        }
        for c in '\u{21}'..'\u{3100}' {
            let space = c.is_whitespace() && c.nfkc().eq([' ']);
            assert_eq!(is_nfkc_space(c), space, "{c:?}");
        }
        let cyrillic: String = ('\u{0400}'..'\u{0480}').collect();
        assert!(is_nfkc(&cyrillic));
        assert_eq!(normalize(&cyrillic), normalize_slow(&cyrillic));
    }

    /// The byte-level fast path agrees with Unicode's lower case for every character of
    /// the Latin, Greek and Cyrillic blocks and the Latin extensions, alone and mixed.
    #[test]
    fn fold_case_fast_path_agrees_with_unicode() {
        let all: String = ('\u{0}'..'\u{0530}')
            .chain('\u{1E00}'..'\u{1F00}')
            .collect();
        let slow: String = all
            .chars()
            .map(|c| {
                let mut l = c.to_lowercase();
                match (l.next(), l.next()) {
                    (Some(x), None) if x.len_utf8() == c.len_utf8() => x,
                    _ => c,
                }
            })
            .collect();
        assert_eq!(fold_case(&all), slow);
        let cyrillic: String = ('\u{0400}'..'\u{0460}').chain('A'..'z').collect();
        assert_eq!(fold_case(&cyrillic), cyrillic.to_lowercase());
    }

    #[test]
    fn fold_case_keeps_byte_offsets() {
        for s in ["CIS and СНГ", "İstanbul ΣΑΣ", "ОДКБ"] {
            assert_eq!(fold_case(s).len(), s.len());
        }
        assert_eq!(fold_case("СНГ CIS"), "снг cis");
    }

    #[test]
    fn links_read_as_words() {
        assert_eq!(
            link_to_text("https://ria.ru/%D1%81%D0%BD%D0%B3-summit?x=1%2"),
            "https://ria.ru/снг-summit?x=1%2"
        );
    }

    #[test]
    fn clean_removes_escape_sequences_whole() {
        assert_eq!(
            clean("expected </item>, found </ite\u{1b}[31mm\u{1b}]0;pwn\u{7}>"),
            "expected </item>, found </item>"
        );
        assert_eq!(
            clean("a\u{1b}]2;t\u{1b}\\b \u{9b}1;2Hc\u{9d}x\u{9c}d"),
            "ab cd"
        );
        assert_eq!(clean("line\none\r\n\ttwo\u{202e}  "), "line one two");
        assert_eq!(clean("dangling \u{1b}"), "dangling");
        assert_eq!(clean("Объединённые"), "Объединённые");
        let dirty = "x\u{1b}[1mbold\u{1b}[0m\u{7}\u{0}y";
        assert_eq!(clean(&clean(dirty)), clean(dirty));
    }

    #[test]
    fn cap_cuts_at_a_word_boundary_and_marks_the_cut() {
        assert_eq!(cap("short", 10), "short");
        assert_eq!(cap("exactly10c", 10), "exactly10c");
        assert_eq!(cap("one two three four", 10), "one two…");
        assert_eq!(cap("abcdefghijklmnop", 10), "abcdefghi…");
        let long = "слово ".repeat(1000);
        let c = cap(&long, 300);
        assert!(c.chars().count() <= 300 && c.ends_with("слово…"), "{c}");
    }

    #[test]
    fn sanitize_cleans_redacts_and_caps() {
        let s = sanitize(&format!(
            "POST https://u:p@h/x?token=abc (\u{1b}]0;t\u{7}){}",
            " w".repeat(2000)
        ));
        assert!(
            s.starts_with("POST https://***@h/x?token=*** () w w"),
            "{s}"
        );
        assert!(s.chars().count() <= MAX_SHOWN && s.ends_with('…'));
    }

    #[test]
    fn snippet_marks_cuts() {
        let text = "a ".repeat(200) + "CIS" + &" b".repeat(200);
        let start = text.find("CIS").unwrap();
        let s = snippet(&text, start, start + 3, 40);
        assert!(
            s.starts_with('…') && s.ends_with('…') && s.contains("CIS"),
            "{s}"
        );
        assert!(s.chars().count() <= 44, "{s}");
        assert_eq!(snippet("the CIS", 4, 7, 160), "the CIS");
    }
}
