//! The cluster suite (issue 16): a real 3-server NATS JetStream cluster on loopback and real
//! `feedwatch run` processes built with the cargo feature `cluster`. Needs nats-server 2.10+
//! (tests/cluster/install-nats.sh installs the pinned 2.15.1); fails without it.
//!
//! `cargo test --features cluster --test cluster`

#[path = "cluster/nats.rs"]
mod nats;
#[path = "cluster/world.rs"]
mod world;

/// Polls `f` every 50 ms until it holds; fails the test, naming `what`, after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nats::NatsCluster;
use world::World;

/// Feeds of the chaos test, and their fixed interval.
const FEEDS: usize = 300;
const INTERVAL: Duration = Duration::from_secs(10);

/// The bound the docs state for a dead node's feeds: polled again by a live node within
/// TAKEOVER_BOUND plus one interval of the kill.
fn repoll_bound() -> Duration {
    feedwatch::cluster::TAKEOVER_BOUND + INTERVAL + Duration::from_secs(4)
}

/// A `feedwatch run` node; SIGKILLed when dropped.
struct Node {
    name: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn new(root: &Path, name: &str, nats: &NatsCluster, world: &World) -> Node {
        Node::with(root, name, nats, world, FEEDS, INTERVAL)
    }

    /// A node watching the first `feeds` feeds of `world`, each every `interval`.
    fn with(
        root: &Path,
        name: &str,
        nats: &NatsCluster,
        world: &World,
        feeds: usize,
        interval: Duration,
    ) -> Node {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let servers: Vec<String> = nats.urls().iter().map(|u| format!("\"{u}\"")).collect();
        let mut toml = format!(
            "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n[api]\nlisten = \"127.0.0.1:0\"\n\
             [fetch]\ntimeout = \"10s\"\nconnect_timeout = \"2s\"\nread_timeout = \"5s\"\nper_host = 16\n\
             user_agent = \"node-{name}\"\n[defaults]\ninterval = \"{}s\"\nbacklog = \"all\"\n\
             [cluster]\nservers = [{}]\nname = \"fwtest\"\nnode = \"{name}\"\n\n",
            interval.as_secs(),
            servers.join(", ")
        );
        for i in 0..feeds {
            toml.push_str(&format!(
                "[[feeds]]\nname = \"f{i}\"\nurl = \"{}\"\n",
                world.feed_url(i)
            ));
        }
        toml.push_str(
            "[[watch]]\nname = \"csto\"\nterms = [\"CSTO\"]\n[[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n\
             [[sinks]]\nname = \"hook\"\nkind = \"webhook\"\n",
        );
        toml.push_str(&format!("url = \"{}\"\n", world.hook_url()));
        std::fs::write(dir.join("feedwatch.toml"), toml).unwrap();
        Node {
            name: name.to_string(),
            dir,
            child: None,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("feedwatch.toml")
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("stderr.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
            .arg("--config")
            .arg(self.config())
            .arg("run")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("FEEDWATCH_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// The (story, watch) pairs of the match lines in this node's alert log, with counts.
    fn logged(&self) -> BTreeMap<(usize, String), usize> {
        let text = std::fs::read_to_string(self.dir.join("alerts.jsonl")).unwrap_or_default();
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("alert lines are JSON");
            if v["kind"] == "match" {
                *out.entry(pair(&v)).or_insert(0) += 1;
            }
        }
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// (story number, watch) of a match alert.
fn pair(v: &serde_json::Value) -> (usize, String) {
    let link = v["link"].as_str().expect("test stories have links");
    let n = link
        .trim_start_matches("https://news.example/story/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (n, v["watch"].as_str().unwrap().to_string())
}

/// Story `n`: its title and the feeds carrying it (one to three).
fn story(n: usize) -> (String, Vec<usize>) {
    let title = match n % 3 {
        0 => format!("Story {n}: CSTO and CIS ministers meet"),
        1 => format!("Story {n}: CSTO drills"),
        _ => format!("Story {n}: the weather"),
    };
    let mut feeds: Vec<usize> = vec![(n * 7) % FEEDS, (n * 7 + 150) % FEEDS, (n * 11 + 3) % FEEDS];
    feeds.truncate(1 + n % 3);
    feeds.sort();
    feeds.dedup();
    (title, feeds)
}

fn expected(stories: usize) -> BTreeSet<(usize, String)> {
    let mut out = BTreeSet::new();
    for n in 0..stories {
        match n % 3 {
            0 => {
                out.insert((n, "csto".to_string()));
                out.insert((n, "cis".to_string()));
            }
            1 => {
                out.insert((n, "csto".to_string()));
            }
            _ => {}
        }
    }
    out
}

/// Waits until `cluster status` shows every feed held by a live node and each of the three
/// nodes holding some; the feeds each holds.
fn shared_by_three(node: &Node) -> Vec<usize> {
    let mut split = Vec::new();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
            .arg("--config")
            .arg(node.config())
            .args(["cluster", "status", "--json"])
            .output()
            .unwrap();
        let last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if let Ok(s) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            let unheld = s["unheld"].as_array().map_or(usize::MAX, Vec::len);
            split = s["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["feeds"].as_array().unwrap().len())
                .collect();
            if unheld == 0 && split.len() == 3 && split.iter().all(|&n| n > 0) {
                return split;
            }
        }
        assert!(
            Instant::now() < until,
            "timed out waiting for 3 nodes sharing every feed ({split:?}); last status: {last}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `feedwatch cluster status --json` with `node`'s config.
fn status(node: &Node) -> Option<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .arg("--config")
        .arg(node.config())
        .args(["cluster", "status", "--json"])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// The Done-when test of issue 16: 3 NATS servers, 3 nodes, 300 feeds gaining items (some
/// stories in several feeds); a node SIGKILLed mid-cycle, later a NATS server, both
/// restarted. Every expected (story, watch) alert is in the stream once, in each node's
/// alert log once, at the webhook (by its id, the idempotency key); every feed is polled
/// again within the stated bound after the kill; no feed is fetched by two nodes within
/// one interval.
#[test]
fn chaos_a_node_and_a_server_die_and_come_back() {
    // FEEDWATCH_CLUSTER_KEEP=1 keeps the servers' and nodes' files for a look after a failure
    let root = tempfile::Builder::new()
        .prefix("feedwatch-cluster-")
        .disable_cleanup(std::env::var_os("FEEDWATCH_CLUSTER_KEEP").is_some())
        .tempdir()
        .unwrap();
    let mut nats = NatsCluster::start(root.path());
    let world = World::start(FEEDS);
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| Node::new(root.path(), n, &nats, &world))
        .collect();
    let started = Instant::now();
    for n in &mut nodes {
        n.start();
    }
    // every feed polled once: the cluster is up
    wait_for("every feed fetched once", Duration::from_secs(90), || {
        world
            .fetches()
            .iter()
            .map(|f| f.feed)
            .collect::<BTreeSet<_>>()
            .len()
            == FEEDS
    });
    let first_cycle = started.elapsed();
    // the split: feeds held per node, as `cluster status` reports it
    let split = shared_by_three(&nodes[0]);
    eprintln!(
        "first cycle over {FEEDS} feeds: {first_cycle:?}; split {split:?} after {:?}",
        started.elapsed()
    );

    // stories arrive: one every 250 ms for 60 s
    let stories = 240;
    let mut killed_node_at = None;
    let mut nats_killed = false;
    let mut killed_server_at = None;
    let begin = Instant::now();
    for n in 0..stories {
        let (title, feeds) = story(n);
        world.add_story(n, &title, &feeds);
        let t = begin.elapsed();
        if killed_node_at.is_none() && t >= Duration::from_secs(8) {
            nodes[1].kill();
            killed_node_at = Some(Instant::now());
            eprintln!("SIGKILLed node n2 at {t:?}");
        }
        if t >= Duration::from_secs(40) && !nats_killed {
            nats_killed = true;
            nats.kill(0);
            killed_server_at = Some(Instant::now());
            eprintln!("SIGKILLed NATS server s1 at {t:?}");
        }
        if t >= Duration::from_secs(22) && nodes[1].child.is_none() {
            nodes[1].start();
            eprintln!("restarted node n2 at {t:?}");
        }
        if t >= Duration::from_secs(50) && !nats.servers[0].child_running() {
            nats.start_server(0);
            eprintln!("restarted NATS server s1 at {t:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let want = expected(stories);

    // everything arrives: the stream, every node's alert log, the webhook
    let converged = Instant::now();
    let mut diff = String::new();
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        diff.clear();
        for n in &nodes {
            let got: BTreeSet<_> = n.logged().keys().cloned().collect();
            let missing: Vec<_> = want.difference(&got).collect();
            let extra: Vec<_> = got.difference(&want).collect();
            if !missing.is_empty() || !extra.is_empty() {
                diff.push_str(&format!(
                    "{}: {} missing (first {:?}), {} unexpected (first {:?}); ",
                    n.name,
                    missing.len(),
                    missing.first(),
                    extra.len(),
                    extra.first()
                ));
            }
        }
        if diff.is_empty() {
            break;
        }
        assert!(
            Instant::now() < until,
            "timed out waiting for every alert in each node's log: {diff} (files in {})",
            root.path().display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for(
        "every alert at the webhook",
        Duration::from_secs(60),
        || {
            let got: BTreeSet<_> = world
                .hooks()
                .iter()
                .filter(|v| v["kind"] == "match")
                .map(pair)
                .collect();
            got == want
        },
    );
    eprintln!("converged {:?} after the last story", converged.elapsed());

    // the restarted node took its share back, nobody else restarted
    let split = shared_by_three(&nodes[0]);
    eprintln!("split after the restarts: {split:?}");

    // exactly once in the stream
    let s = status(&nodes[0]).expect("cluster status answers");
    assert_eq!(s["alerts"].as_u64(), Some(want.len() as u64), "{s:#}");
    // exactly once in each node's alert log
    for n in &nodes {
        let logged = n.logged();
        let twice: Vec<_> = logged.iter().filter(|(_, c)| **c > 1).collect();
        assert!(
            twice.is_empty(),
            "{}: alerts written twice: {twice:?}",
            n.name
        );
    }
    // at the webhook: every alert, and its id the same for every delivery of one alert
    let mut ids: HashMap<(usize, String), BTreeSet<String>> = HashMap::new();
    for v in world.hooks().iter().filter(|v| v["kind"] == "match") {
        ids.entry(pair(v))
            .or_default()
            .insert(v["id"].as_str().unwrap().to_string());
    }
    let deliveries = world
        .hooks()
        .iter()
        .filter(|v| v["kind"] == "match")
        .count();
    assert!(
        ids.values().all(|s| s.len() == 1),
        "one alert, several ids at the webhook: {ids:?}"
    );
    eprintln!(
        "webhook: {} alerts, {deliveries} deliveries ({} repeated, same id)",
        want.len(),
        deliveries - want.len()
    );

    // every feed polled again within the bound after the node was killed
    let killed = killed_node_at.unwrap();
    let fetches = world.fetches();
    let mut late = Vec::new();
    for feed in 0..FEEDS {
        let next = fetches
            .iter()
            .filter(|f| f.feed == feed && f.at > killed)
            .map(|f| f.at - killed)
            .min();
        match next {
            Some(d) if d <= repoll_bound() => {}
            other => late.push((feed, other)),
        }
    }
    assert!(
        late.is_empty(),
        "feeds not polled within {:?} of the kill: {late:?}",
        repoll_bound()
    );
    let slowest = (0..FEEDS)
        .filter_map(|feed| {
            fetches
                .iter()
                .filter(|f| f.feed == feed && f.at > killed)
                .map(|f| f.at - killed)
                .min()
        })
        .max()
        .unwrap();
    eprintln!(
        "slowest re-poll after the node kill: {slowest:?} (bound {:?})",
        repoll_bound()
    );
    let server_killed = killed_server_at.unwrap();
    let slowest = (0..FEEDS)
        .filter_map(|feed| {
            fetches
                .iter()
                .filter(|f| f.feed == feed && f.at > server_killed)
                .map(|f| f.at - server_killed)
                .min()
        })
        .max();
    eprintln!("slowest re-poll after the NATS server kill: {slowest:?}");

    // no feed fetched by two nodes within one interval
    let mut overlaps = Vec::new();
    for feed in 0..FEEDS {
        let mut mine: Vec<_> = fetches.iter().filter(|f| f.feed == feed).collect();
        mine.sort_by_key(|f| f.at);
        for w in mine.windows(2) {
            if w[0].node != w[1].node && w[1].at - w[0].at < INTERVAL.mul_f64(0.9) {
                overlaps.push((
                    feed,
                    w[0].node.clone(),
                    w[1].node.clone(),
                    w[1].at - w[0].at,
                ));
            }
        }
    }
    assert!(
        overlaps.is_empty(),
        "feeds fetched by two nodes within one interval: {overlaps:?}"
    );
}

/// Feeds and interval of the smaller tests below (a new node, a pause).
const FEW: usize = 40;
const SHORT: Duration = Duration::from_secs(5);

/// A fresh temp dir, kept with FEEDWATCH_CLUSTER_KEEP=1.
fn root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("feedwatch-cluster-")
        .disable_cleanup(std::env::var_os("FEEDWATCH_CLUSTER_KEEP").is_some())
        .tempdir()
        .unwrap()
}

/// `feedwatch --config CONFIG ARGS...`: (exit code, stdout, stderr).
fn feedwatch(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("FEEDWATCH_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// From `cluster status --json`: the feeds each live node holds (by node name), the
/// feeds no live node holds, and the feeds paused cluster-wide.
type Split = (BTreeMap<String, BTreeSet<String>>, Vec<String>, Vec<String>);

fn split(node: &Node) -> Option<Split> {
    let s = status(node)?;
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    };
    let held = s["nodes"]
        .as_array()?
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap().to_string(),
                names(&n["feeds"]).into_iter().collect(),
            )
        })
        .collect();
    Some((held, names(&s["unheld"]), names(&s["paused"])))
}

/// Waits until every one of the first `feeds` feeds was fetched at least once.
fn all_fetched(world: &World, feeds: usize) {
    wait_for("every feed fetched once", Duration::from_secs(90), || {
        world
            .fetches()
            .iter()
            .map(|f| f.feed)
            .collect::<BTreeSet<_>>()
            .len()
            == feeds
    });
}

/// Fetches of one feed by two different nodes closer than 0.9 intervals.
fn overlaps(fetches: &[world::Fetch], feeds: usize, interval: Duration) -> Vec<String> {
    let mut out = Vec::new();
    for feed in 0..feeds {
        let mut mine: Vec<_> = fetches.iter().filter(|f| f.feed == feed).collect();
        mine.sort_by_key(|f| f.at);
        for w in mine.windows(2) {
            if w[0].node != w[1].node && w[1].at - w[0].at < interval.mul_f64(0.9) {
                out.push(format!(
                    "f{feed}: {} then {} after {:?}",
                    w[0].node,
                    w[1].node,
                    w[1].at - w[0].at
                ));
            }
        }
    }
    out
}

/// A brand-new node (a 4th `feedwatch run`, never run before) takes over its share of the
/// feeds, the one rendezvous hashing gives it, while the other three keep running: no
/// restart, no feed fetched by two nodes within an interval during the hand-over.
#[test]
fn a_new_node_takes_its_share_without_restarting_the_others() {
    let root = root();
    let nats = NatsCluster::start(root.path());
    let world = World::start(FEW);
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| Node::with(root.path(), n, &nats, &world, FEW, SHORT))
        .collect();
    for n in &mut nodes {
        n.start();
    }
    all_fetched(&world, FEW);
    wait_for(
        "three nodes sharing every feed",
        Duration::from_secs(60),
        || split(&nodes[0]).is_some_and(|(held, unheld, _)| held.len() == 3 && unheld.is_empty()),
    );
    let pids: Vec<u32> = nodes
        .iter()
        .map(|n| n.child.as_ref().unwrap().id())
        .collect();

    let mut fourth = Node::with(root.path(), "n4", &nats, &world, FEW, SHORT);
    fourth.start();
    let joined = Instant::now();
    // its share: the feeds rendezvous hashing gives n4 among the four
    let four: Vec<String> = ["n1", "n2", "n3", "n4"].map(String::from).to_vec();
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in 0..FEW {
        let feed = format!("f{i}");
        let owner = feedwatch::cluster::ids::owner(&feed, &four).unwrap();
        want.entry(owner.to_string()).or_default().insert(feed);
    }
    assert!(
        want.get("n4").is_some_and(|s| !s.is_empty()),
        "the test's feeds give n4 no share: {want:?}"
    );
    let mut last = None;
    wait_for(
        "four nodes holding the rendezvous split",
        feedwatch::cluster::TAKEOVER_BOUND + Duration::from_secs(60),
        || {
            last = split(&nodes[0]);
            last.as_ref()
                .is_some_and(|(held, unheld, _)| unheld.is_empty() && *held == want)
        },
    );
    let took = joined.elapsed();
    // and n4 fetches each of its feeds itself
    let mine = want["n4"].clone();
    wait_for(
        "n4 fetching each feed of its share",
        SHORT * 2 + Duration::from_secs(10),
        || {
            let fetched: BTreeSet<String> = world
                .fetches()
                .iter()
                .filter(|f| f.at > joined && f.node.contains("node-n4"))
                .map(|f| format!("f{}", f.feed))
                .collect();
            mine.is_subset(&fetched)
        },
    );
    eprintln!(
        "n4 held its {} of {FEW} feeds {took:?} after it started; all fetched by it after {:?}",
        mine.len(),
        joined.elapsed()
    );
    // nobody was restarted
    for (n, pid) in nodes.iter_mut().zip(&pids) {
        let child = n.child.as_mut().unwrap();
        assert_eq!(child.id(), *pid);
        assert!(
            child.try_wait().unwrap().is_none(),
            "{} exited during the join",
            n.name
        );
    }
    // no feed fetched by two nodes within an interval, the hand-over included
    let both = overlaps(&world.fetches(), FEW, SHORT);
    assert!(
        both.is_empty(),
        "feeds fetched by two nodes within one interval: {both:?}"
    );
}

/// `pause NAME` on one node (not the feed's holder) stops the feed on every node: no
/// fetch of it at the feed server for two intervals while the others are polled, shown
/// paused by `feeds` on each node and by `cluster status`; `resume NAME` on a third node
/// has it fetched again.
#[test]
fn pause_and_resume_act_on_every_node() {
    let root = root();
    let nats = NatsCluster::start(root.path());
    let world = World::start(FEW);
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| Node::with(root.path(), n, &nats, &world, FEW, SHORT))
        .collect();
    for n in &mut nodes {
        n.start();
    }
    all_fetched(&world, FEW);
    // each node holding feeds: its service runs (its control socket is up before its feed
    // loops start), so `pause` on it acts through the service
    let mut holder = None;
    wait_for(
        "three nodes holding feeds, f7 among them",
        Duration::from_secs(60),
        || {
            let Some((held, unheld, _)) = split(&nodes[0]) else {
                return false;
            };
            holder = held
                .iter()
                .find(|(_, feeds)| feeds.contains("f7"))
                .map(|(n, _)| n.clone());
            held.len() == 3 && held.values().all(|f| !f.is_empty()) && unheld.is_empty()
        },
    );
    let holder = holder.unwrap();
    let others: Vec<&Node> = nodes.iter().filter(|n| n.name != holder).collect();
    let (pauser, resumer) = (others[0], others[1]);

    let (code, out, err) = feedwatch(&pauser.config(), &["pause", "f7"]);
    assert_eq!(code, 0, "pause f7 on {}: {out}{err}", pauser.name);
    assert!(out.contains("f7: paused"), "{out}");
    let paused = Instant::now();
    // shown paused on every node, and by the cluster's status
    for n in &nodes {
        wait_for(
            &format!("f7 shown paused by `feeds` on {}", n.name),
            Duration::from_secs(15),
            || {
                let (_, out, _) = feedwatch(&n.config(), &["feeds", "--json"]);
                out.lines().any(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["feed"] == "f7" && v["state"] == "paused"
                })
            },
        );
    }
    let (_, _, paused_list) = split(&nodes[2]).unwrap();
    assert_eq!(paused_list, vec!["f7".to_string()]);
    // two intervals (the window the property is about): no fetch of f7 by any node, while
    // the other feeds are polled
    let window = paused + SHORT * 2;
    std::thread::sleep(window.saturating_duration_since(Instant::now()));
    let fetches = world.fetches();
    let of_f7: Vec<_> = fetches
        .iter()
        .filter(|f| f.feed == 7 && f.at > paused)
        .collect();
    assert!(of_f7.is_empty(), "f7 fetched while paused: {of_f7:?}");
    let others_polled = fetches
        .iter()
        .filter(|f| f.feed != 7 && f.at > paused)
        .map(|f| f.feed)
        .collect::<BTreeSet<_>>()
        .len();
    assert!(
        others_polled >= FEW / 2,
        "the other feeds were not polled meanwhile ({others_polled})"
    );
    // `poll f7` on the holder refuses too
    let (code, _, err) = feedwatch(
        &nodes.iter().find(|n| n.name == holder).unwrap().config(),
        &["poll", "f7"],
    );
    assert_eq!(code, 2, "poll f7 on the holder while paused: {err}");

    let (code, out, err) = feedwatch(&resumer.config(), &["resume", "f7"]);
    assert_eq!(code, 0, "resume f7 on {}: {out}{err}", resumer.name);
    let resumed = Instant::now();
    wait_for(
        "f7 fetched again after the resume",
        feedwatch::cluster::TAKEOVER_BOUND + SHORT,
        || {
            world
                .fetches()
                .iter()
                .any(|f| f.feed == 7 && f.at > resumed)
        },
    );
    eprintln!("f7 fetched again {:?} after the resume", resumed.elapsed());
    for n in &nodes {
        wait_for(
            &format!("f7 not shown paused on {}", n.name),
            Duration::from_secs(15),
            || {
                let (_, out, _) = feedwatch(&n.config(), &["feeds", "--json"]);
                out.lines().any(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["feed"] == "f7" && v["state"] != "paused"
                })
            },
        );
    }
    assert!(split(&nodes[0]).unwrap().2.is_empty());
}

/// With a `[cluster]` config and no service of it running, `once`, `poll` and `pause`
/// refuse (exit 2) rather than run as a lone node: nothing fetched, no alert log, no store.
#[test]
fn once_and_poll_refuse_to_run_as_a_lone_cluster_node() {
    let root = root();
    let world = World::start(1);
    let dir = root.path();
    let config = dir.join("feedwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n\
             [cluster]\nservers = [\"nats://127.0.0.1:{}\"]\nname = \"fwtest\"\nnode = \"n1\"\n\
             [[feeds]]\nname = \"f0\"\nurl = \"{}\"\n[[watch]]\nname = \"w\"\nterms = [\"CSTO\"]\n",
            nats::free_port(),
            world.feed_url(0)
        ),
    )
    .unwrap();
    world.add_story(0, "CSTO drills", &[0]);
    for args in [
        &["once"][..],
        &["poll", "--all"],
        &["poll", "f0"],
        &["pause", "f0"],
    ] {
        let (code, out, err) = feedwatch(&config, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            err.contains("cluster node's config") && err.contains("beside"),
            "{args:?}: {err}"
        );
    }
    let (_, _, err) = feedwatch(&config, &["once"]);
    assert!(err.contains("`feedwatch poll --all` beside"), "{err}");
    assert!(world.fetches().is_empty(), "fetched: {:?}", world.fetches());
    assert!(!dir.join("alerts.jsonl").exists());
    assert!(!dir.join("store").exists());
}
