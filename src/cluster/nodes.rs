//! Which node serves a key, to name it when a command to it fails and to write to it
//! directly: the cluster's slot map as last read with `CLUSTER SLOTS`, read again (at
//! most once a second) whenever a failure is reported, since failures are when slots
//! move, and whenever a direct write meets a MOVED.

use crate::cluster::connection::Connection;
use crate::wire::hash_slot::slot_of;
use parking_lot::Mutex;
use redis::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REREAD_AT_MOST_EVERY: Duration = Duration::from_secs(1);

pub struct Nodes {
    connection: Connection,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// `(first slot, last slot, "host:port")` of each master.
    ranges: Vec<(u16, u16, String)>,
    read_at: Option<Instant>,
}

impl Nodes {
    /// Reads the slot map now; a standalone server (or a refused `CLUSTER SLOTS`) leaves
    /// it empty, and nodes are then named `unknown`.
    pub async fn load(connection: Connection) -> Arc<Self> {
        let nodes = Arc::new(Self {
            connection,
            state: Mutex::new(State::default()),
        });
        nodes.reread().await;
        nodes
    }

    /// The node serving `key`, as last known, and a fresh look at the slot map soon.
    pub fn node_of(self: &Arc<Self>, key: &str) -> String {
        let node = self.master_of(key).unwrap_or_else(|| "unknown".to_owned());
        let outdated = self
            .state
            .lock()
            .read_at
            .is_none_or(|at| at.elapsed() >= REREAD_AT_MOST_EVERY);
        if outdated {
            self.state.lock().read_at = Some(Instant::now());
            let nodes = Arc::clone(self);
            tokio::spawn(async move { nodes.reread().await });
        }
        node
    }

    /// The master serving `key` as last known, without looking again.
    pub fn master_of(&self, key: &str) -> Option<String> {
        let slot = slot_of(key.as_bytes());
        self.state
            .lock()
            .ranges
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, node)| node.clone())
    }

    /// A MOVED for `key` was seen outside redis-rs: sends redis-rs a read of `key`, so
    /// it follows the MOVED itself and learns the new slot map (other commands are
    /// routed by it), and reads the map here again.
    pub fn slot_moved(self: &Arc<Self>, key: &str) {
        let nodes = Arc::clone(self);
        let mut read = redis::cmd("EXISTS");
        read.arg(key);
        let key = key.to_owned();
        tokio::spawn(async move {
            let mut connection = nodes.connection.clone();
            let _ = connection.command_for(&key, read).await;
            nodes.reread().await;
        });
    }

    async fn reread(&self) {
        let mut connection = self.connection.clone();
        let reply: redis::RedisResult<Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut connection)
            .await;
        let mut state = self.state.lock();
        state.read_at = Some(Instant::now());
        if let Ok(reply) = reply {
            state.ranges = parse_slots(&reply);
        }
    }
}

pub(crate) fn parse_slots(reply: &Value) -> Vec<(u16, u16, String)> {
    let Value::Array(ranges) = reply else {
        return Vec::new();
    };
    ranges
        .iter()
        .filter_map(|range| match range {
            Value::Array(parts) => match parts.as_slice() {
                [Value::Int(first), Value::Int(last), Value::Array(master), ..] => {
                    let (host, port) = match master.as_slice() {
                        [Value::BulkString(host), Value::Int(port), ..] => {
                            (String::from_utf8_lossy(host).into_owned(), *port)
                        }
                        _ => return None,
                    };
                    Some((*first as u16, *last as u16, format!("{host}:{port}")))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_map_names_each_master() {
        let master =
            |host: &str, port| Value::Array(vec![Value::BulkString(host.into()), Value::Int(port)]);
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                master("10.0.0.1", 7001),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                master("10.0.0.2", 7002),
            ]),
        ]);
        assert_eq!(
            parse_slots(&reply),
            [
                (0, 5460, "10.0.0.1:7001".to_owned()),
                (5461, 16383, "10.0.0.2:7002".to_owned())
            ]
        );
    }
}
