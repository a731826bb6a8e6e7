//! Bytes to UTF-8, before any parser sees them.
//!
//! feed-rs 3.0 ignores the HTTP charset, rejects non-UTF-8 documents with non-ASCII bytes
//! early on, and panics on some windows-1251/KOI8-R documents (DESIGN.md). So the encoding
//! is chosen here, in this order: byte-order mark, the HTTP `Content-Type` charset, the XML
//! declaration, then UTF-8. The document is decoded with encoding_rs (UTF-32, which
//! encoding_rs does not know, by hand) and its declaration rewritten to say UTF-8.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// A document decoded to UTF-8.
#[derive(Debug)]
pub struct Decoded {
    pub text: String,
    /// The encoding it was decoded from, for messages.
    pub encoding: &'static str,
    /// Whether some bytes were not valid in that encoding (replaced by U+FFFD).
    pub had_errors: bool,
}

/// Decodes `body`, served with `content_type`, to UTF-8 with an UTF-8 XML declaration.
pub fn to_utf8(body: &[u8], content_type: Option<&str>) -> Decoded {
    if let Some((big_endian, skip)) = utf32(body) {
        let (text, had_errors) = decode_utf32(&body[skip..], big_endian);
        return finish(
            text,
            if big_endian { "UTF-32BE" } else { "UTF-32LE" },
            had_errors,
        );
    }
    let encoding = Encoding::for_bom(body)
        .map(|(e, _)| e)
        .or_else(|| content_type.and_then(|c| http_charset(c, body)))
        .or_else(|| utf16_without_bom(body))
        .or_else(|| xml_declared(body))
        .unwrap_or_else(|| sniff(body));
    // decode() strips a BOM of the given encoding and also honours a BOM that contradicts it
    let (text, actual, had_errors) = encoding.decode(body);
    finish(text.into_owned(), actual.name(), had_errors)
}

/// [`to_utf8`] of a body that is no longer needed: a UTF-8 body becomes the text without a
/// copy (a feed of `fetch.max_body` bytes is in memory once, not twice).
pub fn into_utf8(body: Vec<u8>, content_type: Option<&str>) -> Decoded {
    let mut body = body;
    if utf32(&body).is_none() && Encoding::for_bom(&body).is_none() {
        // the same choice as to_utf8's, up to its sniffing, which says UTF-8 for valid UTF-8
        let declared = content_type
            .and_then(|c| http_charset(c, &body))
            .or_else(|| utf16_without_bom(&body))
            .or_else(|| xml_declared(&body));
        if declared.is_none_or(|e| e == UTF_8) {
            match String::from_utf8(body) {
                Ok(text) => return finish(text, UTF_8.name(), false),
                Err(e) => body = e.into_bytes(),
            }
        }
    }
    to_utf8(&body, content_type)
}

fn finish(text: String, encoding: &'static str, had_errors: bool) -> Decoded {
    Decoded {
        text: rewrite_declaration(text),
        encoding,
        had_errors,
    }
}

/// The `charset` parameter of a `Content-Type` value, if encoding_rs can decode it.
fn http_charset(content_type: &str, body: &[u8]) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let label = v.trim().trim_matches(|c| c == '"' || c == '\'');
        let enc = Encoding::for_label_no_replacement(label.as_bytes())?;
        if enc == UTF_16LE || enc == UTF_16BE {
            // A UTF-16 label on bytes that are plainly 8-bit (an ASCII '<' first) is a lie;
            // on real UTF-16 the NUL bytes tell the byte order, whatever the label says.
            return Some(utf16_without_bom(body).unwrap_or(UTF_8));
        }
        Some(enc)
    })
}

/// `<?xml ... encoding="X"?>` at the start of the document.
fn xml_declared(body: &[u8]) -> Option<&'static Encoding> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &body[start..body.len().min(start + 512)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let label = rest[1..].split(quote).next()?;
    // "replacement" (ISO-2022-KR, HZ-GB-2312...) would turn the whole document into one U+FFFD
    let enc = Encoding::for_label_no_replacement(label.trim().as_bytes())?;
    // The declaration was readable as ASCII, so the document is not UTF-16 whatever it says.
    if enc == UTF_16LE || enc == UTF_16BE {
        return Some(UTF_8);
    }
    Some(enc)
}

/// Nothing says what the encoding is: UTF-8 if the bytes are valid UTF-8, else a guess from
/// the bytes (an undeclared KOI8-R or windows-1251 feed still decodes to Cyrillic).
fn sniff(body: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(body).is_ok() {
        return UTF_8;
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(body, true);
    detector.guess(None, chardetng::Utf8Detection::Allow)
}

/// UTF-16 without a BOM, recognised by the NUL bytes around an ASCII `<`.
fn utf16_without_bom(body: &[u8]) -> Option<&'static Encoding> {
    match body {
        [b'<', 0, b'?' | b'r' | b'f' | b'!', 0, ..] => Some(UTF_16LE),
        [0, b'<', 0, b'?' | b'r' | b'f' | b'!', ..] => Some(UTF_16BE),
        _ => None,
    }
}

/// UTF-32 by BOM or by the NUL bytes around an ASCII `<`: (big-endian, bytes to skip).
fn utf32(body: &[u8]) -> Option<(bool, usize)> {
    match body {
        [0, 0, 0xFE, 0xFF, ..] => Some((true, 4)),
        [0xFF, 0xFE, 0, 0, ..] => Some((false, 4)),
        [0, 0, 0, b'<', ..] => Some((true, 0)),
        [b'<', 0, 0, 0, ..] => Some((false, 0)),
        _ => None,
    }
}

fn decode_utf32(body: &[u8], big_endian: bool) -> (String, bool) {
    let mut had_errors = !body.len().is_multiple_of(4);
    let text = body
        .chunks_exact(4)
        .map(|c| {
            let b = [c[0], c[1], c[2], c[3]];
            let n = if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            };
            char::from_u32(n).unwrap_or_else(|| {
                had_errors = true;
                char::REPLACEMENT_CHARACTER
            })
        })
        .collect();
    (text, had_errors)
}

/// Replaces the XML declaration's encoding with UTF-8 (the text now is UTF-8), so that
/// the parser does not try to decode it a second time.
/// In place: the text is not copied.
fn rewrite_declaration(mut text: String) -> String {
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
    if !trimmed.starts_with("<?xml") {
        return text;
    }
    if let Some(end) = trimmed.find("?>") {
        let end = text.len() - trimmed.len() + end + 2;
        text.replace_range(..end, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp1251(s: &str) -> Vec<u8> {
        encoding_rs::WINDOWS_1251.encode(s).0.into_owned()
    }

    #[test]
    fn the_xml_declaration_decides_when_http_is_silent() {
        let mut doc = b"<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss><t>".to_vec();
        doc.extend(cp1251("Лидеры СНГ"));
        let d = to_utf8(&doc, Some("application/rss+xml"));
        assert_eq!(d.encoding, "windows-1251");
        assert!(
            d.text
                .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss>")
        );
        assert!(d.text.contains("Лидеры СНГ"));
    }

    #[test]
    fn the_http_charset_beats_the_declaration() {
        let mut doc = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><t>".to_vec();
        doc.extend(encoding_rs::KOI8_R.encode("ОДКБ").0.iter());
        let d = to_utf8(&doc, Some("text/xml; charset=\"KOI8-R\""));
        assert_eq!(d.encoding, "KOI8-R");
        assert!(d.text.contains("ОДКБ"));
    }

    #[test]
    fn a_bom_beats_everything() {
        let mut doc = vec![0xEF, 0xBB, 0xBF];
        doc.extend("<?xml version='1.0' encoding='windows-1251'?><t>СНГ</t>".as_bytes());
        let d = to_utf8(&doc, Some("text/xml; charset=koi8-r"));
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.text.contains("СНГ"));
    }

    #[test]
    fn utf16_and_utf32_with_and_without_bom() {
        let s = "<?xml version=\"1.0\" encoding=\"utf-16\"?><t>СНГ</t>";
        let le: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(to_utf8(&le, None).text.contains("<t>СНГ</t>"));
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(s.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert!(to_utf8(&be, None).text.contains("<t>СНГ</t>"));
        let u32le: Vec<u8> = s.chars().flat_map(|c| (c as u32).to_le_bytes()).collect();
        let d = to_utf8(&u32le, None);
        assert_eq!(d.encoding, "UTF-32LE");
        assert!(d.text.contains("<t>СНГ</t>"));
    }

    #[test]
    fn unknown_labels_fall_back_to_utf8() {
        let d = to_utf8(
            "<?xml version='1.0' encoding='bogus'?><t>é</t>".as_bytes(),
            Some("text/xml; charset=nonsense"),
        );
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.text.contains("é") && !d.had_errors);
    }

    #[test]
    fn a_utf16_http_label_on_8bit_bytes_is_ignored() {
        let doc = "<?xml version='1.0'?><t>СНГ</t>";
        let d = to_utf8(doc.as_bytes(), Some("text/xml; charset=utf-16"));
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.text.contains("<t>СНГ</t>"));
        let be: Vec<u8> = doc.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(
            to_utf8(&be, Some("text/xml; charset=utf-16")).encoding,
            "UTF-16BE"
        );
    }

    #[test]
    fn replacement_labels_do_not_erase_the_document() {
        let d = to_utf8(
            b"<?xml version='1.0' encoding='ISO-2022-KR'?><t>x</t>",
            None,
        );
        assert!(d.text.ends_with("<t>x</t>"), "{}", d.text);
    }

    #[test]
    fn undeclared_koi8_r_is_sniffed() {
        let mut doc = b"<rss version='2.0'><channel><item><title>".to_vec();
        doc.extend(
            encoding_rs::KOI8_R
                .encode("Лидеры стран СНГ встретились в Москве")
                .0
                .iter(),
        );
        doc.extend(b"</title></item></channel></rss>");
        assert!(to_utf8(&doc, None).text.contains("Лидеры стран СНГ"));
    }

    #[test]
    fn into_utf8_decodes_as_to_utf8_does() {
        let mut koi8 = b"<?xml version='1.0' encoding='koi8-r'?><t>".to_vec();
        koi8.extend(encoding_rs::KOI8_R.encode("ОДКБ").0.iter());
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(b"  <?xml version='1.0'?><t>x</t>");
        let cases: [(&[u8], Option<&str>); 5] = [
            (&koi8, None),
            (&bom, None),
            (
                " <?xml version='1.0' encoding='utf-8'?><t>é</t>".as_bytes(),
                None,
            ),
            (b"<t>\xff</t>", Some("text/xml; charset=utf-8")),
            (
                "<t>СНГ</t>".as_bytes(),
                Some("text/xml; charset=windows-1251"),
            ),
        ];
        for (body, ct) in cases {
            let (a, b) = (to_utf8(body, ct), into_utf8(body.to_vec(), ct));
            assert_eq!(
                (a.text, a.encoding, a.had_errors),
                (b.text, b.encoding, b.had_errors)
            );
        }
    }

    #[test]
    fn json_passes_through() {
        let d = to_utf8(
            br#"{"version":"https://jsonfeed.org/version/1.1"}"#,
            Some("application/feed+json"),
        );
        assert!(d.text.starts_with('{'));
    }
}
