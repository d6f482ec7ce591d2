//! The producer: bodies go into the outbox, a writer task turns them into pipelined
//! XADD batches, one shard stream per batch, round-robin (or, for keyed messages, the
//! shard of their key).
//!
//! Batching costs nothing when idle: a message that finds no batch in flight is
//! written at once. Batches form only behind writes in flight, and a partial one waits
//! at most `pipe_period` for them (as Nagle's algorithm does for TCP segments).

pub mod batch;
pub mod direct_write;
pub mod in_flight;
pub mod outbox;
pub mod placement;
pub mod reports;
pub mod write_link;
pub mod writer;

use crate::cluster::connect::{connect, seed_urls};
use crate::cluster::connection::Connection;
use crate::cluster::groups::ensure_groups;
use crate::cluster::nodes::Nodes;
use crate::cluster::record_watch::watch_record;
use crate::cluster::servers::{holders, survey};
use crate::cluster::shard_count::settle_keys;
use crate::cluster::shard_streams::ShardStreams;
use crate::error::{Error, Result};
use crate::notices::Notices;
use crate::options::ProducerOptions;
use crate::producer::batch::BodyBatch;
use crate::producer::direct_write::DirectWrites;
use crate::producer::in_flight::InFlight;
use crate::producer::outbox::{Limits, Offer, Outbox, Take};
use crate::producer::placement::{key_shard, Placement};
use crate::producer::reports::{Report, Reports};
use crate::producer::writer::BatchWriter;
use crate::runtime::runtime;
use crate::stats::ProducerCounters;
use crate::supervise::{supervised, Fault};
use crate::wire::headers::PackedHeaders;
use crate::wire::naming::QueueKeys;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

pub struct Producer {
    shared: Arc<Shared>,
}

struct Shared {
    options: ProducerOptions,
    /// The shard streams; more once the queue grows under the producer.
    streams: ShardStreams,
    placement: Mutex<Placement>,
    /// Each shard's fair share of the pipelines, so a stalled master cannot take them all.
    in_flight: InFlight,
    outbox: Outbox,
    notices: Notices,
    counters: ProducerCounters,
    fault: Fault,
    nodes: Arc<Nodes>,
    /// Writes on connections of their own when the seeds allow it (see `direct_write`).
    direct: Option<DirectWrites>,
    /// Delivery reports, when the application asked for them.
    reports: Option<Reports>,
}

impl Producer {
    /// Connects, creates the groups if asked, and starts the writer. Blocks until ready.
    /// With `reports`, every batch written or failed is reported (see `reports`).
    pub fn start(options: ProducerOptions, reports: bool) -> Result<Self> {
        options.validate()?;
        let rt = runtime();
        // A cluster that is still forming is waited for, step by step, this long.
        let patience = options.connection.connect_timeout;
        let (connection, holders, keys, streams) = rt.block_on(async {
            let connection =
                connect(&options.connection, options.connection.response_timeout).await?;
            let configured = options.keys();
            let mut holders = survey(&connection, &configured.streams(), patience).await?;
            let keys =
                settle_keys(&connection, &configured, options.check_shards, patience).await?;
            let streams = keys.streams();
            if keys != configured {
                holders = survey(&connection, &streams, patience).await?;
            }
            if options.create_group {
                ensure_groups(&connection, &streams, &keys.group(), patience).await?;
            }
            Ok::<_, Error>((connection, holders, keys, streams))
        })?;
        let nodes = rt.block_on(Nodes::load(connection.clone()));
        let direct = DirectWrites::new(
            &seed_urls(&options.connection)?,
            options.connection.connect_timeout,
            Arc::clone(&nodes),
        );
        let placement = placement_of(&options, streams.len(), holders);
        let outbox = Outbox::new(Limits {
            messages: options.pending_buffer_size,
            bytes: options.pending_buffer_bytes,
            batch: options.pipe_buffer_size,
            batch_bytes: options.pipe_buffer_bytes,
            shards: options.shards,
        });
        let in_flight = InFlight::new(streams.len(), share_of(&options, streams.len()));
        let shared = Arc::new(Shared {
            options,
            streams: ShardStreams::new(keys.clone()),
            placement: Mutex::new(placement),
            in_flight,
            outbox,
            notices: Notices::default(),
            counters: ProducerCounters::default(),
            fault: Fault::default(),
            nodes,
            direct,
            reports: reports.then(Reports::default),
        });
        spawn_record_watch(&shared, connection.clone(), keys);
        let writer = run_writer(Arc::clone(&shared), connection);
        let failed = Arc::clone(&shared);
        rt.spawn(supervised("writer", writer, move |error| {
            failed.writer_died(&error);
        }));
        Ok(Self { shared })
    }

    /// Refuses bodies over `max_message_bytes` before anything is buffered.
    pub fn check_size(&self, body: &[u8]) -> Result<()> {
        let limit = self.shared.options.max_message_bytes;
        if body.len() > limit {
            return Err(Error::MessageTooLarge {
                size: body.len(),
                limit,
            });
        }
        Ok(())
    }

    /// Refuses a message whose body and headers (names and values) together are over
    /// `max_message_bytes`.
    pub fn check_message_size(&self, body: &[u8], headers: &PackedHeaders) -> Result<()> {
        let limit = self.shared.options.max_message_bytes;
        let size = body.len() + headers.size();
        if size > limit {
            return Err(Error::MessageTooLarge { size, limit });
        }
        Ok(())
    }

    /// The shard a message with `key` goes to.
    #[must_use]
    pub fn shard_of(&self, key: &[u8]) -> usize {
        self.shared.streams.pick(|shards| key_shard(key, shards))
    }

    /// Accepts one message with headers (maybe none) and, for a keyed one, its key's
    /// shard, if the buffer has room.
    pub fn offer_message(
        &self,
        body: &[u8],
        headers: &PackedHeaders,
        shard: Option<usize>,
    ) -> Offer {
        let offer = self.shared.outbox.offer_message(body, headers, shard);
        if offer == Offer::Accepted {
            self.shared.counters.accepted.add(1);
        }
        offer
    }

    /// Delivery reports handed out since the last call, up to `timeout` for one; `None`
    /// once none will come (or none were asked for).
    pub fn wait_reports(&self, timeout: Duration) -> Option<Vec<Report>> {
        self.shared.reports.as_ref()?.wait(timeout)
    }

    /// The reports handed out were handled: their messages are settled.
    pub fn reports_handled(&self) {
        if let Some(reports) = &self.shared.reports {
            let (messages, bytes) = reports.handled();
            if messages > 0 {
                self.shared.outbox.settle(messages, bytes);
            }
        }
    }

    /// Names of the shard streams, by shard: those of the queue at start, then those a
    /// growth added.
    #[must_use]
    pub fn streams(&self) -> Vec<String> {
        self.shared.streams.current().streams().to_vec()
    }

    /// Accepts one body if the buffer has room.
    pub fn offer(&self, body: &[u8]) -> Offer {
        let offer = self.shared.outbox.offer(body);
        if offer == Offer::Accepted {
            self.shared.counters.accepted.add(1);
        }
        offer
    }

    /// Blocks up to `timeout` for buffer space to free up.
    pub fn wait_for_space(&self, timeout: Duration) {
        self.shared.outbox.wait_for_space(timeout);
    }

    /// Sends the partial batch now and waits up to `timeout`; returns how many messages
    /// are still unconfirmed.
    pub fn flush(&self, timeout: Duration) -> usize {
        self.shared.outbox.hurry();
        self.shared.outbox.wait_settled(timeout)
    }

    /// Refuses further messages; what was accepted is still written.
    pub fn close(&self) {
        self.shared.outbox.close();
    }

    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.outbox.is_closed()
    }

    /// Messages and bytes accepted but not yet confirmed or failed.
    #[must_use]
    pub fn unconfirmed(&self) -> (usize, usize) {
        self.shared.outbox.unconfirmed()
    }

    /// The failure of a background task, if one failed: every call raises it.
    pub fn fault(&self) -> Result<()> {
        self.shared.fault.check()
    }

    /// Messages that failed since the last call, as one error.
    #[must_use]
    pub fn take_undelivered(&self) -> Option<Error> {
        self.shared.notices.take_undelivered()
    }

    #[must_use]
    pub fn notices(&self) -> &Notices {
        &self.shared.notices
    }

    #[must_use]
    pub fn counters(&self) -> &ProducerCounters {
        &self.shared.counters
    }

    #[must_use]
    pub fn options(&self) -> &ProducerOptions {
        &self.shared.options
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // The writer still drains what was accepted; it owns its own handle to the state.
        self.shared.outbox.close();
    }
}

async fn run_writer(shared: Arc<Shared>, connection: Connection) {
    let max_in_flight = shared.options.max_in_flight;
    let permits = Arc::new(Semaphore::new(max_in_flight));
    let written = Arc::new(Notify::new());
    let mut grouped_at = Instant::now();
    loop {
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        // Ours is the only permit taken: no other batch is being written.
        let idle = || permits.available_permits() + 1 == max_in_flight;
        let Some(batch) = next_batch(&shared, idle, &written).await else {
            break;
        };
        // A keyed batch goes to its key's shard; its lane sends no other batch meanwhile.
        let keyed = batch.keyed_shard;
        let to_shard = match keyed {
            Some(lane) => {
                shared.in_flight.start_at(lane);
                lane
            }
            None => {
                shared
                    .in_flight
                    .start_on(|| shared.placement.lock().next_shard())
                    .await
            }
        };
        let task_shared = Arc::clone(&shared);
        let task_connection = connection.clone();
        let task_written = Arc::clone(&written);
        tokio::spawn(async move {
            let size = (batch.len(), batch.byte_len());
            let writing = write_and_settle(&task_shared, task_connection, to_shard, batch);
            supervised("batch writer", writing, |error| {
                task_shared.batch_died(size, &error);
            })
            .await;
            task_shared.in_flight.finish(to_shard);
            if let Some(shard) = keyed {
                task_shared.outbox.lane_done(shard);
            }
            drop(permit);
            task_written.notify_one();
        });
        if shared.options.balance_masters && grouped_at.elapsed() >= REGROUP_EVERY {
            grouped_at = Instant::now();
            let regrouping = follow_resharding(Arc::clone(&shared), connection.clone());
            let report = Arc::clone(&shared);
            tokio::spawn(supervised("regrouping", regrouping, move |error| {
                report.notices.report(error);
            }));
        }
    }
    // Wait for the batches still in flight before the connection is dropped.
    let _ = permits.acquire_many(max_in_flight as u32).await;
    if let Some(reports) = &shared.reports {
        reports.close();
    }
    shared.notices.close();
}

impl Shared {
    /// The writer is gone: every message it would have written is reported failed, so
    /// `flush` returns instead of waiting, and every later call raises `error`.
    fn writer_died(&self, error: &Error) {
        self.notices.report(error.clone());
        self.fault.set(error.clone());
        self.outbox.close();
        for batch in self.outbox.drain() {
            self.batch_died((batch.len(), batch.byte_len()), error);
        }
        if let Some(reports) = &self.reports {
            reports.close();
        }
        self.notices.close();
    }

    /// A batch whose task panicked is reported failed and settled.
    fn batch_died(&self, (messages, bytes): (usize, usize), error: &Error) {
        self.notices.report(error.clone());
        self.counters.failed.add(messages as u64);
        self.notices.undelivered(messages as u64, error);
        self.outbox.settle(messages, bytes);
    }
}

/// Follows the queue's record: a growth adds shards, anything else goes to `on_error`.
fn spawn_record_watch(shared: &Arc<Shared>, connection: Connection, keys: QueueKeys) {
    if shared.options.check_shards {
        let watching = watch_record(
            Arc::downgrade(shared),
            connection,
            keys,
            |shared, connection, keys| Box::pin(grow(shared, connection, keys)),
            |shared, e| shared.notices.report(e),
        );
        runtime().spawn(watching);
    }
}

/// The queue grew to `keys`' count: batches and keys go to the new shards too. What is
/// sized by shard grows first, then the streams, then the placement that names them.
async fn grow(shared: Arc<Shared>, connection: Connection, keys: QueueKeys) -> Result<()> {
    let Some(table) = shared.streams.current().grown(&keys) else {
        return Ok(());
    };
    let shards = table.len();
    let holders = if shared.options.balance_masters {
        holders(&connection, table.streams()).await
    } else {
        None
    };
    let placement = placement_of(
        &shared.options,
        shards,
        holders.map_or_else(
            || vec![None; shards],
            |found| found.into_iter().map(Some).collect(),
        ),
    );
    shared
        .in_flight
        .grow(shards, share_of(&shared.options, shards));
    shared.outbox.grow(shards);
    shared.streams.publish(table);
    *shared.placement.lock() = placement;
    Ok(())
}

/// Batches in turn over the masters holding the shards (with `balance_masters`, when
/// every holder is known), else over the shards, starting at a random one.
fn placement_of(
    options: &ProducerOptions,
    shards: usize,
    holders: Vec<Option<String>>,
) -> Placement {
    match holders.into_iter().collect::<Option<Vec<String>>>() {
        Some(holders) if options.balance_masters => Placement::by_holder(&holders),
        _ => Placement::round_robin(shards, fastrand::usize(..shards)),
    }
}

/// Each shard's fair share of the pipelines.
fn share_of(options: &ProducerOptions, shards: usize) -> usize {
    options.max_in_flight.div_ceil(shards.max(1))
}

/// How often `balance_masters` asks again which master holds each shard.
const REGROUP_EVERY: Duration = Duration::from_secs(10);

/// Regroups the shards by master after slots moved; keeps the old grouping on failure.
async fn follow_resharding(shared: Arc<Shared>, connection: Connection) {
    let streams = shared.streams.current();
    if let Some(holders) = holders(&connection, streams.streams()).await {
        let current = Placement::by_holder(&holders);
        let mut placement = shared.placement.lock();
        // A growth meanwhile placed more shards than were asked about: keep its placement.
        if streams.len() == shared.streams.len() && !placement.same_groups(&current) {
            *placement = current;
        }
    }
}

/// Waits for a full batch, or for a partial one to be due: at once when `idle` (no
/// other batch is being written), else once the writes in flight are done or
/// `pipe_period` has passed over it.
async fn next_batch(
    shared: &Shared,
    idle: impl Fn() -> bool,
    written: &Notify,
) -> Option<BodyBatch> {
    let mut lingering_since: Option<Instant> = None;
    loop {
        let linger_over = idle()
            || lingering_since.is_some_and(|since| since.elapsed() >= shared.options.pipe_period);
        match shared.outbox.take(linger_over) {
            Take::Batch(batch) => return Some(batch),
            Take::Done => return None,
            Take::Empty => {
                shared.outbox.wake.notified().await;
                lingering_since = None;
            }
            Take::Linger => {
                let since = *lingering_since.get_or_insert_with(Instant::now);
                tokio::select! {
                    () = shared.outbox.wake.notified() => {}
                    () = written.notified() => {}
                    () = tokio::time::sleep_until(since + shared.options.pipe_period) => {}
                }
            }
        }
    }
}

async fn write_and_settle(
    producer: &Shared,
    connection: Connection,
    shard: usize,
    batch: BodyBatch,
) {
    let counters = &producer.counters;
    counters.in_flight_batches.add(1);
    let streams = producer.streams.current();
    let stream = streams.stream(shard);
    let report = |error: Error| {
        let node = producer.nodes.node_of(stream);
        producer.notices.report(error.retrying(node));
    };
    let written = BatchWriter {
        connection,
        direct: producer.direct.as_ref(),
        response_timeout: producer.options.connection.response_timeout,
        stream,
        deadline: Instant::now() + producer.options.delivery_timeout,
        counters,
        on_retry: &report,
        wait: (producer.options.wait_replicas > 0).then_some((
            producer.options.wait_replicas,
            producer.options.wait_timeout,
        )),
        ids: producer.reports.is_some(),
    }
    .write(&batch)
    .await;
    counters.confirmed.add(written.confirmed as u64);
    counters.failed.add(written.failed as u64);
    counters.in_flight_batches.sub(1);
    let error = written.error.filter(|_| written.failed > 0);
    if let Some(error) = &error {
        producer.notices.undelivered(written.failed as u64, error);
    }
    match (&producer.reports, written.ids) {
        // Settled once the application handled the report.
        (Some(reports), Some(ids)) => reports.push(Report {
            shard,
            batch,
            ids,
            failed: written.failed,
            error,
        }),
        _ => producer.outbox.settle(batch.len(), batch.byte_len()),
    }
}
