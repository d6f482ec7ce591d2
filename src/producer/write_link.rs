//! One pipelined connection to a master: batches are written in turn and their replies
//! handed back in the same order, so batches to a stream stay in the order they were
//! sent, as on redis-rs's multiplexed connection.

use crate::seeds::{Address, Auth};
use crate::wire::pipeline_replies::PipelineReplies;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

const READ_CHUNK: usize = 64 * 1024;

pub struct Link {
    sending: Mutex<Sending>,
    broken: Arc<AtomicBool>,
    reader: JoinHandle<()>,
}

struct Sending {
    socket: OwnedWriteHalf,
    /// Reused for every batch, so a batch allocates nothing once it has grown.
    out: Vec<u8>,
    awaiting: mpsc::UnboundedSender<Awaiting>,
}

/// A request on the wire: how many replies it gets, whether to keep their ids, and who
/// waits for them.
struct Awaiting {
    count: usize,
    ids: bool,
    replies: oneshot::Sender<io::Result<PipelineReplies>>,
}

impl Link {
    pub async fn open(address: &Address, auth: &Auth) -> io::Result<Self> {
        let mut socket = TcpStream::connect((address.0.as_str(), address.1)).await?;
        socket.set_nodelay(true)?;
        if let Some((username, password)) = auth {
            let mut command = redis::cmd("AUTH");
            if let Some(username) = username {
                command.arg(username);
            }
            command.arg(password);
            socket.write_all(&command.get_packed_command()).await?;
            let mut input = Vec::new();
            let replies = read_replies(&mut socket, &mut input, 1, false).await?;
            if !replies.errors.is_empty() {
                return Err(io::ErrorKind::PermissionDenied.into());
            }
        }
        let (read_half, write_half) = socket.into_split();
        let (awaiting, waiters) = mpsc::unbounded_channel();
        let broken = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(hand_out_replies(read_half, waiters, Arc::clone(&broken)));
        Ok(Self {
            sending: Mutex::new(Sending {
                socket: write_half,
                out: Vec::new(),
                awaiting,
            }),
            broken,
            reader,
        })
    }

    /// Writes the `count` commands `encode` puts in the buffer and waits for their
    /// replies (keeping the ids they hold when `ids`). A write abandoned midway breaks the
    /// connection off.
    pub async fn send(
        &self,
        count: usize,
        ids: bool,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> io::Result<PipelineReplies> {
        let replies = {
            let mut sending = self.sending.lock().await;
            let Sending {
                socket,
                out,
                awaiting,
            } = &mut *sending;
            // A request cut off midway would swallow the next one's bytes as its body.
            if self.is_broken() {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            out.clear();
            encode(out);
            let (sender, replies) = oneshot::channel();
            let sent = awaiting.send(Awaiting {
                count,
                ids,
                replies: sender,
            });
            if sent.is_err() {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let unfinished = Unfinished(self);
            socket.write_all(out).await?;
            std::mem::forget(unfinished);
            replies
        };
        replies
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?
    }

    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Gives up on the connection: whoever waits for replies on it gets an error.
    pub fn break_off(&self) {
        self.broken.store(true, Ordering::Relaxed);
        self.reader.abort();
    }
}

/// Breaks the link off when dropped before the write is complete (an error, a timeout),
/// while the lock on the writing half is still held.
struct Unfinished<'a>(&'a Link);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        self.0.break_off();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Reads the replies of each request in the order they were written.
async fn hand_out_replies(
    mut socket: OwnedReadHalf,
    mut waiters: mpsc::UnboundedReceiver<Awaiting>,
    broken: Arc<AtomicBool>,
) {
    let mut input = Vec::with_capacity(2 * READ_CHUNK);
    while let Some(waiter) = waiters.recv().await {
        let replies = read_replies(&mut socket, &mut input, waiter.count, waiter.ids).await;
        let failed = replies.is_err();
        let _ = waiter.replies.send(replies);
        if failed {
            break;
        }
    }
    broken.store(true, Ordering::Relaxed);
}

/// Reads until `count` replies are complete; what follows stays in `input`.
async fn read_replies(
    socket: &mut (impl AsyncReadExt + Unpin),
    input: &mut Vec<u8>,
    count: usize,
    ids: bool,
) -> io::Result<PipelineReplies> {
    let mut replies = PipelineReplies::capturing(ids);
    loop {
        let used = replies
            .scan(input, count)
            .map_err(|unexpected| io::Error::new(io::ErrorKind::InvalidData, unexpected.0))?;
        input.drain(..used);
        if replies.seen == count {
            return Ok(replies);
        }
        input.reserve(READ_CHUNK);
        if socket.read_buf(input).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}
