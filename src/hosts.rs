//! Per-host politeness: at most `per_host` requests in flight to one host (host:port), an
//! optional least gap between the starts of two requests to it, and a host-wide pause when
//! several of its feeds are rate-limited at once (one rate-limited feed only delays itself).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use url::Url;

/// How many feeds of one host must be rate-limited at once before the whole host pauses.
pub const HOST_PAUSE_FEEDS: usize = 2;

#[derive(Debug)]
pub struct Hosts {
    per_host: usize,
    gap: Duration,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

#[derive(Debug)]
struct Slot {
    in_flight: Arc<Semaphore>,
    /// Earliest start of the next request (the gap), and the end of a host-wide pause.
    next_start: Mutex<Instant>,
    /// Feeds of this host told to wait (429/503 with Retry-After), until when.
    limited: Mutex<HashMap<String, Instant>>,
}

/// Held while a request to a host is in flight.
#[derive(Debug)]
pub struct HostPermit {
    _permit: OwnedSemaphorePermit,
}

impl Hosts {
    pub fn new(per_host: usize, gap: Duration) -> Hosts {
        Hosts {
            per_host: per_host.max(1),
            gap,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, url: &Url) -> Arc<Slot> {
        let key = authority(url);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Slot {
                    in_flight: Arc::new(Semaphore::new(self.per_host)),
                    next_start: Mutex::new(Instant::now()),
                    limited: Mutex::new(HashMap::new()),
                })
            })
            .clone()
    }

    /// Waits for a free place at `url`'s host, its gap and any host-wide pause.
    pub async fn acquire(&self, url: &Url) -> HostPermit {
        let slot = self.slot(url);
        let permit = slot
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        loop {
            let wait = {
                let mut next = slot.next_start.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                if *next <= now {
                    *next = crate::dates::instant_after(now, self.gap);
                    None
                } else {
                    Some(*next)
                }
            };
            match wait {
                None => break,
                Some(at) => tokio::time::sleep_until(at).await,
            }
        }
        HostPermit { _permit: permit }
    }

    /// Notes that `feed` at `url` was told to wait `retry_after`. Returns the host-wide pause
    /// when this makes [`HOST_PAUSE_FEEDS`] feeds of the host rate-limited at once.
    pub fn rate_limited(&self, url: &Url, feed: &str, retry_after: Duration) -> Option<Duration> {
        let slot = self.slot(url);
        let now = Instant::now();
        let mut limited = slot.limited.lock().unwrap_or_else(|p| p.into_inner());
        limited.retain(|_, until| *until > now);
        limited.insert(
            feed.to_string(),
            crate::dates::instant_after(now, retry_after),
        );
        if limited.len() < HOST_PAUSE_FEEDS {
            return None;
        }
        let until = limited.values().max().copied().unwrap_or(now);
        let mut next = slot.next_start.lock().unwrap_or_else(|p| p.into_inner());
        *next = (*next).max(until);
        Some(until - now)
    }
}

/// host:port, the unit of politeness.
pub fn authority(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn at_most_per_host_requests_in_flight_per_host() {
        let hosts = Hosts::new(2, Duration::ZERO);
        let a = url("https://a.example/1");
        let p1 = hosts.acquire(&a).await;
        let _p2 = hosts.acquire(&url("https://a.example/2")).await;
        // a third request to a.example waits; b.example does not
        assert!(
            tokio::time::timeout(Duration::from_millis(50), hosts.acquire(&a))
                .await
                .is_err()
        );
        let _b = tokio::time::timeout(
            Duration::from_millis(50),
            hosts.acquire(&url("https://b.example/")),
        )
        .await
        .unwrap();
        drop(p1);
        let _p3 = tokio::time::timeout(Duration::from_millis(50), hosts.acquire(&a))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn one_rate_limited_feed_does_not_pause_its_host_but_two_do() {
        let hosts = Hosts::new(4, Duration::ZERO);
        let a = url("https://a.example/feed1");
        assert_eq!(
            hosts.rate_limited(&a, "feed1", Duration::from_secs(60)),
            None
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(50), hosts.acquire(&a))
                .await
                .is_ok()
        );
        let pause = hosts.rate_limited(
            &url("https://a.example/feed2"),
            "feed2",
            Duration::from_secs(120),
        );
        assert!(
            pause.is_some_and(|p| p > Duration::from_secs(110)),
            "{pause:?}"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(50), hosts.acquire(&a))
                .await
                .is_err()
        );
    }

    #[test]
    fn hosts_are_host_and_port() {
        assert_eq!(authority(&url("https://A.example/x")), "a.example:443");
        assert_eq!(authority(&url("http://127.0.0.1:8089/f")), "127.0.0.1:8089");
    }
}
