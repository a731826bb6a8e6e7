//! `[cluster]`: several feedwatch nodes sharing the work through NATS JetStream
//! ([`crate::cluster`], docs/cluster.md). Without the table nothing changes.

use std::path::PathBuf;

use toml::de::DeTable;

use super::reader::Reader;

/// `[cluster]`: where the NATS servers are and who this node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// NATS server URLs (`nats://host:4222`), at least one.
    pub servers: Vec<String>,
    /// A NATS credentials file (JWT and NKey seed), if the servers ask for one.
    pub creds_file: Option<PathBuf>,
    /// Prefixes every stream, bucket, consumer and subject: one NATS system may serve
    /// several feedwatch clusters.
    pub name: String,
    /// This node's name, unique in the cluster; default (or "") the host name.
    pub node: String,
}

/// `name` when the table does not set it.
pub const DEFAULT_NAME: &str = "feedwatch";

/// The host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`), as a node name.
pub fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| if valid_char(c) { c } else { '-' })
        .collect();
    if name.is_empty() {
        "node".to_string()
    } else {
        name
    }
}

/// Letters, digits, '-' and '_': what a NATS stream, bucket or consumer name and a subject
/// token may all hold.
fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

impl Reader<'_> {
    /// `[cluster]`, when the document has it.
    pub(super) fn cluster(
        &mut self,
        doc: &DeTable<'_>,
        resolve: impl Fn(PathBuf) -> PathBuf,
    ) -> Option<ClusterConfig> {
        let at = doc.get("cluster")?.span().start;
        let t = self.section(doc, "cluster")?;
        if !cfg!(feature = "cluster") {
            self.error(
                at,
                "cluster",
                "this feedwatch was built without cluster mode (cargo feature \"cluster\"); \
                 remove [cluster] or install a build with it (docs/cluster.md)",
            );
            return None;
        }
        let mut servers = Vec::new();
        match self.string_list(t, "cluster", "servers") {
            Some(list) => {
                for (s, span) in list {
                    let ok = url::Url::parse(&s)
                        .is_ok_and(|u| matches!(u.scheme(), "nats" | "tls") && u.host().is_some());
                    if ok {
                        servers.push(s);
                    } else {
                        self.error(
                            span.start,
                            "cluster.servers",
                            format!(
                                "{s:?} is not a NATS server URL; write nats://HOST:PORT or tls://HOST:PORT"
                            ),
                        );
                    }
                }
            }
            None if t.get("servers").is_none() => self.error(
                at,
                "cluster.servers",
                "missing: [cluster] needs servers = [\"nats://HOST:4222\", ...]",
            ),
            None => {}
        }
        let creds_file = self
            .string(t, "cluster", "creds_file")
            .filter(|(s, _)| !s.is_empty())
            .map(|(s, _)| resolve(PathBuf::from(s)));
        let mut word = |key: &str, default: String| -> String {
            match self
                .string(t, "cluster", key)
                .filter(|(s, _)| !s.is_empty())
            {
                Some((s, span)) => {
                    if s.len() > 64 || !s.chars().all(valid_char) {
                        self.error(
                            span.start,
                            &format!("cluster.{key}"),
                            format!(
                                "{s:?} is not a valid {key}; use 1 to 64 letters, digits, '-' and '_' (it names NATS streams, buckets and consumers)"
                            ),
                        );
                    }
                    s
                }
                None => default,
            }
        };
        let name = word("name", DEFAULT_NAME.to_string());
        let node = word("node", host_name());
        Some(ClusterConfig {
            servers,
            creds_file,
            name,
            node,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::errors;

    /// A config with one feed and `cluster` (a config without feeds is refused anyway).
    fn with_feed(cluster: &str) -> String {
        format!("{cluster}[[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n")
    }

    #[test]
    #[cfg(not(feature = "cluster"))]
    fn a_build_without_the_feature_refuses_the_table() {
        let e = errors(&with_feed(
            "[cluster]\nservers = [\"nats://127.0.0.1:4222\"]\n",
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("built without cluster mode"), "{e:?}");
        assert!(e[0].starts_with("t.toml:1: cluster:"), "{e:?}");
    }

    #[test]
    #[cfg(feature = "cluster")]
    fn the_table_is_read_and_checked() {
        use super::super::{Env, parse};
        let c = parse(
            &with_feed("[cluster]\nservers = [\"nats://127.0.0.1:4222\"]\nnode = \"a-1\"\n"),
            "t.toml",
            None,
            &Env::default(),
        )
        .unwrap();
        let cl = c.cluster.unwrap();
        assert_eq!(cl.servers, ["nats://127.0.0.1:4222"]);
        assert_eq!((cl.name.as_str(), cl.node.as_str()), ("feedwatch", "a-1"));
        let e = errors(&with_feed(
            "[cluster]\nservers = [\"http://x\"]\nname = \"a b\"\n",
        ));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("not a NATS server URL"), "{e:?}");
        assert!(e[1].contains("cluster.name"), "{e:?}");
        let e = errors(&with_feed("[cluster]\nnode = \"n\"\n"));
        assert!(e[0].contains("cluster.servers: missing"), "{e:?}");
    }
}
