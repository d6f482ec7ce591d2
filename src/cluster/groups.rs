//! Creating the consumer group of each shard stream when it is missing.

use crate::cluster::connection::Connection;
use crate::cluster::retry::until_deadline;
use crate::error::{Error, Result};
use tokio::time::{Duration, Instant};

/// `XGROUP CREATE stream group $ MKSTREAM`, as the Go ami does; an existing group is kept.
pub async fn ensure_group(
    connection: &mut Connection,
    stream: &str,
    group: &str,
) -> redis::RedisResult<()> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("$")
        .arg("MKSTREAM")
        .query_async(connection)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// Ensures the group on every stream, retrying passing cluster errors until `patience`.
pub async fn ensure_groups(
    connection: &Connection,
    streams: &[String],
    group: &str,
    patience: Duration,
) -> Result<()> {
    let deadline = Instant::now() + patience;
    for stream in streams {
        let created = until_deadline(deadline, || {
            let mut connection = connection.clone();
            async move { ensure_group(&mut connection, stream, group).await }
        })
        .await;
        created.map_err(|e| Error::server("XGROUP CREATE", stream.as_str(), &e))?;
    }
    Ok(())
}
