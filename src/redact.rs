//! URLs as they may be shown: userinfo and query values carry secrets (a feed token, a
//! chat webhook whose whole URL is the secret), so everything feedwatch shows, logs or
//! stores of a URL goes through [`redact_url`] or [`redact_urls_in`] first.

/// A URL as it may be shown, logged or stored (`check`, `feeds`, `/api/feeds`, log lines,
/// a feed's `last_error`): the userinfo becomes `***` and so does every query value
/// (`https://***@host/path?token=***`), since a feed token or a chat webhook's whole
/// secret travels there. Keys, host, port and path stay, so the operator still sees which
/// URL it is. Works on text that does not parse as a URL too.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest_at = scheme_end + 3;
    let rest = &url[rest_at..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..rest_at]);
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            out.push_str("***");
            out.push_str(&rest[at..authority_end]);
        }
        None => out.push_str(&rest[..authority_end]),
    }
    let tail = &rest[authority_end..];
    let Some(q) = tail.find('?') else {
        out.push_str(tail);
        return out;
    };
    out.push_str(&tail[..=q]);
    let query_end = tail.find('#').filter(|&h| h > q).unwrap_or(tail.len());
    let pairs: Vec<String> = tail[q + 1..query_end]
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) => format!("{key}=***"),
            None if pair.is_empty() => String::new(),
            None => "***".to_string(),
        })
        .collect();
    out.push_str(&pairs.join("&"));
    out.push_str(&tail[query_end..]);
    out
}

/// `text` with every URL in it (`scheme://...`, up to a space, a quote or `<>`; trailing
/// punctuation stays text) passed through [`redact_url`]: for error messages from reqwest
/// and others, which quote the URL they were given.
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(sep) = rest.find("://") {
        let scheme_start = rest[..sep]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(sep, |(i, _)| i);
        let end = rest[sep..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(rest.len(), |e| sep + e);
        let url = rest[scheme_start..end].trim_end_matches([')', ']', ',', '.', ';', ':', '!']);
        out.push_str(&rest[..scheme_start]);
        out.push_str(&redact_url(url));
        rest = &rest[scheme_start + url.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        for (url, shown) in [
            (
                "https://user:pass@host/a/b?token=t0k&x=1#frag",
                "https://***@host/a/b?token=***&x=***#frag",
            ),
            ("http://127.0.0.1:8080/feed", "http://127.0.0.1:8080/feed"),
            (
                "https://hooks.example/services/T0/B1?SECRET",
                "https://hooks.example/services/T0/B1?***",
            ),
            ("https://u@h?a=1&&b", "https://***@h?a=***&&***"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            assert_eq!(redact_url(shown), shown, "twice is once");
        }
        assert_eq!(
            redact_urls_in(
                "error sending request for url (https://u:p@h/x?k=v): more than 1 redirect, last to http://h/y?k=w."
            ),
            "error sending request for url (https://***@h/x?k=***): more than 1 redirect, last to http://h/y?k=***."
        );
        assert_eq!(redact_urls_in("no urls :// here"), "no urls :// here");
    }
}
