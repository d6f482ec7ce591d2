//! Which failures are worth retrying, and how long to wait before the next try.

use crate::error::Error;
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// What to do about a failed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The cluster is moving, loading, failing over or short of memory: try again later.
    Retry,
    /// The group or stream is gone; recreate it, then retry.
    Recreate,
    /// Retrying cannot help (permissions, wrong type, bad arguments).
    Fatal,
}

/// Classifies a server error reply by its code (the first word of the reply).
#[must_use]
pub fn classify_code(code: &str) -> Disposition {
    match code {
        "MOVED" | "ASK" | "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" | "MASTERDOWN" | "READONLY"
        | "UNBLOCKED" | "OOM" | "NOREPLICAS" | "MISCONF" | "BUSY" => Disposition::Retry,
        "NOGROUP" => Disposition::Recreate,
        _ => Disposition::Fatal,
    }
}

/// Classifies an error returned by redis-rs for a whole request.
#[must_use]
pub fn classify(error: &RedisError) -> Disposition {
    if error.is_io_error() || error.is_timeout() || error.is_connection_dropped() {
        return Disposition::Retry;
    }
    match error.kind() {
        ErrorKind::Server(
            ServerErrorKind::Moved
            | ServerErrorKind::Ask
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::BusyLoading
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly,
        )
        | ErrorKind::ClusterConnectionNotFound
        | ErrorKind::Io => Disposition::Retry,
        _ => error.code().map_or(Disposition::Fatal, classify_code),
    }
}

/// Runs `attempt` until it succeeds, fails for good, or `deadline` passes, pausing with
/// backoff after each passing error (a cluster still forming, a failover).
pub async fn until_deadline<T, F, Fut>(deadline: Instant, mut attempt: F) -> RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = RedisResult<T>>,
{
    let mut backoff = Backoff::default();
    loop {
        match attempt().await {
            Err(e) if classify(&e) == Disposition::Retry && Instant::now() < deadline => {
                tokio::time::sleep(backoff.next_delay()).await;
            }
            outcome => return outcome,
        }
    }
}

/// Exponential backoff with jitter, so many clients retrying together spread out.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    first: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(20), Duration::from_secs(2))
    }
}

impl Backoff {
    #[must_use]
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            attempt: 0,
            first,
            max,
        }
    }

    /// The next pause: between half and all of `first * 2^attempt`, capped at `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .first
            .saturating_mul(1 << self.attempt.min(16))
            .min(self.max);
        self.attempt += 1;
        ceiling.mul_f64(0.5 + fastrand::f64() / 2.0)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// The server will not run the script, or the user may not run a command it calls.
pub fn script_refused(code: &str, detail: &str) -> bool {
    code == "NOPERM"
        || detail.contains("can't run this command")
        || detail.contains("unknown command")
}

/// `error` as the application hears of it: a refusal whose code says it passes
/// (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, LOADING, ...: see `classify_code`) as
/// `Transient`, against the node `node_of` names for its key; anything else as is.
/// A slot on the move must not read as a hard error.
#[must_use]
pub fn classified(error: Error, node_of: impl FnOnce(&str) -> String) -> Error {
    match &error {
        Error::Server { key, code, .. } if classify_code(code) == Disposition::Retry => {
            let node = node_of(key);
            error.retrying(node)
        }
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_into_what_to_do() {
        assert_eq!(classify_code("TRYAGAIN"), Disposition::Retry);
        assert_eq!(classify_code("OOM"), Disposition::Retry);
        assert_eq!(classify_code("NOGROUP"), Disposition::Recreate);
        assert_eq!(classify_code("WRONGTYPE"), Disposition::Fatal);
        assert_eq!(classify_code("NOPERM"), Disposition::Fatal);
    }

    #[test]
    fn backoff_grows_to_its_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(5) && first <= Duration::from_millis(10));
        for _ in 0..20 {
            assert!(backoff.next_delay() <= Duration::from_millis(100));
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(10));
    }

    #[test]
    fn refusals_of_the_script_are_told_from_other_errors() {
        assert!(script_refused(
            "NOPERM",
            "User has no permissions to run 'eval'"
        ));
        assert!(script_refused("ERR", "unknown command 'EVAL'"));
        assert!(script_refused(
            "ERR",
            "The user executing the script can't run this command or subcommand"
        ));
        assert!(!script_refused("NOGROUP", "No such key or consumer group"));
        assert!(!script_refused(
            "OOM",
            "command not allowed when used memory > 'maxmemory'"
        ));
    }
}

#[cfg(test)]
mod classified_tests {
    use super::*;

    fn refused(code: &str) -> Error {
        Error::Server {
            command: "XPENDING",
            key: "qu{0}_q".to_owned(),
            code: code.to_owned(),
            detail: "13907 127.0.0.1:7002".to_owned(),
        }
    }

    #[test]
    fn passing_refusals_are_reported_as_transient_against_the_node_of_their_key() {
        for code in [
            "MOVED",
            "ASK",
            "TRYAGAIN",
            "CLUSTERDOWN",
            "LOADING",
            "MASTERDOWN",
        ] {
            let error = classified(refused(code), |key| format!("node of {key}"));
            assert_eq!(
                error,
                Error::Transient {
                    command: "XPENDING",
                    key: "qu{0}_q".to_owned(),
                    node: "node of qu{0}_q".to_owned(),
                    code: code.to_owned(),
                    detail: "13907 127.0.0.1:7002".to_owned(),
                },
                "{code}"
            );
        }
    }

    #[test]
    fn other_failures_are_reported_as_they_are() {
        for code in ["NOGROUP", "WRONGTYPE", "NOPERM", "CROSSSLOT", ""] {
            assert_eq!(
                classified(refused(code), |_| unreachable!()),
                refused(code),
                "{code}"
            );
        }
        let dead = Error::DeadLettered {
            stream: "s".to_owned(),
            id: "1-0".to_owned(),
            deliveries: 3,
        };
        assert_eq!(classified(dead.clone(), |_| unreachable!()), dead);
    }
}
