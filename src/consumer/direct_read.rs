//! XREADGROUP on a plain TCP connection of its own, parsed by `raw_reply`.
//!
//! Only the shard readers' XREADGROUP goes this way, and only without TLS. redis-rs
//! stays the fallback: while the direct connection cannot reach the shard's master (a
//! failover, a slot being migrated), reads go through redis-rs, which knows the cluster.

use crate::seeds::{plain_seeds, Address, Auth};
use crate::wire::raw_reply::{RawReply, ReplyParser};
use crate::wire::reply::Entry;
use redis::{RedisError, Value};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// After a failure the direct path rests this long, and reads use redis-rs meanwhile.
const REST: Duration = Duration::from_secs(1);
const READ_CHUNK: usize = 64 * 1024;
/// A buffer that grew past this for one large reply is given back afterwards.
const KEEP_BUFFER: usize = 4 * 1024 * 1024;

pub struct DirectReads {
    seeds: Vec<Address>,
    /// Username and password for `AUTH`.
    auth: Auth,
    /// Longest wait for one reply, BLOCK included.
    response_timeout: Duration,
    connect_timeout: Duration,
    next_seed: usize,
    /// The master last seen holding the stream (followed from MOVED replies).
    target: Option<Address>,
    link: Option<Link>,
    resting_until: Option<Instant>,
}

/// What a direct read came to.
pub enum Direct {
    Entries(Vec<Entry>),
    /// The server refused the read (NOGROUP, TRYAGAIN, …).
    Refused(RedisError),
    /// The read was sent but its reply never arrived: the server may have delivered
    /// entries that are now pending here unseen.
    Lost(RedisError),
    /// The direct path cannot serve this read: use redis-rs.
    Unavailable,
}

impl DirectReads {
    /// `None` when a seed is not plain TCP (TLS, Unix sockets): those stay with redis-rs.
    #[must_use]
    pub fn new(
        seed_urls: &[String],
        response_timeout: Duration,
        connect_timeout: Duration,
    ) -> Option<Self> {
        let (seeds, auth) = plain_seeds(seed_urls)?;
        Some(Self {
            seeds,
            auth,
            response_timeout,
            connect_timeout,
            next_seed: 0,
            target: None,
            link: None,
            resting_until: None,
        })
    }

    /// Sends the next reads to `node` (`host:port`), the master the slot map names for
    /// the stream, rather than to a seed that would answer MOVED: at a distance each
    /// redirect costs two round trips (connecting, then asking again).
    pub fn aim_at(&mut self, node: &str) {
        if let Some((host, port)) = node.rsplit_once(':') {
            if let Ok(port) = port.parse() {
                self.target = Some((host.to_owned(), port));
            }
        }
    }

    /// Sends `command` (a packed XREADGROUP of one stream), following one MOVED.
    pub async fn read(&mut self, command: &[u8]) -> Direct {
        if self
            .resting_until
            .is_some_and(|until| Instant::now() < until)
        {
            return Direct::Unavailable;
        }
        for _ in 0..2 {
            let line = match self.request(command).await {
                Ok(RawReply::Entries(entries)) => return Direct::Entries(entries),
                Ok(RawReply::Error(line)) => line,
                Err(Unanswered::Sent(error)) => {
                    self.rest();
                    return Direct::Lost(error.into());
                }
                Err(Unanswered::NotSent) => break,
            };
            if self.follow_moved(&line) {
                continue;
            }
            if line.starts_with(b"-ASK ") {
                break;
            }
            if let Some(error) = server_error(line) {
                return Direct::Refused(error);
            }
            break;
        }
        self.rest();
        Direct::Unavailable
    }

    /// Sends `command` (a packed XREADGROUP of the same stream) on the open link without
    /// waiting for its reply, behind the reads already on the wire. False when no link is
    /// open: then the caller reads with `read`.
    pub async fn send_ahead(&mut self, command: &[u8]) -> bool {
        let Some(link) = self.link.as_mut() else {
            return false;
        };
        if link.send(command).await.is_ok() {
            return true;
        }
        self.rest();
        false
    }

    /// The reply to the oldest read sent ahead. Anything but entries drops the link, and
    /// with it the replies of the reads behind this one, which may have delivered
    /// entries: the caller treats every error as a lost reply.
    pub async fn receive_ahead(&mut self) -> Result<Vec<Entry>, RedisError> {
        let Some(open) = self.link.as_mut() else {
            return Err(io::Error::from(io::ErrorKind::NotConnected).into());
        };
        let error_line = match tokio::time::timeout(self.response_timeout, open.receive()).await {
            Ok(Ok(RawReply::Entries(entries))) => return Ok(entries),
            Ok(Ok(RawReply::Error(line))) => line,
            Ok(Err(error)) => {
                self.rest();
                return Err(error.into());
            }
            Err(elapsed) => {
                self.rest();
                return Err(io::Error::from(elapsed).into());
            }
        };
        self.link = None;
        self.follow_moved(&error_line);
        Err(server_error(error_line)
            .unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidData).into()))
    }

    /// Aims at the master a MOVED reply names, on a new link; false for other replies.
    fn follow_moved(&mut self, line: &[u8]) -> bool {
        let Some((host, port)) = moved_to(line) else {
            return false;
        };
        // An empty host (an unknown endpoint) means the host asked.
        let host = match (host.is_empty(), &self.target) {
            (true, Some((asked, _))) => asked.clone(),
            _ => host,
        };
        self.target = Some((host, port));
        self.link = None;
        true
    }

    fn rest(&mut self) {
        self.link = None;
        self.target = None;
        self.next_seed = (self.next_seed + 1) % self.seeds.len();
        self.resting_until = Some(Instant::now() + REST);
    }

    async fn request(&mut self, command: &[u8]) -> Result<RawReply, Unanswered> {
        // A read abandoned midway (the consumer stopped) leaves its reply on the wire.
        if self.link.as_ref().is_some_and(|link| link.outstanding > 0) {
            self.link = None;
        }
        if self.link.is_none() {
            let address = self
                .target
                .clone()
                .unwrap_or_else(|| self.seeds[self.next_seed].clone());
            let opened = Link::open(&address, self.auth.as_ref());
            let link = tokio::time::timeout(self.connect_timeout, opened)
                .await
                .map_err(|_| Unanswered::NotSent)?
                .map_err(|_| Unanswered::NotSent)?;
            self.target = Some(address);
            self.link = Some(link);
        }
        let link = self.link.as_mut().expect("a link was just opened");
        match tokio::time::timeout(self.response_timeout, link.request(command)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(Unanswered::Sent(error)),
            Err(elapsed) => Err(Unanswered::Sent(elapsed.into())),
        }
    }
}

/// Why a request got no reply: it never left (connecting failed), or it may have
/// reached the server (the connection failed or timed out after sending).
enum Unanswered {
    NotSent,
    Sent(io::Error),
}

/// An error reply's line (`-CODE detail`) as redis-rs would have reported it.
fn server_error(mut line: Vec<u8>) -> Option<RedisError> {
    line.extend_from_slice(b"\r\n");
    match redis::parse_redis_value(&line) {
        Ok(Value::ServerError(error)) => Some(error.into()),
        _ => None,
    }
}

/// The master a `-MOVED slot host:port` reply points to.
fn moved_to(line: &[u8]) -> Option<Address> {
    let text = std::str::from_utf8(line.strip_prefix(b"-MOVED ")?).ok()?;
    let (_slot, address) = text.split_once(' ')?;
    let (host, port) = address.rsplit_once(':')?;
    Some((host.to_owned(), port.parse().ok()?))
}

struct Link {
    socket: TcpStream,
    /// Bytes read and not yet parsed: the start of the next reply, if any.
    buf: Vec<u8>,
    /// Requests on the wire whose replies are not read yet.
    outstanding: usize,
}

impl Link {
    async fn open(address: &Address, auth: Option<&(Option<String>, String)>) -> io::Result<Self> {
        let socket = TcpStream::connect((address.0.as_str(), address.1)).await?;
        socket.set_nodelay(true)?;
        let mut link = Self {
            socket,
            buf: Vec::with_capacity(READ_CHUNK),
            outstanding: 0,
        };
        if let Some((username, password)) = auth {
            let mut command = redis::cmd("AUTH");
            if let Some(username) = username {
                command.arg(username);
            }
            command.arg(password);
            link.expect_ok(&command.get_packed_command()).await?;
        }
        Ok(link)
    }

    async fn expect_ok(&mut self, command: &[u8]) -> io::Result<()> {
        self.socket.write_all(command).await?;
        self.buf.clear();
        while !self.buf.ends_with(b"\r\n") {
            if self.socket.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let ok = self.buf.starts_with(b"+OK");
        self.buf.clear();
        if ok {
            Ok(())
        } else {
            Err(io::ErrorKind::PermissionDenied.into())
        }
    }

    async fn request(&mut self, command: &[u8]) -> io::Result<RawReply> {
        self.send(command).await?;
        self.receive().await
    }

    async fn send(&mut self, command: &[u8]) -> io::Result<()> {
        self.outstanding += 1;
        self.socket.write_all(command).await
    }

    /// The reply to the oldest request on the wire.
    async fn receive(&mut self) -> io::Result<RawReply> {
        let mut parser = ReplyParser::default();
        loop {
            let parsed = parser
                .parse(&self.buf)
                .map_err(|malformed| io::Error::new(io::ErrorKind::InvalidData, malformed.0))?;
            if let Some((reply, length)) = parsed {
                self.outstanding -= 1;
                if self.outstanding == 0 && length != self.buf.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "bytes after the reply",
                    ));
                }
                self.buf.drain(..length);
                if self.buf.is_empty() && self.buf.capacity() > KEEP_BUFFER {
                    self.buf = Vec::with_capacity(READ_CHUNK);
                }
                return Ok(reply);
            }
            self.buf.reserve(READ_CHUNK);
            if self.socket.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_replies_name_the_master() {
        assert_eq!(
            moved_to(b"-MOVED 3999 127.0.0.1:6381"),
            Some(("127.0.0.1".to_owned(), 6381))
        );
        assert_eq!(moved_to(b"-MOVED 1 :6381"), Some((String::new(), 6381)));
        assert_eq!(moved_to(b"-ASK 3999 127.0.0.1:6381"), None);
    }

    #[test]
    fn only_plain_tcp_seeds_read_directly() {
        let timeout = Duration::from_secs(1);
        let direct = DirectReads::new(&["redis://u:p@h:1".to_owned()], timeout, timeout).unwrap();
        assert_eq!(direct.seeds, [("h".to_owned(), 1)]);
        assert_eq!(direct.auth, Some((Some("u".to_owned()), "p".to_owned())));
        assert!(DirectReads::new(&["rediss://h:1".to_owned()], timeout, timeout).is_none());
    }

    #[test]
    fn reads_aim_at_the_master_named_for_the_stream() {
        let timeout = Duration::from_secs(1);
        let mut direct = DirectReads::new(&["redis://h:1".to_owned()], timeout, timeout).unwrap();
        direct.aim_at("unknown");
        assert_eq!(direct.target, None);
        direct.aim_at("10.0.0.7:7002");
        assert_eq!(direct.target, Some(("10.0.0.7".to_owned(), 7002)));
    }

    /// A one-entry XREADGROUP reply with body `body`.
    fn entry_reply(id: &str, body: &str) -> Vec<u8> {
        format!(
            "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n${}\r\n{id}\r\n*2\r\n$1\r\nm\r\n${}\r\n{body}\r\n",
            id.len(),
            body.len()
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn replies_to_reads_sent_ahead_come_in_order_and_an_error_drops_the_link() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            socket.write_all(&entry_reply("1-0", "a")).await.unwrap();
            let _ = socket.read(&mut request).await.unwrap();
            // Both replies in one segment: the second must wait in the buffer.
            let mut replies = entry_reply("2-0", "b");
            replies.extend_from_slice(b"-MOVED 1 127.0.0.1:7002\r\n");
            socket.write_all(&replies).await.unwrap();
            socket
        });
        let timeout = Duration::from_secs(5);
        let seeds = [format!("redis://127.0.0.1:{port}")];
        let mut direct = DirectReads::new(&seeds, timeout, timeout).unwrap();
        let Direct::Entries(first) = direct.read(b"read 1").await else {
            panic!("the first read should bring entries");
        };
        assert_eq!(first[0].id, "1-0");
        assert!(direct.send_ahead(b"read 2").await);
        assert!(direct.send_ahead(b"read 3").await);
        let second = direct.receive_ahead().await.unwrap();
        assert_eq!(
            (second[0].id.as_str(), second[0].body.as_deref()),
            ("2-0", Some(&b"b"[..]))
        );
        let moved = direct.receive_ahead().await.unwrap_err();
        assert_eq!(moved.code(), Some("MOVED"));
        assert!(
            direct.link.is_none(),
            "replies behind an error are not trusted"
        );
        assert_eq!(direct.target, Some(("127.0.0.1".to_owned(), 7002)));
        assert!(
            !direct.send_ahead(b"read 4").await,
            "no link to send ahead on"
        );
        drop(server.await.unwrap());
    }
}
