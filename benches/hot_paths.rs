//! Hot paths of the core without a network: XADD pipeline encoding and reply reading,
//! XREADGROUP reply parsing, and the producer's and consumer's buffers.
//!
//! Run with `cargo bench --bench hot_paths`; sizes match the defaults of the Python API
//! (`pipe_buffer_size` 50,000 for writes, a 1,000-entry read).

use _ami::hot_paths::parse_read_reply;
use _ami::hot_paths::xadd_pipeline;
use _ami::hot_paths::BodyBatch;
use _ami::hot_paths::{encode_xadds, PipelineReplies};
use _ami::hot_paths::{AckBuffer, Acked};
use _ami::hot_paths::{Limits, Offer, Outbox, Take};
use _ami::hot_paths::{RawReply, ReplyParser};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use redis::Value;
use std::hint::black_box;
use std::time::Duration;

const PIPELINE_MESSAGES: usize = 50_000;
const READ_ENTRIES: usize = 1_000;
const ACK_IDS: usize = 10_000;
const SHARDS: usize = 10;
const STREAM: &str = "qu{0}_bench";

/// Body sizes measured: the Go ami's typical `{}` and a small JSON document.
const BODY_SIZES: [usize; 2] = [2, 100];

fn body(size: usize) -> Vec<u8> {
    if size == 2 {
        return b"{}".to_vec();
    }
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

fn body_batch(size: usize, count: usize) -> BodyBatch {
    let body = body(size);
    let mut batch = BodyBatch::with_capacity(count);
    for _ in 0..count {
        batch.push(&body);
    }
    batch
}

fn bench_xadd_pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("xadd_pipeline");
    group.throughput(Throughput::Elements(PIPELINE_MESSAGES as u64));
    let indices: Vec<usize> = (0..PIPELINE_MESSAGES).collect();
    for size in BODY_SIZES {
        let batch = body_batch(size, PIPELINE_MESSAGES);
        group.bench_function(format!("build/{size}B"), |b| {
            b.iter(|| xadd_pipeline(black_box(STREAM), black_box(&batch), black_box(&indices)));
        });
        group.bench_function(format!("build+pack/{size}B"), |b| {
            b.iter(|| {
                let pipe = xadd_pipeline(black_box(STREAM), black_box(&batch), &indices);
                pipe.get_packed_pipeline()
            });
        });
        // The direct path: straight into a buffer reused from batch to batch.
        let mut out = Vec::new();
        group.bench_function(format!("encode_direct/{size}B"), |b| {
            b.iter(|| {
                out.clear();
                let bodies = indices.iter().map(|&i| batch.get(i));
                encode_xadds(&mut out, black_box(STREAM), bodies, batch.byte_len());
                out.len()
            });
        });
    }
    group.finish();
}

/// The replies to a pipeline of XADDs: what redis-rs parses into values, and what the
/// direct path only counts.
fn bench_xadd_replies(c: &mut Criterion) {
    let mut group = c.benchmark_group("xadd_replies");
    group.throughput(Throughput::Elements(PIPELINE_MESSAGES as u64));
    let mut bytes = Vec::new();
    for i in 0..PIPELINE_MESSAGES {
        let id = format!("{}-{}", 1_700_000_000_000_u64 + (i / 7) as u64, i % 7);
        bytes.extend_from_slice(format!("${}\r\n{id}\r\n", id.len()).as_bytes());
    }
    // Parsed as one array: the same values redis-rs builds for the pipeline's replies.
    let mut array = format!("*{PIPELINE_MESSAGES}\r\n").into_bytes();
    array.extend_from_slice(&bytes);
    group.bench_function("redis_rs_values", |b| {
        b.iter(|| redis::parse_redis_value(black_box(&array)).expect("a valid reply"));
    });
    group.bench_function("scan_direct", |b| {
        b.iter(|| {
            let mut replies = PipelineReplies::default();
            let used = replies.scan(black_box(&bytes), PIPELINE_MESSAGES);
            (replies.seen, used)
        });
    });
    group.finish();
}

/// A single-stream XREADGROUP reply as the server sends it: `[[key, [[id, [m, body]], ...]]]`.
fn read_reply(entries: usize, body_size: usize) -> Value {
    let body = body(body_size);
    let base_ms = 1_700_000_000_000_u64;
    let raw_entries = (0..entries)
        .map(|i| {
            let id = format!("{}-{}", base_ms + (i / 7) as u64, i % 7);
            Value::Array(vec![
                Value::BulkString(id.into_bytes()),
                Value::Array(vec![
                    Value::BulkString(b"m".to_vec()),
                    Value::BulkString(body.clone()),
                ]),
            ])
        })
        .collect();
    Value::Array(vec![Value::Array(vec![
        Value::BulkString(STREAM.as_bytes().to_vec()),
        Value::Array(raw_entries),
    ])])
}

/// `value` in RESP2, as a server sends it.
fn resp(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Array(items) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for item in items {
                resp(item, out);
            }
        }
        Value::BulkString(bytes) => {
            out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        other => unreachable!("no {other:?} in a read reply"),
    }
}

/// From the reply's bytes to entries: through redis-rs's values (the fallback path) and
/// straight from the bytes (the direct path of the shard readers).
fn bench_read_reply(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_reply");
    group.throughput(Throughput::Elements(READ_ENTRIES as u64));
    for size in BODY_SIZES {
        let mut bytes = Vec::new();
        resp(&read_reply(READ_ENTRIES, size), &mut bytes);
        group.bench_function(format!("redis-rs values/{READ_ENTRIES}x{size}B"), |b| {
            b.iter(|| {
                let value = redis::parse_redis_value(black_box(&bytes)).expect("valid reply");
                let entries = parse_read_reply(value).expect("valid reply");
                assert_eq!(entries.len(), READ_ENTRIES);
                entries
            });
        });
        group.bench_function(format!("direct/{READ_ENTRIES}x{size}B"), |b| {
            b.iter(|| {
                let parsed = ReplyParser::default().parse(black_box(&bytes));
                let Ok(Some((RawReply::Entries(entries), _))) = parsed else {
                    panic!("valid reply");
                };
                assert_eq!(entries.len(), READ_ENTRIES);
                entries
            });
        });
    }
    group.finish();
}

/// Offers `count` bodies, then takes and settles every batch, as sender and writer would.
fn outbox_round(outbox: &Outbox, body: &[u8], count: usize) -> usize {
    for _ in 0..count {
        let offer = outbox.offer(black_box(body));
        debug_assert_eq!(offer, Offer::Accepted);
    }
    let mut taken = 0;
    while let Take::Batch(batch) = outbox.take(true) {
        taken += batch.len();
        outbox.settle(batch.len(), batch.byte_len());
    }
    taken
}

fn bench_outbox(c: &mut Criterion) {
    let mut group = c.benchmark_group("outbox");
    group.throughput(Throughput::Elements(PIPELINE_MESSAGES as u64));
    for size in BODY_SIZES {
        let body = body(size);
        // The defaults of the Python API.
        let outbox = Outbox::new(Limits {
            messages: 1_000_000,
            bytes: 512 * 1024 * 1024,
            batch: PIPELINE_MESSAGES,
            batch_bytes: 16 * 1024 * 1024,
            shards: 10,
        });
        group.bench_function(format!("offer+take/{size}B"), |b| {
            b.iter(|| {
                let taken = outbox_round(&outbox, &body, PIPELINE_MESSAGES);
                assert_eq!(taken, PIPELINE_MESSAGES);
            });
        });
    }
    group.finish();
}

/// Ids spread round-robin over the shards, as acks of a prefetch would arrive.
fn ack_ids(count: usize) -> Vec<(usize, Acked)> {
    (0..count)
        .map(|i| {
            let id = format!("1700000000000-{i}");
            (i % SHARDS, Acked::unplaced(id))
        })
        .collect()
}

fn bench_ack_buffer(c: &mut Criterion) {
    let mut group = c.benchmark_group("ack_buffer");
    group.throughput(Throughput::Elements(ACK_IDS as u64));
    let acks = AckBuffer::new(SHARDS, 1_000_000, 50_000);
    // Building the id strings belongs to the binding layer, so it stays untimed.
    group.bench_function(format!("offer+take/{ACK_IDS}"), |b| {
        b.iter_batched(
            || ack_ids(ACK_IDS),
            |ids| {
                let taken = acks.offer(&mut ids.into_iter()).expect("open buffer");
                let work = acks.take().expect("queued acks");
                acks.settle(work.count);
                assert_eq!(taken, work.count);
                work
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn config() -> Criterion {
    // Short runs and no plots keep the whole suite well under two minutes on a small machine.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .nresamples(20_000)
        .without_plots()
}

criterion_group! {
    name = hot_paths;
    config = config();
    targets = bench_xadd_pipeline, bench_xadd_replies, bench_read_reply, bench_outbox, bench_ack_buffer
}
criterion_main!(hot_paths);
