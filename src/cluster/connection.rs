//! One connection type for a Redis Cluster and for a standalone server: the rest of
//! the core neither knows nor cares which it talks to.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

#[derive(Clone)]
pub enum Connection {
    Cluster(ClusterConnection),
    /// A single server without cluster mode: every shard stream lives on it.
    Standalone(ConnectionManager),
}

impl Connection {
    /// Sends `cmd` to the master owning `key`, also when the command itself names no key
    /// (`TIME`: the clock of the server that generates the stream's ids).
    pub async fn command_for(&mut self, key: &str, cmd: Cmd) -> RedisResult<Value> {
        match self {
            Connection::Cluster(cluster) => {
                let route = Route::with_key(key, SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                cluster.route_command(cmd, routing).await
            }
            Connection::Standalone(single) => single.req_packed_command(&cmd).await,
        }
    }

    /// Sends `pipeline` (of `count` commands) to the master owning `key`, without copying it.
    pub async fn pipeline_for(
        &mut self,
        key: &str,
        pipeline: Pipeline,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            Connection::Cluster(cluster) => {
                let route =
                    SingleNodeRoutingInfo::SpecificNode(Route::with_key(key, SlotAddr::Master));
                cluster.route_pipeline(pipeline, 0, count, route).await
            }
            Connection::Standalone(single) => single.req_packed_commands(&pipeline, 0, count).await,
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Cluster(cluster) => cluster.req_packed_command(cmd),
            Connection::Standalone(single) => single.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
            Connection::Standalone(single) => single.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Cluster(cluster) => cluster.get_db(),
            Connection::Standalone(single) => single.get_db(),
        }
    }
}
