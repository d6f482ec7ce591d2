"""ami: reliable, high-throughput queues on Redis Cluster Streams.

Wire-compatible with the Go library kak-tus/ami: a queue written by one is read by the
other. The buffering, batching and shard fan-out run in a Rust core.
"""

from ami._ami import DeliveryReport, Message, __version__, shard_for_key
from ami._async_consumer import AsyncConsumer
from ami._async_producer import AsyncProducer
from ami._consumer import Consumer
from ami._options import ConnectionOptions, ConsumerOptions, ProducerOptions
from ami._producer import Producer
from ami._shutdown import shutdown_on_signals
from ami._worker import Worker, run_worker
from ami.cluster import LocalCluster
from ami.exceptions import (
    AmiError,
    ClientClosedError,
    ClusterError,
    ConfigError,
    ConnectError,
    DeadLetteredError,
    DeliveryError,
    InternalError,
    InvalidEntryError,
    InvalidHeaderError,
    InvalidMessageError,
    MessageTooLargeError,
    OperationTimeout,
    QueueNotFoundError,
    ServerError,
    TransientError,
    UnsupportedServerError,
)
from ami.ops import ConsumerStats, DeadLetter, DeadLetters, QueueStats, ShardStats, inspect

__all__ = [
    "AmiError",
    "AsyncConsumer",
    "AsyncProducer",
    "ClientClosedError",
    "ClusterError",
    "ConfigError",
    "ConnectError",
    "ConnectionOptions",
    "Consumer",
    "ConsumerOptions",
    "ConsumerStats",
    "DeadLetter",
    "DeadLetteredError",
    "DeadLetters",
    "DeliveryError",
    "DeliveryReport",
    "InternalError",
    "InvalidEntryError",
    "InvalidHeaderError",
    "InvalidMessageError",
    "LocalCluster",
    "Message",
    "MessageTooLargeError",
    "OperationTimeout",
    "Producer",
    "ProducerOptions",
    "QueueNotFoundError",
    "QueueStats",
    "ServerError",
    "ShardStats",
    "TransientError",
    "UnsupportedServerError",
    "Worker",
    "__version__",
    "inspect",
    "run_worker",
    "shard_for_key",
    "shutdown_on_signals",
]
