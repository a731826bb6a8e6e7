//! `sinks test NAME`: one sample alert through a sink, and what its server answered.

use anyhow::anyhow;

use super::{UsageError, runtime};
use crate::config::Config;

/// The sample alert, as an alert-log line: its text has `<`, `&` and Cyrillic in it, so
/// the receiver shows whether escaping works; its id is new each time, so a service that
/// drops repeated ids (Matrix) still shows it.
pub fn sample_alert(watch: &str) -> String {
    let now = chrono::Utc::now();
    serde_json::json!({
        "kind": "match",
        "id": format!("test-{:x}", now.timestamp_nanos_opt().unwrap_or_default()),
        "watch": watch,
        "feed": "feedwatch-test",
        "title": "feedwatch test alert: <sample> & проверка",
        "link": "https://example.org/feedwatch-test?a=1&b=2",
        "published": null,
        "detected": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "item": "0000000000000000",
        "matches": [{
            "term": "проверка",
            "rule": "any",
            "field": "title",
            "text": "проверка",
            "start": 33,
            "end": 41,
            "snippet": "feedwatch test alert: <sample> & проверка",
        }],
    })
    .to_string()
}

pub(super) fn test(config: &Config, name: &str) -> anyhow::Result<()> {
    let Some(sink) = config.sinks.iter().find(|s| s.name == name) else {
        return Err(UsageError(format!(
            "no sink called {name:?}; sinks: {}",
            config
                .sinks
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    };
    let watch = sink
        .watches
        .first()
        .or_else(|| config.watches.first().map(|w| &w.name))
        .cloned()
        .unwrap_or_else(|| "test".into());
    let alert = sample_alert(&watch);
    let sent = runtime()?.block_on(crate::sink::send_sample(sink, &alert));
    match sent {
        Ok(answer) => {
            println!(
                "sink {name} ({}): sent a sample alert; the server answered {answer}",
                sink.kind.describe()
            );
            Ok(())
        }
        Err(e) => Err(anyhow!(
            "sink {name} ({}): sending a sample alert: {}",
            sink.kind.describe(),
            crate::text::sanitize(&e.message)
        )),
    }
}
