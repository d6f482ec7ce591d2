//! The consumer: per-shard readers fill a bounded prefetch, the application takes
//! batches from it, and acks go back through the ack buffer.

pub mod ack;
pub mod ack_write;
pub mod claim;
pub mod delivery;
pub mod direct_read;
pub mod handback;
pub mod nack;
pub mod progress;
pub mod read_count;
pub mod reader;
pub mod triage;

use crate::cluster::connect::{connect, seed_urls};
use crate::cluster::connection::Connection;
use crate::cluster::groups::ensure_groups;
use crate::cluster::nodes::Nodes;
use crate::cluster::record_watch::watch_record;
use crate::cluster::retry::classified;
use crate::cluster::servers::survey;
use crate::cluster::shard_count::settle_keys;
use crate::cluster::shard_streams::ShardStreams;
use crate::consumer::ack::{AckBuffer, Acked};
use crate::consumer::ack_write::AckWriter;
use crate::consumer::claim::Claimer;
use crate::consumer::delivery::{Delivery, ReaderEvents};
use crate::consumer::direct_read::DirectReads;
use crate::consumer::handback::hand_back;
use crate::consumer::progress::Progress;
use crate::consumer::read_count::ReadCount;
use crate::consumer::reader::ShardReader;
use crate::consumer::triage::Triage;
use crate::error::{Error, Result};
use crate::notices::Notices;
use crate::options::{ConnectionOptions, ConsumerOptions};
use crate::runtime::runtime;
use crate::stats::ConsumerCounters;
use crate::supervise::{supervised, Fault};
use crate::wire::naming::QueueKeys;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long `close` waits for the readers and the claimer to finish what they are doing.
const CLOSE_PATIENCE: Duration = Duration::from_secs(2);

pub struct Consumer {
    shared: Arc<Shared>,
    /// For one-off commands from the application thread (`touch`).
    writer: Connection,
    inbox: Mutex<Inbox>,
    stop: watch::Sender<bool>,
    closing: AtomicBool,
}

struct Shared {
    options: ConsumerOptions,
    /// The shard streams; more once the queue grows under the consumer.
    streams: ShardStreams,
    group: String,
    acks: AckBuffer,
    ack_writer: AckWriter,
    notices: Notices,
    counters: ConsumerCounters,
    progress: Arc<Progress>,
    fault: Fault,
    nodes: Arc<Nodes>,
    /// The readers and the claimer, awaited by `close` before it hands entries back.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Where the readers of shards added by a growth deliver, while the consumer runs.
    deliveries: mpsc::WeakSender<Vec<Delivery>>,
    stopped: watch::Receiver<bool>,
}

struct Inbox {
    batches: mpsc::Receiver<Vec<Delivery>>,
    leftover: VecDeque<Delivery>,
    finished: bool,
}

/// What a fetch found.
#[derive(Debug)]
pub enum Fetch {
    Messages(Vec<Delivery>),
    /// Nothing arrived within the timeout.
    Empty,
    /// Stopped, and everything read has been handed out.
    Finished,
}

impl Consumer {
    /// Connects, creates the groups when missing and starts the readers and the acker.
    pub fn start(options: ConsumerOptions) -> Result<Self> {
        options.validate()?;
        let rt = runtime();
        let read_timeout = read_timeout(&options);
        // A cluster that is still forming is waited for, step by step, this long.
        let patience = options.connection.connect_timeout;
        let (writer, readers, keys) = rt.block_on(async {
            let writer = connect(&options.connection, options.connection.response_timeout).await?;
            let configured = options.keys();
            survey(&writer, &configured.streams(), patience).await?;
            let keys = settle_keys(&writer, &configured, options.check_shards, patience).await?;
            ensure_groups(&writer, &keys.streams(), &keys.group(), patience).await?;
            let readers = connect_readers(&options.connection, read_timeout, keys.shards()).await?;
            Ok::<_, Error>((writer, readers, keys))
        })?;
        let streams = keys.streams();
        let group = keys.group();
        let nodes = rt.block_on(Nodes::load(writer.clone()));
        let (stop, stopped) = watch::channel(false);
        // Each shard keeps about one read in the queue: prefetch stays near shards * count.
        let (sender, batches) = mpsc::channel(options.shards);
        let acks = AckBuffer::new(
            streams.len(),
            options.pending_buffer_size,
            options.pipe_buffer_size,
        );
        let ack_writer = AckWriter::new(options.trim_acked);
        let memory = options.claim_idle.unwrap_or(Duration::from_secs(60));
        let progress = Arc::new(Progress::new(streams.len(), memory));
        let shared = Arc::new(Shared {
            options,
            streams: ShardStreams::new(keys.clone()),
            group,
            acks,
            ack_writer,
            notices: Notices::default(),
            counters: ConsumerCounters::default(),
            progress,
            fault: Fault::default(),
            nodes,
            tasks: Mutex::new(Vec::new()),
            deliveries: sender.downgrade(),
            stopped,
        });
        let seeds = seed_urls(&shared.options.connection)?;
        for (shard, connection) in readers.into_iter().enumerate() {
            let reading = spawn_reader(&shared, &seeds, shard, connection, sender.clone());
            shared.tasks.lock().push(reading);
        }
        if let Some(idle) = shared.options.claim_idle {
            let triages = Arc::clone(&shared);
            let claimer = Claimer {
                shards: Box::new(move |shard| {
                    (shard < triages.streams.len()).then(|| triages.triage(shard))
                }),
                idle,
                // Checking a few times per idle period bounds how long past `claim_idle` a
                // dead consumer's message waits.
                interval: (idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(30)),
                count: shared.options.prefetch_count,
                connection: writer.clone(),
                progress: Arc::clone(&shared.progress),
                deliveries: sender.clone(),
                stop: stop.subscribe(),
            };
            let events = Arc::clone(&shared);
            let claiming = rt.spawn(async move {
                let claiming = claimer.run(&*events);
                supervised("claimer", claiming, |error| events.failed(error)).await;
            });
            shared.tasks.lock().push(claiming);
        }
        spawn_acker(&shared, writer.clone());
        spawn_record_watch(&shared, writer.clone(), keys);
        let inbox = Inbox {
            batches,
            leftover: VecDeque::new(),
            finished: false,
        };
        Ok(Self {
            shared,
            writer,
            inbox: Mutex::new(inbox),
            stop,
            closing: AtomicBool::new(false),
        })
    }

    /// Takes up to `max` delivered messages, waiting up to `timeout` for the first.
    pub fn fetch(&self, max: usize, timeout: Duration) -> Fetch {
        self.shared.progress.fetching();
        let mut inbox = self.inbox.lock();
        if inbox.leftover.is_empty() && !inbox.finished {
            let rt = runtime();
            let received =
                rt.block_on(async { tokio::time::timeout(timeout, inbox.batches.recv()).await });
            match received {
                Ok(Some(batch)) => inbox.leftover.extend(batch),
                Ok(None) => inbox.finished = true,
                Err(_) => return Fetch::Empty,
            }
        }
        while inbox.leftover.len() < max {
            match inbox.batches.try_recv() {
                Ok(batch) => inbox.leftover.extend(batch),
                Err(_) => break,
            }
        }
        if inbox.leftover.is_empty() {
            return if inbox.finished {
                Fetch::Finished
            } else {
                Fetch::Empty
            };
        }
        let take = max.min(inbox.leftover.len());
        let messages: Vec<Delivery> = inbox.leftover.drain(..take).collect();
        drop(inbox);
        self.shared.counters.delivered.add(messages.len() as u64);
        self.record_handed(&messages);
        Fetch::Messages(messages)
    }

    /// The failure of a background task, if one failed: every call raises it.
    pub fn fault(&self) -> Result<()> {
        self.shared.fault.check()
    }

    /// Marks the last message of each shard as handed out (see `progress`).
    fn record_handed(&self, messages: &[Delivery]) {
        let mut last: Vec<Option<&str>> = vec![None; self.shared.streams.len()];
        for message in messages {
            last[message.shard] = Some(&message.id);
        }
        let last = last.iter().enumerate();
        self.shared
            .progress
            .handed(last.filter_map(|(shard, id)| id.map(|id| (shard, id))));
    }

    /// Puts deliveries back in front of the prefetch, in their order.
    pub fn requeue(&self, deliveries: Vec<Delivery>) {
        let mut inbox = self.inbox.lock();
        self.shared.counters.delivered.sub(deliveries.len() as u64);
        for delivery in deliveries.into_iter().rev() {
            inbox.leftover.push_front(delivery);
        }
    }

    /// Queues acks of `(shard, id)` pairs from the front of `ids` while they fit in the
    /// buffer; returns how many were taken (the rest stay in `ids`).
    pub fn ack(&self, ids: &mut impl Iterator<Item = (usize, Acked)>) -> Result<usize> {
        self.shared.acks.offer(ids)
    }

    /// Blocks up to `timeout` for room in the ack buffer.
    pub fn wait_for_ack_space(&self, timeout: Duration) {
        self.shared.acks.wait_for_space(timeout);
    }

    /// Waits up to `timeout` for queued acks to be written; returns how many remain.
    pub fn flush_acks(&self, timeout: Duration) -> usize {
        self.shared.acks.wake.notify_one();
        self.shared.acks.wait_settled(timeout)
    }

    /// Resets the idle time of pending entries (`XCLAIM … JUSTID` to this consumer), so
    /// claimers leave them alone; returns how many were still pending here.
    pub fn touch(&self, ids: &[(usize, String)]) -> Result<usize> {
        let streams = self.shared.streams.current();
        let mut per_shard: Vec<Vec<&str>> = vec![Vec::new(); streams.len()];
        for (shard, id) in ids {
            per_shard[*shard].push(id);
        }
        let mut connection = self.writer.clone();
        runtime().block_on(async {
            let mut touched = 0;
            for (shard, ids) in per_shard
                .iter()
                .enumerate()
                .filter(|(_, ids)| !ids.is_empty())
            {
                let stream = streams.stream(shard);
                let claimed: Vec<String> = redis::cmd("XCLAIM")
                    .arg(stream)
                    .arg(&self.shared.group)
                    .arg(&self.shared.options.consumer)
                    .arg(0)
                    .arg(ids)
                    .arg("JUSTID")
                    .query_async(&mut connection)
                    .await
                    .map_err(|e| Error::server("XCLAIM", stream, &e))?;
                touched += claimed.len();
            }
            Ok(touched)
        })
    }

    /// Stops reading. What was already read can still be fetched.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Stops reading, hands what was read but never handed out back to the group (see
    /// `handback`), and refuses further acks; queued acks are still written.
    pub fn close(&self) {
        if self.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        self.stop();
        let tasks = std::mem::take(&mut *self.shared.tasks.lock());
        runtime().block_on(async {
            for task in tasks {
                let abort = task.abort_handle();
                if tokio::time::timeout(CLOSE_PATIENCE, task).await.is_err() {
                    abort.abort();
                }
            }
            self.hand_back_unread().await;
        });
        self.shared.acks.close();
    }

    async fn hand_back_unread(&self) {
        let mut unread: Vec<Vec<Delivery>> = vec![Vec::new(); self.shared.streams.len()];
        {
            let mut inbox = self.inbox.lock();
            let mut left: Vec<Delivery> = inbox.leftover.drain(..).collect();
            while let Ok(batch) = inbox.batches.try_recv() {
                left.extend(batch);
            }
            for delivery in left {
                unread[delivery.shard].push(delivery);
            }
        }
        let mut handing = tokio::task::JoinSet::new();
        for (shard, deliveries) in unread.into_iter().enumerate() {
            let shared = Arc::clone(&self.shared);
            let mut connection = self.writer.clone();
            handing.spawn(async move {
                let triage = shared.triage(shard);
                let queued = shared.progress.queued_up_to(shard);
                match hand_back(&mut connection, &triage, &deliveries, queued).await {
                    Ok(count) => shared.counters.handed_back.add(count as u64),
                    // What was not handed back is claimed after claim_idle.
                    Err(error) => shared
                        .notices
                        .report(classified(error, |key| shared.nodes.node_of(key))),
                }
            });
        }
        // A master that does not answer must not hold up `close`: what it holds stays
        // pending, for the claimers after `claim_idle`.
        let all_shards = async { while handing.join_next().await.is_some() {} };
        if tokio::time::timeout(CLOSE_PATIENCE, all_shards)
            .await
            .is_err()
        {
            self.shared.notices.report(Error::Timeout {
                what: "handing unread messages back at close".to_owned(),
                seconds: CLOSE_PATIENCE.as_secs_f64(),
            });
        }
    }

    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.acks.is_closed()
    }

    #[must_use]
    pub fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Names of the shard streams, by shard: those of the queue at start, then those a
    /// growth added.
    #[must_use]
    pub fn streams(&self) -> Vec<String> {
        self.shared.streams.current().streams().to_vec()
    }

    #[must_use]
    pub fn group(&self) -> &str {
        &self.shared.group
    }

    #[must_use]
    pub fn notices(&self) -> &Notices {
        &self.shared.notices
    }

    #[must_use]
    pub fn counters(&self) -> &ConsumerCounters {
        &self.shared.counters
    }

    #[must_use]
    pub fn options(&self) -> &ConsumerOptions {
        &self.shared.options
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shared {
    fn triage(&self, shard: usize) -> Triage {
        let streams = self.streams.current();
        Triage {
            shard,
            stream: streams.stream(shard).to_owned(),
            dead_letters: streams.dead_letters(shard).to_owned(),
            group: self.group.clone(),
            consumer: self.options.consumer.clone(),
            max_deliveries: self.options.max_deliveries,
        }
    }
}

impl Shared {
    /// A background task panicked: reported now, raised by every later call.
    fn failed(&self, error: Error) {
        self.notices.report(error.clone());
        self.fault.set(error);
    }
}

impl ReaderEvents for Shared {
    fn error(&self, error: Error) {
        // Readers, claimers and triage report what a command came to; a slot on the move
        // is retried by the next read or pass.
        let error = classified(error, |key| self.nodes.node_of(key));
        if matches!(error, Error::Transient { .. }) {
            self.counters.retried.add(1);
        }
        self.notices.report(error);
    }

    fn invalid_entry(&self, shard: usize, id: String) {
        self.counters.dropped_invalid.add(1);
        self.notices.report(Error::InvalidEntry {
            stream: self.streams.current().stream(shard).to_owned(),
            id: id.clone(),
        });
        // Ack even when the buffer is full: a lost ack only means it is seen again.
        let _ = self
            .acks
            .offer(&mut std::iter::once((shard, Acked::unplaced(id))));
    }

    fn claimed(&self, count: usize) {
        self.counters.claimed.add(count as u64);
    }

    fn dead_lettered(&self, shard: usize, id: String, deliveries: u64) {
        self.counters.dead_lettered.add(1);
        self.notices.report(Error::DeadLettered {
            stream: self.streams.current().stream(shard).to_owned(),
            id,
            deliveries,
        });
    }
}

/// One connection per shard reader, opened concurrently so start-up costs one round of
/// slot discovery rather than one per shard.
async fn connect_readers(
    options: &ConnectionOptions,
    read_timeout: Duration,
    count: usize,
) -> Result<Vec<Connection>> {
    let mut connecting = tokio::task::JoinSet::new();
    for shard in 0..count {
        let options = options.clone();
        connecting.spawn(async move { (shard, connect(&options, read_timeout).await) });
    }
    let mut readers: Vec<Option<Connection>> = vec![None; count];
    while let Some(joined) = connecting.join_next().await {
        let (shard, connection) = joined.expect("connecting a reader never panics");
        readers[shard] = Some(connection?);
    }
    Ok(readers.into_iter().flatten().collect())
}

/// One shard's reader, supervised; `close` awaits it once it is among the tasks.
fn spawn_reader(
    shared: &Arc<Shared>,
    seeds: &[String],
    index: usize,
    connection: Connection,
    deliveries: mpsc::Sender<Vec<Delivery>>,
) -> JoinHandle<()> {
    let options = &shared.options;
    let reader = ShardReader {
        triage: shared.triage(index),
        direct: DirectReads::new(
            seeds,
            read_timeout(options),
            options.connection.connect_timeout,
        ),
        count: ReadCount::new(options.prefetch_count),
        block: options.block,
        progress: Arc::clone(&shared.progress),
        nodes: Arc::clone(&shared.nodes),
        runs: 0,
        idle_poll: options.pipe_period.max(Duration::from_millis(10)),
        connection,
        deliveries,
        stop: shared.stopped.clone(),
    };
    let events = Arc::clone(shared);
    runtime().spawn(async move {
        supervised("reader", reader.run(&*events), |error| events.failed(error)).await;
    })
}

/// How long a reader's connection waits for a reply: a blocking read's time, and more.
fn read_timeout(options: &ConsumerOptions) -> Duration {
    options.block.unwrap_or_default() + options.connection.response_timeout
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

/// The queue grew to `keys`' count: the new shards are read too, the old ones still
/// are. Their groups exist (growing creates them before it changes the record) and are
/// made sure of; the readers' connections open before anything changes, so a failure
/// leaves the consumer as it was, for the next look. What is sized by shard grows
/// before the streams, and the readers start last.
async fn grow(shared: Arc<Shared>, connection: Connection, keys: QueueKeys) -> Result<()> {
    let Some(table) = shared.streams.current().grown(&keys) else {
        return Ok(());
    };
    let old = shared.streams.len();
    let added = &table.streams()[old..];
    let options = &shared.options;
    let patience = options.connection.connect_timeout;
    ensure_groups(&connection, added, &shared.group, patience).await?;
    let readers = connect_readers(&options.connection, read_timeout(options), added.len()).await?;
    let seeds = seed_urls(&options.connection)?;
    let shards = table.len();
    shared.acks.grow(shards);
    shared.progress.grow(shards);
    shared.streams.publish(table);
    // A consumer stopping meanwhile starts no readers: the channel is gone, or going.
    let Some(deliveries) = shared.deliveries.upgrade() else {
        return Ok(());
    };
    // Under the lock `close` takes the tasks with, after it stopped the consumer: a
    // reader started here is either awaited by `close` or never started.
    let mut tasks = shared.tasks.lock();
    if *shared.stopped.borrow() {
        return Ok(());
    }
    for (offset, reader) in readers.into_iter().enumerate() {
        let reading = spawn_reader(&shared, &seeds, old + offset, reader, deliveries.clone());
        tasks.push(reading);
    }
    Ok(())
}

/// The acker, supervised: if it fails, the acks it held are counted failed (their
/// messages stay pending) and `flush` does not wait for them.
fn spawn_acker(shared: &Arc<Shared>, connection: Connection) {
    let acker = run_acker(Arc::clone(shared), connection);
    let events = Arc::clone(shared);
    runtime().spawn(supervised("acker", acker, move |error| {
        let unwritten = events.acks.fail_all();
        events.counters.ack_failed.add(unwritten as u64);
        events.failed(error);
        events.notices.close();
    }));
}

/// Writes acks shard by shard: each shard has at most one write in flight, and a shard
/// whose master stalls holds up only its own acks. Acks that find no write in flight go
/// at once; behind writes in flight they gather for at most `pipe_period`.
async fn run_acker(shared: Arc<Shared>, connection: Connection) {
    // The shards with a write in flight.
    let writing = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let mut tasks = tokio::task::JoinSet::new();
    let mut lingering_since: Option<Instant> = None;
    loop {
        while tasks.try_join_next().is_some() {}
        let acks = &shared.acks;
        let due = tasks.is_empty()
            || acks.has_full_batch()
            || acks.is_closed()
            || lingering_since.is_some_and(|since| since.elapsed() >= shared.options.pipe_period);
        let work = if due {
            acks.take_where(|shard| !writing.lock().contains(&shard))
        } else {
            None
        };
        let Some(work) = work else {
            if acks.is_closed() && acks.is_idle() {
                break;
            }
            if due || !acks.has_buffered() {
                lingering_since = None;
                acks.wake.notified().await;
                continue;
            }
            let since = *lingering_since.get_or_insert_with(Instant::now);
            tokio::select! {
                () = acks.wake.notified() => {}
                _ = tasks.join_next() => {}
                () = tokio::time::sleep_until(since + shared.options.pipe_period) => {}
            }
            continue;
        };
        lingering_since = None;
        for (shard, acked) in work.per_shard {
            writing.lock().insert(shard);
            let shared = Arc::clone(&shared);
            let connection = connection.clone();
            let writing = Arc::clone(&writing);
            tasks.spawn(async move {
                write_shard(&shared, &connection, shard, &acked).await;
                shared.acks.settle(acked.len());
                writing.lock().remove(&shard);
                shared.acks.wake.notify_one();
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    shared.notices.close();
}

/// Writes one shard's acks in chunks of `pipe_buffer_size`.
async fn write_shard(state: &Shared, connection: &Connection, shard: usize, acked: &[Acked]) {
    for chunk in acked.chunks(state.options.pipe_buffer_size) {
        let count = chunk.len() as u64;
        let writing = write_chunk(state, connection, shard, chunk);
        supervised("ack writer", writing, |error| {
            state.counters.ack_failed.add(count);
            state.failed(error);
        })
        .await;
    }
}

async fn write_chunk(state: &Shared, connection: &Connection, shard: usize, acked: &[Acked]) {
    let streams = state.streams.current();
    let stream = streams.stream(shard);
    let deadline = Instant::now() + state.options.ack_timeout;
    let report = |error: Error| {
        state.counters.retried.add(1);
        state
            .notices
            .report(error.retrying(state.nodes.node_of(stream)));
    };
    let written = state
        .ack_writer
        .write(connection, stream, &state.group, acked, deadline, &report)
        .await;
    match written {
        Ok(()) => state.counters.acked.add(acked.len() as u64),
        Err(error) => {
            state.counters.ack_failed.add(acked.len() as u64);
            state.notices.report(error);
        }
    }
}
