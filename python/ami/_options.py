"""The options of every client, each declared once: its type, meaning, default and trade-off.

`Producer` and `AsyncProducer` take the keys of `ProducerOptions` as keywords, `Consumer`
and `AsyncConsumer` those of `ConsumerOptions`; every key may be left out. Durations are
float seconds. The defaults are the Rust core's (``src/options.rs``, shown by
``ami._ami.ProducerCore.defaults()``), except `exit_timeout` and `on_error`, which only
Python uses; a test holds every ``Default:`` below to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, TypedDict

from ami._errors import ErrorHandler
from ami._reports import DeliveryHandler

Layout = Literal["go", "spread"]
"""Where a queue's shard streams sit in the cluster's hash slots (see `layout`)."""

EXIT_TIMEOUT = 10.0
"""The default of `ProducerOptions.exit_timeout`."""


class ConnectionOptions(TypedDict, total=False):
    """Where the cluster is, who the client is, and how long to wait for it."""

    nodes: str | Iterable[str]
    """Seed nodes: ``"host:port"`` strings, one comma-separated string, or ``redis://``
    URLs (``rediss://`` for TLS). One reachable node is enough: the client learns the
    rest of the cluster from it. Default: ``['127.0.0.1:7001']``."""

    connect_timeout: float
    """Seconds to reach the cluster at start before `ConnectError`. Default: ``5.0``."""

    response_timeout: float
    """Seconds to wait for one reply; blocking reads add `block` to it. Shorter notices a
    stalled node sooner, but a big pipeline (see `pipe_buffer_size`) needs time to be
    written and answered: keep it generous for big bodies. Default: ``30.0``."""

    username: str | None
    """ACL user, with `password`, for seeds whose URL carries no credentials.
    Default: ``None`` (the ``default`` user)."""

    password: str | None
    """Password, with `username` or alone (``requirepass``). It never appears in `repr`,
    exceptions or logs. Default: ``None``."""

    tls: bool
    """Connect with TLS. ``rediss://`` seeds and the ``tls_*`` files below turn it on
    too. Default: ``False``."""

    tls_ca_file: str | None
    """PEM bundle of the CAs to trust. Default: ``None`` (the system's trust store)."""

    tls_cert_file: str | None
    """Client certificate (PEM), for servers that verify clients (mutual TLS); needs
    `tls_key_file`. Default: ``None``."""

    tls_key_file: str | None
    """The private key of `tls_cert_file` (PEM). Default: ``None``."""

    tls_insecure_skip_verify: bool
    """Do not verify the server's certificate. Anyone on the path can then read and
    change the traffic: for tests only. Default: ``False``."""


class ClientOptions(ConnectionOptions, total=False):
    """What producers and consumers share: the queue's shape and where background errors
    go, besides the `ConnectionOptions`."""

    shards: int
    """Number of shard streams ``qu{0}_NAME`` … ``qu{N-1}_NAME``; must be equal in every
    producer and consumer of the queue (see `check_shards`). More shards spread a queue
    over more masters; each costs a little memory and one reader per consumer.
    Default: ``10``."""

    layout: Layout
    """Where the shard streams sit. ``"go"``: the Go ami's names ``qu{i}_NAME``, whose
    hash tags put shard i of every queue on the same slot, so a 10-shard queue uses at
    most 5 masters of any cluster and every queue uses the same ones. ``"spread"``:
    ``qu{TAG}_NAME``, with tags chosen so shard i of N sits 16384·i/N slots after an
    offset chosen when the queue is created, away from the other spread queues: each
    master holds its fair share of every queue's shards, at any cluster size. Go
    clients cannot read a spread queue. Recorded with `shards` and the offset (see
    `check_shards`). Default: ``"go"``."""

    check_shards: bool
    """Record `shards` and `layout` in the key ``qu_NAME_shards`` (the first client of a
    queue), or check them against the recorded ones, so clients that disagree fail at
    start with `ConfigError` instead of missing each other's shards. A spread client
    runs on the offset recorded there, also with ``False``. While running, the client
    reads the record every 5 seconds and takes on the new shards of a queue grown under
    it (``ami grow``). Default: ``True``."""

    on_error: ErrorHandler | None
    """Called from a background thread with each `AmiError` the background work meets,
    retried ones included (the Go ami's ``ErrorNotifier``); what it raises is logged.
    Default: ``None`` (a warning on the ``ami`` logger)."""


class ProducerOptions(ClientOptions, total=False):
    """The keyword options of `Producer` and `AsyncProducer`, besides `ClientOptions`."""

    pending_buffer_size: int
    """Most messages accepted but not yet written; `send` blocks beyond it (see
    `send_timeout`). The Go ami allows 10M, unbounded in practice; 1M absorbs long
    stalls and bounds memory. Default: ``1_000_000``."""

    pending_buffer_bytes: int
    """Most body bytes accepted but not yet written; `send` blocks beyond it.
    Default: ``536_870_912`` (512 MiB)."""

    pipe_buffer_size: int
    """Most messages per pipeline (one pipeline of XADDs goes to one shard stream).
    Bigger batches are faster, but each is one large request: keep `response_timeout`
    generous for big bodies. A burst is cut into smaller batches, down to 1,000
    messages, so it spreads over every shard. Default: ``50_000``."""

    pipe_buffer_bytes: int
    """Body bytes per pipeline: batches of large messages are cut here, far below the
    server's query buffer limit (1 GiB by default). Default: ``16_777_216`` (16 MiB)."""

    max_message_bytes: int
    """Largest body `send` accepts; a bigger one raises `MessageTooLargeError` before
    anything is buffered. Streams are a poor store for blobs (every read copies them),
    and the server refuses bulk strings over 512 MiB, the most allowed here.
    Default: ``16_777_216`` (16 MiB)."""

    pipe_period: float
    """Longest wait of a partial batch behind writes in flight. A message that finds no
    write in flight is written at once; batches form only while writes are in flight,
    and go as soon as those are answered or this has passed. Default: ``0.001``."""

    max_in_flight: int
    """Most pipelines awaiting replies at once, across all shards; each shard gets its
    share (at least one). More hides network latency; each holds a batch in memory until
    it is confirmed (within `pending_buffer_size`). Default: ``32``."""

    delivery_timeout: float
    """Seconds a batch may spend retrying (failovers, resharding, ``OOM``) before its
    messages are reported lost: `DeliveryError` from `flush`/`close`, and `on_error`.
    Default: ``120.0``."""

    send_timeout: float | None
    """Seconds `send` may block on a full buffer before raising `OperationTimeout`;
    ``None`` waits (failed batches still free space, within `delivery_timeout`).
    Default: ``None``."""

    create_group: bool
    """Create the consumer group (``XGROUP CREATE ... $ MKSTREAM``) at start, so messages
    sent before the first consumer runs are not skipped by the group's ``$`` start.
    Default: ``True``."""

    wait_replicas: int
    """Confirm a batch only after ``WAIT n`` in its pipeline reports that many replicas
    have it; otherwise it is sent again (duplicates) until `delivery_timeout`. Narrows,
    but does not close, the window in which a failover loses acknowledged writes, at a
    cost in latency and throughput. ``0`` does not wait. Default: ``0``."""

    wait_timeout: float
    """Seconds that ``WAIT`` may block. Default: ``1.0``."""

    balance_masters: bool
    """Share batches equally among the masters that hold the shards, then among each
    master's shards, instead of equally among the shards (the Go ami's way). The default
    names put 2, 5 and 3 of 10 shards on a 3-master cluster, so one master takes half the
    load; this gives each a third. Shards on a crowded master then hold fewer messages
    each; consumers, Go ones included, read every shard either way. The grouping follows
    slot moves within about 10 seconds. Default: ``False``."""

    on_delivery: DeliveryHandler | None
    """Called with an `ami.DeliveryReport` for every batch written or failed: its
    stream, each message's entry id (None for one that failed), why some failed, and,
    when asked for, the messages' bodies and headers. One call per batch, from a thread
    of the producer's (`AsyncProducer`: on its event loop), never one per message. Its
    messages count as unwritten until it returns, so a slow handler fills the buffer and
    makes `send` wait, and `flush` returns 0 only once every report was handled. What
    it raises is logged. Default: ``None`` (no reports, no ids kept)."""

    exit_timeout: float
    """Seconds the interpreter's exit waits for the messages of a producer that was never
    closed (a script that just ends, or `sys.exit`). What is still unwritten then is
    reported on stderr and to `on_error` as `DeliveryError`. ``0`` does not wait. See
    `ami.shutdown_on_signals` for SIGTERM. Default: ``10.0``."""


class ConsumerOptions(ClientOptions, total=False):
    """The keyword options of `Consumer` and `AsyncConsumer`, besides `ClientOptions`."""

    prefetch_count: int
    """Fewest entries read from one shard per XREADGROUP. Reads grow (16-fold, up to 16,384
    entries and about 4 MiB, then two more sent ahead) while they come back full and the
    application has taken every entry its shard read before, as a distant server needs,
    and halve when they come back short or the application falls behind. The prefetch
    holds up to ``2 * shards + 1`` reads (2,100 entries while reads stay at 100).
    Default: ``100``."""

    block: float | None
    """Seconds a read waits on an idle shard (XREADGROUP BLOCK); ``0`` or ``None`` polls
    every `pipe_period` instead. Longer blocks mean fewer idle round trips but a slower
    `stop`. Default: ``1.0``."""

    pending_buffer_size: int
    """Most acks held before `ack` waits for room, for up to `ack_timeout`, then raises
    `OperationTimeout`: an ack is never dropped silently. Acks not yet written when a
    process dies are lost, and their messages are delivered again.
    Default: ``1_000_000``."""

    pipe_buffer_size: int
    """Most ids per ack write to one stream. Default: ``50_000``."""

    pipe_period: float
    """Longest wait of acks behind ack writes in flight: acks that find none in flight
    are written at once. Default: ``0.001``."""

    ack_timeout: float
    """Seconds an ack may wait for room in a full ack buffer (then `ack` raises
    `OperationTimeout`), and seconds an ack batch may spend retrying before it is reported
    and given up (its messages stay pending and come back). Default: ``60.0``."""

    claim_idle: float | None
    """Seconds after which a message pending with another consumer of the group (one that
    died, or hangs) is claimed by this one and delivered again; this consumer's own
    messages are claimed back only once the application has held them this long without
    an ack, never while they wait in the prefetch. Shorter recovers faster but
    re-delivers messages whose handlers are merely slow; `touch` keeps a message longer.
    ``None`` never claims (the Go ami's behaviour). Default: ``60.0``."""

    max_deliveries: int | None
    """Deliveries after which a message is moved to the dead-letter stream
    ``qu{i}:dlq:NAME`` (with its body, delivery count and original id) and acked off the
    queue, all or nothing, so a poison message cannot loop forever. Reads that never
    reached the application do not count. ``None`` redelivers forever. Default: ``10``."""

    trim_acked: bool
    """Delete the acked entries at the head of the stream (up to its first entry that is
    not in the batch) with one ``XTRIM``, and XDEL only the rest, in one server script per
    batch. It deletes exactly the ids plain XACK+XDEL would, at a fraction of the server's
    cost (XDEL scans a stream node per id): the script reads one entry per read of the
    consumer, to check that the acked entries of that read still sit at the head of the
    stream. ``False`` sends plain XACK+XDEL, as the Go ami does; a server that refuses
    scripts (no ``+eval``) gets that anyway. Default: ``True``."""


def refuse_unknown(owner: str, options: Mapping[str, object], known: frozenset[str]) -> None:
    """Raises `TypeError` for a keyword that is not an option, as Python itself would.

    The core refuses one too, but only when it starts: the asyncio twins start later.
    """
    for key in options:
        if key not in known:
            raise TypeError(f"{owner}() got an unexpected keyword argument {key!r}")
