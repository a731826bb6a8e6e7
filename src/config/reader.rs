//! The generic half of the config reader: a walk over the parsed TOML document that keeps
//! every value's line, and the typed getters the sections are read with (strings, booleans,
//! durations, counts, sizes, names, tables).
//!
//! A getter returns `None` both when the key is absent and when its value is invalid; in the
//! second case it has recorded a [`ConfigError`] with the line, so the section keeps its
//! default and the reader goes on to find the next problem. The sections themselves
//! (`impl Reader` blocks in their own files) decide what the values mean.

use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{ConfigError, KEYS};

/// A value of the parsed document, with its byte span in the source.
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// Walks a parsed document, collecting every problem with its line.
pub(super) struct Reader<'a> {
    /// The file's name for messages: a path, or "built-in default".
    pub(super) file: &'a str,
    /// The source text, to turn byte offsets into line numbers.
    pub(super) src: &'a str,
    /// Every problem found so far, in the order found.
    pub(super) errors: Vec<ConfigError>,
}

/// A year as humantime reads "1y": 365.25 days.
pub(super) const YEAR_SECS: u64 = 31_557_600;

/// The longest duration a key takes unless it says otherwise (`storage.keep` and
/// `backlog` take 100 years): 10 years ("10y"). Nothing feedwatch waits for is longer, and
/// a date that far past the calendar's end (`interval = "1000000000d"`) cannot exist.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * YEAR_SECS);

/// "`s` is too long: at most `max`", `max` in whole years.
pub(super) fn too_long(s: &str, max: Duration) -> String {
    let years = max.as_secs() / YEAR_SECS;
    format!("{s:?} is too long: at most {years} years (\"{years}y\"); write a shorter duration")
}

/// Overwrites a default with the value the file sets, if it sets a valid one.
pub(super) fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

impl Reader<'_> {
    fn line(&self, at: usize) -> usize {
        self.src[..at.min(self.src.len())].matches('\n').count() + 1
    }

    pub(super) fn error(&mut self, at: usize, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line: self.line(at),
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// A non-empty list of strings, with the span of each.
    pub(super) fn string_list(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        key: &str,
    ) -> Option<Vec<(String, Range<usize>)>> {
        let v = t.get(key)?;
        let items = match v.get_ref() {
            DeValue::Array(a) if !a.is_empty() => a
                .iter()
                .map(|item| match item.get_ref() {
                    DeValue::String(s) => Some((s.to_string(), item.span())),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        if items.is_none() {
            self.error(
                v.span().start,
                &format!("{path}.{key}"),
                "expected a non-empty list of strings (in double quotes)",
            );
        }
        items
    }

    /// A required, unique name made of letters, digits, '-', '_' and '.'.
    pub(super) fn name(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        at: usize,
        seen: &mut HashSet<String>,
        what: &str,
    ) -> Option<String> {
        let Some((name, span)) = self.string(t, key, "name") else {
            self.error(
                at,
                &format!("{key}.name"),
                format!("missing: every {what} needs a name"),
            );
            return None;
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.".contains(c))
        {
            self.error(
                span.start,
                &format!("{key}.name"),
                format!(
                    "{name:?} is not a valid {what} name; use letters, digits, '-', '_' and '.'"
                ),
            );
            return None;
        }
        if !seen.insert(name.clone()) {
            self.error(
                span.start,
                &format!("{key}.name"),
                format!("{what} name {name:?} is used twice; names must be unique"),
            );
            return None;
        }
        Some(name)
    }

    /// A duration where "0s" (off) is allowed.
    pub(super) fn duration_or_zero(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        key: &str,
    ) -> Option<Duration> {
        if let Some(DeValue::String(s)) = t.get(key).map(|v| v.get_ref())
            && humantime::parse_duration(s).is_ok_and(|d| d.is_zero())
        {
            return Some(Duration::ZERO);
        }
        self.duration(t, path, key)
    }

    pub(super) fn section<'t, 'i>(
        &mut self,
        doc: &'t DeTable<'i>,
        name: &str,
    ) -> Option<&'t DeTable<'i>> {
        let v = doc.get(name)?;
        match v.get_ref() {
            DeValue::Table(t) => {
                self.check_keys(t, name, &section_keys(name));
                Some(t)
            }
            _ => {
                self.error(
                    v.span().start,
                    name,
                    format!("expected a table: write it as [{name}]"),
                );
                None
            }
        }
    }

    pub(super) fn array_of_tables<'t, 'i>(
        &mut self,
        doc: &'t DeTable<'i>,
        name: &str,
    ) -> Option<Vec<(&'t DeTable<'i>, usize)>> {
        let v = doc.get(name)?;
        let DeValue::Array(a) = v.get_ref() else {
            self.error(
                v.span().start,
                name,
                format!("expected a list of tables: write each entry as [[{name}]]"),
            );
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in a.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(t) => out.push((t, item.span().start)),
                _ => self.error(
                    item.span().start,
                    &format!("{name}[{i}]"),
                    format!("expected a table: write each entry as [[{name}]]"),
                ),
            }
        }
        Some(out)
    }

    pub(super) fn check_keys(&mut self, t: &DeTable<'_>, path: &str, allowed: &[&str]) {
        for (k, _) in t.iter() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                let key = if path.is_empty() {
                    k.get_ref().to_string()
                } else {
                    format!("{path}.{}", k.get_ref())
                };
                self.error(
                    k.span().start,
                    &key,
                    format!("unknown key; expected one of: {}", allowed.join(", ")),
                );
            }
        }
    }

    pub(super) fn string(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        key: &str,
    ) -> Option<(String, Range<usize>)> {
        let v = t.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some((s.to_string(), v.span())),
            _ => {
                self.error(
                    v.span().start,
                    &format!("{path}.{key}"),
                    "expected a string (in double quotes)",
                );
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, t: &DeTable<'_>, path: &str, key: &str) -> Option<bool> {
        let v = t.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.error(
                    v.span().start,
                    &format!("{path}.{key}"),
                    "expected true or false",
                );
                None
            }
        }
    }

    /// A duration longer than zero and at most [`MAX_DURATION`].
    pub(super) fn duration(&mut self, t: &DeTable<'_>, path: &str, key: &str) -> Option<Duration> {
        self.duration_within(t, path, key, MAX_DURATION)
    }

    /// A duration longer than zero and at most `max`.
    pub(super) fn duration_within(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        key: &str,
        max: Duration,
    ) -> Option<Duration> {
        let (s, span) = self.string(t, path, key)?;
        let problem = match humantime::parse_duration(&s) {
            Ok(d) if d.is_zero() => {
                format!("{s:?} is zero: must be longer; write e.g. \"30s\", \"10m\", \"1h 30m\"")
            }
            Ok(d) if d > max => too_long(&s, max),
            Ok(d) => return Some(d),
            Err(humantime::DurationError::NumberOverflow) => too_long(&s, max),
            Err(_) => {
                format!("{s:?} is not a duration; write e.g. \"30s\", \"10m\", \"1h 30m\"")
            }
        };
        self.error(span.start, &format!("{path}.{key}"), problem);
        None
    }

    pub(super) fn count(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        key: &str,
        min: u64,
        max: u64,
    ) -> Option<usize> {
        let v = t.get(key)?;
        let n = match v.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n as usize),
            _ => {
                self.error(
                    v.span().start,
                    &format!("{path}.{key}"),
                    format!("expected a whole number from {min} to {max}"),
                );
                None
            }
        }
    }

    pub(super) fn size(&mut self, t: &DeTable<'_>, path: &str, key: &str) -> Option<u64> {
        let v = t.get(key)?;
        let n = match v.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
            DeValue::String(s) => parse_size(s),
            _ => None,
        };
        match n {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.error(
                    v.span().start,
                    &format!("{path}.{key}"),
                    "expected a size such as \"16MiB\", \"512KiB\" or a number of bytes",
                );
                None
            }
        }
    }
}

/// The keys allowed directly in `section`, from [`KEYS`].
pub(super) fn section_keys(section: &str) -> Vec<&'static str> {
    KEYS.iter()
        .filter_map(|k| {
            let mut parts = k.split('.');
            (parts.next() == Some(section))
                .then(|| parts.next())
                .flatten()
                .filter(|_| parts.next().is_none())
        })
        .collect()
}

/// "16MiB", "512 KiB", "2GB", "1000": bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("512 KiB"), Some(512 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("lots"), None);
    }
}
