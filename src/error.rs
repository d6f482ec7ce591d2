//! The one error type of the core. `PyO3` stays out of here: `python/errors.rs` maps it.

use std::fmt;

/// Everything that can go wrong in the core, by what a caller can do about it.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An option or argument is invalid; raised before anything touches the network.
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    /// The seed nodes could not be reached or did not form a usable cluster in time.
    Connect { nodes: String, detail: String },
    /// A wait ran out of time.
    Timeout { what: String, seconds: f64 },
    /// A server holding one of the queue's streams is older than ami supports.
    UnsupportedServer {
        key: String,
        version: String,
        needs: String,
    },
    /// The server refused a command for a reason that retrying cannot fix.
    Server {
        command: &'static str,
        key: String,
        code: String,
        detail: String,
    },
    /// A command failed for a passing reason (a lost connection, a failover, a slot on
    /// the move) and will be tried again: reported, not raised.
    Transient {
        command: &'static str,
        key: String,
        /// The node that served `key`, as last known (`host:port`).
        node: String,
        code: String,
        detail: String,
    },
    /// Accepted messages that could not be written before their deadline.
    Delivery { failed: u64, detail: String },
    /// An entry without field `m`, or deleted while pending: acked off the queue.
    InvalidEntry { stream: String, id: String },
    /// An entry was delivered `max_deliveries` times and moved to the dead-letter stream.
    DeadLettered {
        stream: String,
        id: String,
        deliveries: u64,
    },
    /// A body is larger than `max_message_bytes`; nothing was sent.
    MessageTooLarge { size: usize, limit: usize },
    /// The client was used after `close()`.
    Closed { what: &'static str },
    /// A background task panicked: a bug in ami. The client cannot go on.
    Panicked { task: &'static str, detail: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// `command` on `key` refused by the server (or failed on the way), as redis-rs
    /// reported it.
    pub fn server(
        command: &'static str,
        key: impl Into<String>,
        error: &redis::RedisError,
    ) -> Self {
        Error::Server {
            command,
            key: key.into(),
            code: error.code().unwrap_or_default().to_owned(),
            detail: error
                .detail()
                .map_or_else(|| error.to_string(), str::to_owned),
        }
    }

    /// This failure, reported as one that will be retried against `node`.
    #[must_use]
    pub fn retrying(self, node: String) -> Self {
        match self {
            Error::Server {
                command,
                key,
                code,
                detail,
            } => Error::Transient {
                command,
                key,
                node,
                code,
                detail,
            },
            other => other,
        }
    }

    pub fn invalid(option: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidOption {
            option,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidOption { option, reason } => write!(f, "invalid {option}: {reason}"),
            Error::Connect { nodes, detail } => {
                write!(f, "could not connect to the cluster at {nodes}: {detail}")
            }
            Error::Timeout { what, seconds } => write!(f, "{what} timed out after {seconds}s"),
            Error::UnsupportedServer {
                key,
                version,
                needs,
            } => write!(
                f,
                "the server holding {key} runs Redis {version}; ami needs {needs} or later"
            ),
            Error::Server {
                command,
                key,
                code,
                detail,
            } => {
                write!(f, "{command} on {key} failed: {code} {detail}")
            }
            Error::Transient {
                command,
                key,
                node,
                code,
                detail,
            } => {
                let cause = if code.is_empty() {
                    detail.clone()
                } else {
                    format!("{code} {detail}")
                };
                write!(f, "{command} on {key} at {node} will be retried: {cause}")
            }
            Error::Delivery { failed, detail } => {
                write!(f, "{failed} message(s) could not be written: {detail}")
            }
            Error::InvalidEntry { stream, id } => {
                write!(
                    f,
                    "entry {id} of {stream} has no field m or was deleted; acked off the queue"
                )
            }
            Error::DeadLettered {
                stream,
                id,
                deliveries,
            } => write!(
                f,
                "entry {id} of {stream} was delivered {deliveries} times; moved to its dead-letter stream"
            ),
            Error::MessageTooLarge { size, limit } => {
                write!(
                    f,
                    "message of {size} bytes is over max_message_bytes={limit}"
                )
            }
            Error::Closed { what } => write!(f, "{what} is closed"),
            Error::Panicked { task, detail } => write!(
                f,
                "the {task} task failed unexpectedly ({detail}); this is a bug in ami, \
                 and the client cannot go on: close it and start another"
            ),
        }
    }
}

impl std::error::Error for Error {}
