//! What a poll says about itself: the items it held back as backlog, and its one log line.
//! A poll that brings new items logs one INFO line (status, items, new, held back, alerts;
//! the feed is the `poll` span's field), so the journal answers "did feed X poll, and what
//! did it get?"; an unchanged poll logs at DEBUG; a failed one has its WARN already
//! ([`crate::poll`]).

use tracing::{debug, info};

use crate::poll::{Outcome, Report};
use crate::store::Incoming;

/// New items of a feed's first poll that were stored without alerting (the feed's
/// `backlog` rule): how many, and how many of them a watch fires on (`feedwatch rematch`
/// raises those).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub items: usize,
    pub matching: usize,
}

impl Held {
    /// The backlog of a poll's items, at most `new` of them (an item already stored from
    /// another feed is not new, and was not held back by this poll).
    pub fn of(incoming: &[Incoming], new: usize) -> Held {
        let held = incoming.iter().filter(|i| !i.may_alert);
        let items = held.clone().count().min(new);
        let matching = held.filter(|i| !i.fired.is_empty()).count().min(items);
        Held { items, matching }
    }

    /// Adds another poll's.
    pub fn add(&mut self, other: Held) {
        self.items += other.items;
        self.matching += other.matching;
    }
}

/// Logs the poll's outcome, inside its span.
pub fn log(report: &Report) {
    match &report.outcome {
        Outcome::Polled {
            items,
            new_items,
            alerts,
            held,
        } if *new_items > 0 => info!(
            status = "ok",
            items,
            new = new_items,
            held_back = held.items,
            alerts,
            "polled: {new_items} new of {items}; {} held back as backlog; {alerts} alert{}",
            held.items,
            if *alerts == 1 { "" } else { "s" }
        ),
        Outcome::Polled { items, .. } => {
            debug!(status = "ok", items, new = 0, "polled: nothing new")
        }
        Outcome::NotModified => debug!(status = "not modified", "polled: unchanged (304)"),
        Outcome::Disabled { .. } => debug!(status = "disabled", "not polled: disabled"),
        // said at WARN where it failed
        Outcome::Failed { .. } => {}
    }
}

/// The summary's line for items held back (`once`, `poll`): how many, how many a watch
/// fires on, and how to see the alerts they would raise.
pub fn held_note(held: Held) -> String {
    let n = crate::views::table::plural(held.items as u64, "new item");
    let matching = match held.matching {
        0 => "no watch fires on them".to_string(),
        m if m == held.items => "a watch fires on every one".to_string(),
        m => format!("a watch fires on {m}"),
    };
    format!(
        "  held back: {n} as backlog (older than the feed's `backlog` window at its first poll; stored, never alerted); {matching}; `feedwatch rematch --dry-run` lists the alerts they would raise\n"
    )
}
