//! `feedwatch cluster status [--json]`: the live nodes, which feeds each holds, the
//! stream's size and each consumer's lag (alerts not yet delivered to it) and pending
//! count (delivered, not yet acknowledged).

use std::collections::BTreeMap;

use async_nats::jetstream;
use futures_util::StreamExt;

use super::ids;
use super::node::{NodeInfo, live_nodes, open};
use crate::config::Config;

/// The status, gathered from NATS.
#[derive(Debug, serde::Serialize)]
struct Status {
    cluster: String,
    nodes: Vec<Node>,
    /// Feeds of the config no live node holds (and not paused).
    unheld: Vec<String>,
    /// Feeds paused cluster-wide (`feedwatch pause NAME` on any node): polled by none.
    paused: Vec<String>,
    alerts: u64,
    consumers: Vec<Consumer>,
}

#[derive(Debug, serde::Serialize)]
struct Node {
    node: String,
    started: Option<String>,
    outbox: Option<usize>,
    feeds: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
struct Consumer {
    name: String,
    /// In the stream, not yet delivered to it.
    lag: u64,
    /// Delivered, not yet acknowledged.
    pending: usize,
}

pub(super) fn print(config: &Config, json: bool) -> anyhow::Result<()> {
    let Some(c) = &config.cluster else {
        return Err(crate::exit::usage_error(format!(
            "{} has no [cluster] table: this feedwatch runs alone",
            config.source
        )));
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = rt.block_on(gather(config, c))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!(
        "cluster {}: {} live node(s), {} alert(s) in the stream",
        status.cluster,
        status.nodes.len(),
        status.alerts
    );
    for n in &status.nodes {
        println!(
            "  node {}: {} feed(s), outbox {}, up since {}",
            n.node,
            n.feeds.len(),
            n.outbox.map_or("?".to_string(), |o| o.to_string()),
            n.started.as_deref().unwrap_or("?")
        );
    }
    if !status.unheld.is_empty() {
        println!(
            "  not held by a live node: {} feed(s): {}",
            status.unheld.len(),
            status.unheld.join(", ")
        );
    }
    if !status.paused.is_empty() {
        println!(
            "  paused on every node: {} feed(s): {}",
            status.paused.len(),
            status.paused.join(", ")
        );
    }
    for c in &status.consumers {
        println!(
            "  consumer {}: lag {}, pending {}",
            c.name, c.lag, c.pending
        );
    }
    Ok(())
}

async fn gather(config: &Config, c: &crate::config::ClusterConfig) -> anyhow::Result<Status> {
    let js = jetstream::new(open(c).await?);
    let nodes = js.get_key_value(format!("{}_nodes", c.name)).await?;
    let leases = js.get_key_value(format!("{}_leases", c.name)).await?;
    let pauses = js.get_key_value(format!("{}_paused", c.name)).await?;
    let mut live = live_nodes(&nodes).await?;
    live.sort();
    let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unheld = Vec::new();
    let mut paused = Vec::new();
    for feed in config.feeds.iter().filter(|f| f.enabled) {
        if pauses.get(ids::feed_key(&feed.name)).await?.is_some() {
            paused.push(feed.name.clone());
            continue;
        }
        let holder = leases
            .get(ids::feed_key(&feed.name))
            .await?
            .map(|v| String::from_utf8_lossy(&v).to_string())
            .filter(|h| live.contains(h));
        match holder {
            Some(h) => held.entry(h).or_default().push(feed.name.clone()),
            None => unheld.push(feed.name.clone()),
        }
    }
    let mut out = Vec::new();
    for n in &live {
        let info: Option<NodeInfo> = nodes
            .get(n)
            .await?
            .and_then(|v| serde_json::from_slice(&v).ok());
        out.push(Node {
            node: n.clone(),
            started: info.as_ref().map(|i| i.started.clone()),
            outbox: info.as_ref().map(|i| i.outbox),
            feeds: held.remove(n).unwrap_or_default(),
        });
    }
    let mut stream = js.get_stream(format!("{}_alerts", c.name)).await?;
    let alerts = stream.info().await?.state.messages;
    let mut consumers = Vec::new();
    let mut list = stream.consumers();
    while let Some(info) = list.next().await {
        // a consumer whose leader is being elected says so; the others are still shown
        match info {
            Ok(info) => consumers.push(Consumer {
                name: info.name.clone(),
                lag: info.num_pending,
                pending: info.num_ack_pending,
            }),
            Err(e) => eprintln!("feedwatch: cluster status: a consumer of the alert stream: {e}"),
        }
    }
    consumers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Status {
        cluster: c.name.clone(),
        nodes: out,
        unheld,
        paused,
        alerts,
        consumers,
    })
}
