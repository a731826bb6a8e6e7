//! feedwatch polls news feeds, remembers every item in a sled store, and raises one alert
//! per item and watch when an item mentions a watched term. See `DESIGN.md` for the data
//! flow; each module below is one stage of it or one piece of the service around it.

pub mod alert;
pub mod api;
pub mod article;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod ctl;
pub mod cut;
pub mod dates;
pub mod decide;
pub mod decode;
pub mod dedup;
pub mod deliver;
pub mod demo;
pub mod dialect;
pub mod exit;
pub mod explain;
pub mod extension;
pub mod fetch;
pub mod filter;
pub mod hosts;
pub mod manual;
pub mod message;
pub mod metrics;
pub mod notify;
pub mod opml;
pub mod owner;
pub mod parse;
pub mod poll;
pub mod polled;
pub mod process;
pub mod recover;
pub mod redact;
pub mod redeliver;
pub mod rematch;
pub mod schedule;
pub mod service;
pub mod shown;
pub mod sink;
pub mod status;
pub mod store;
pub mod text;
pub mod views;
pub mod watch;
