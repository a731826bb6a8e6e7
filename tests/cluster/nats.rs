//! A real 3-server NATS JetStream cluster on loopback ports, in a temporary directory
//! (`sync_interval: always`), its servers killable and restartable one by one.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_for;

/// The nats-server binary: `$FEEDWATCH_NATS_SERVER`, else `nats-server` on PATH. The suite
/// fails (never skips) without it: tests/cluster/install-nats.sh installs the pinned one.
pub fn server_binary() -> PathBuf {
    let bin = std::env::var_os("FEEDWATCH_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("nats-server"));
    let version = Command::new(&bin).arg("--version").output();
    match version {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stdout).to_string();
            assert!(
                !v.contains("v2.9."),
                "{} is {v}: too old for the cluster suite (2.10 or newer; run tests/cluster/install-nats.sh)",
                bin.display()
            );
            bin
        }
        _ => panic!(
            "no nats-server ({}): the cluster suite needs one; run tests/cluster/install-nats.sh \
             (pip, pinned version and hash) or set FEEDWATCH_NATS_SERVER",
            bin.display()
        ),
    }
}

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One server of the cluster.
pub struct NatsServer {
    pub name: String,
    pub port: u16,
    pub monitor: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// Whether its process was started and not killed.
    pub fn child_running(&self) -> bool {
        self.child.is_some()
    }
}

/// Three servers, JetStream on, replicas possible 3.
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
    bin: PathBuf,
}

impl NatsCluster {
    /// Starts three servers in `dir` and waits until JetStream answers on each.
    pub fn start(dir: &Path) -> NatsCluster {
        let bin = server_binary();
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route_list: Vec<String> = routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let mut servers = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            let name = format!("s{}", i + 1);
            let port = free_port();
            let monitor = free_port();
            let store = dir.join(format!("{name}-js"));
            let config = dir.join(format!("{name}.conf"));
            let text = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitor}\n\
                 jetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n\
                 cluster {{\n  name: fwtest\n  listen: 127.0.0.1:{route}\n  routes: [{}]\n}}\n",
                store.display(),
                route_list.join(", ")
            );
            std::fs::write(&config, text).unwrap();
            servers.push(NatsServer {
                log: dir.join(format!("{name}.log")),
                name,
                port,
                monitor,
                config,
                child: None,
            });
        }
        let mut cluster = NatsCluster { servers, bin };
        for i in 0..3 {
            cluster.start_server(i);
        }
        for i in 0..3 {
            cluster.wait_ready(i);
        }
        cluster
    }

    /// The client URLs, for `[cluster] servers`.
    pub fn urls(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| format!("nats://127.0.0.1:{}", s.port))
            .collect()
    }

    /// Starts (or restarts) server `i`.
    pub fn start_server(&mut self, i: usize) {
        let s = &mut self.servers[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&s.log)
            .unwrap();
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&s.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        s.child = Some(child);
    }

    /// Waits until server `i` reports JetStream healthy.
    pub fn wait_ready(&self, i: usize) {
        let s = &self.servers[i];
        wait_for(
            &format!("NATS server {} healthy (log {})", s.name, s.log.display()),
            Duration::from_secs(60),
            || http_status(s.monitor, "/healthz") == Some(200),
        );
    }

    /// SIGKILLs server `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.servers[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
    }
}

/// The status of a GET on the loopback `port`, if it answered.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(c, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    c.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
