//! XADD batches on plain TCP connections of their own, straight to the master of the
//! stream, their replies counted by `pipeline_replies` instead of parsed into values.
//!
//! Only without TLS. redis-rs stays the fallback: after a failure (a master that does
//! not answer, a redirection other than MOVED, a reply that cannot be read) the direct
//! path rests, and batches go through redis-rs, which knows the cluster, meanwhile.
//! Each master gets one connection (`write_link`), shared by the batches to it in turn.

use crate::cluster::nodes::Nodes;
use crate::cluster::retry::{classify_code, Disposition};
use crate::producer::write_link::Link;
use crate::seeds::{plain_seeds, Address, Auth};
use crate::wire::pipeline_replies::{error_parts, PipelineReplies};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// After a failure the direct path rests this long, and batches use redis-rs meanwhile.
const REST: Duration = Duration::from_secs(1);

pub struct DirectWrites {
    seeds: Vec<Address>,
    auth: Auth,
    connect_timeout: Duration,
    nodes: Arc<Nodes>,
    /// One connection per master, opened by the first batch that needs it.
    links: tokio::sync::Mutex<HashMap<Address, Arc<Link>>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Where MOVED replies sent each stream's writes since the last failure.
    moved: HashMap<String, Address>,
    next_seed: usize,
    resting_until: Option<Instant>,
}

/// What a direct write came to.
pub enum DirectWrite {
    /// Every command was answered (ids, refusals, WAIT's count).
    Answered(PipelineReplies),
    /// The commands were sent but not all replies arrived: any of them may be written.
    Lost(io::Error),
    /// Nothing was sent: use redis-rs.
    Unavailable,
}

impl DirectWrites {
    /// `None` when a seed is not plain TCP (TLS, Unix sockets) or names a database:
    /// those stay with redis-rs.
    #[must_use]
    pub fn new(seed_urls: &[String], connect_timeout: Duration, nodes: Arc<Nodes>) -> Option<Self> {
        let (seeds, auth) = plain_seeds(seed_urls)?;
        Some(Self {
            seeds,
            auth,
            connect_timeout,
            nodes,
            links: tokio::sync::Mutex::default(),
            state: Mutex::default(),
        })
    }

    /// Sends the `count` commands `encode` writes to the master of `stream` and waits up
    /// to `timeout` for their replies (keeping the ids they hold when `ids`). A MOVED that
    /// refused every command is followed once; other refusals are the caller's to sort.
    pub async fn write(
        &self,
        stream: &str,
        count: usize,
        ids: bool,
        timeout: Duration,
        encode: impl Fn(&mut Vec<u8>),
    ) -> DirectWrite {
        if self
            .state
            .lock()
            .resting_until
            .is_some_and(|until| Instant::now() < until)
        {
            return DirectWrite::Unavailable;
        }
        let mut followed = false;
        loop {
            let address = self.target(stream);
            let Some(link) = self.link_to(&address).await else {
                self.rest(stream);
                return DirectWrite::Unavailable;
            };
            let replies = match tokio::time::timeout(timeout, link.send(count, ids, &encode)).await
            {
                Ok(Ok(replies)) => replies,
                Ok(Err(error)) => {
                    self.close(&address, &link).await;
                    self.rest(stream);
                    return DirectWrite::Lost(error);
                }
                Err(elapsed) => {
                    self.close(&address, &link).await;
                    self.rest(stream);
                    return DirectWrite::Lost(elapsed.into());
                }
            };
            match self.redirection(stream, &address, &replies) {
                Redirection::Moved if !followed => followed = true,
                Redirection::Other => {
                    self.rest(stream);
                    return DirectWrite::Answered(replies);
                }
                Redirection::Moved | Redirection::None => return DirectWrite::Answered(replies),
            }
        }
    }

    /// Notes where MOVED replies point. `Moved` when every command was refused with one.
    fn redirection(&self, stream: &str, asked: &Address, replies: &PipelineReplies) -> Redirection {
        let mut redirection = Redirection::None;
        for (_, text) in &replies.errors {
            let (code, detail) = error_parts(text);
            if code == "MOVED" {
                if redirection == Redirection::None {
                    self.moved(stream, asked, detail);
                }
                redirection = Redirection::Moved;
            } else if classify_code(code) == Disposition::Retry {
                return Redirection::Other;
            }
        }
        let refused_all = replies.errors.len() + replies.integers.len() == replies.seen;
        if redirection == Redirection::Moved && !refused_all {
            return Redirection::None;
        }
        redirection
    }

    /// Writes of `stream` go where `MOVED detail` points from now on, and redis-rs and
    /// the slot map learn of it.
    fn moved(&self, stream: &str, asked: &Address, detail: &str) {
        let Some((host, port)) = moved_to(detail) else {
            return;
        };
        // An empty host (an unknown endpoint) means the host asked.
        let host = if host.is_empty() {
            asked.0.clone()
        } else {
            host
        };
        let target = (host, port);
        let before = self
            .state
            .lock()
            .moved
            .insert(stream.to_owned(), target.clone());
        if before != Some(target) {
            self.nodes.slot_moved(stream);
        }
    }

    /// Where `stream` is written: where MOVED last pointed, else the master the slot map
    /// names, else a seed.
    fn target(&self, stream: &str) -> Address {
        let state = self.state.lock();
        if let Some(address) = state.moved.get(stream) {
            return address.clone();
        }
        self.nodes
            .master_of(stream)
            .and_then(|node| {
                let (host, port) = node.rsplit_once(':')?;
                Some((host.to_owned(), port.parse().ok()?))
            })
            .unwrap_or_else(|| self.seeds[state.next_seed].clone())
    }

    async fn link_to(&self, address: &Address) -> Option<Arc<Link>> {
        let mut links = self.links.lock().await;
        if let Some(link) = links.get(address).filter(|link| !link.is_broken()) {
            return Some(Arc::clone(link));
        }
        let opened = Link::open(address, &self.auth);
        let link = Arc::new(
            tokio::time::timeout(self.connect_timeout, opened)
                .await
                .ok()?
                .ok()?,
        );
        links.insert(address.clone(), Arc::clone(&link));
        Some(link)
    }

    /// Closes the connection to `address`: a request abandoned midway leaves it unusable.
    async fn close(&self, address: &Address, link: &Arc<Link>) {
        link.break_off();
        let mut links = self.links.lock().await;
        if links
            .get(address)
            .is_some_and(|open| Arc::ptr_eq(open, link))
        {
            links.remove(address);
        }
    }

    /// Lets redis-rs serve for a while.
    fn rest(&self, stream: &str) {
        let mut state = self.state.lock();
        state.moved.remove(stream);
        state.next_seed = (state.next_seed + 1) % self.seeds.len();
        state.resting_until = Some(Instant::now() + REST);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redirection {
    None,
    /// Every command was refused with MOVED: send them all where it points.
    Moved,
    /// A refusal redis-rs handles better (ASK, TRYAGAIN, CLUSTERDOWN, …).
    Other,
}

/// The master a `MOVED slot host:port` reply points to (`detail` is what follows MOVED).
fn moved_to(detail: &str) -> Option<Address> {
    let (_slot, address) = detail.split_once(' ')?;
    let (host, port) = address.rsplit_once(':')?;
    Some((host.to_owned(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_replies_name_the_master() {
        assert_eq!(
            moved_to("3999 127.0.0.1:6381"),
            Some(("127.0.0.1".to_owned(), 6381))
        );
        assert_eq!(moved_to("1 :6381"), Some((String::new(), 6381)));
        assert_eq!(moved_to("3999"), None);
    }
}
