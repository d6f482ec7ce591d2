"""The public names are a contract: adding or removing one is a deliberate change."""

import ami


def test_public_names() -> None:
    assert ami.__all__ == [
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
    assert ami.__all__ == sorted(ami.__all__)
    for name in ami.__all__:
        assert hasattr(ami, name)


def test_every_exception_is_an_ami_error() -> None:
    for name in ami.__all__:
        value = getattr(ami, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, ami.AmiError)
    assert issubclass(ami.ConfigError, ValueError)
    assert issubclass(ami.OperationTimeout, TimeoutError)
    assert issubclass(ami.ConnectError, ConnectionError)
    assert issubclass(ami.UnsupportedServerError, ami.ConnectError)
    assert issubclass(ami.InvalidHeaderError, ValueError)
    assert issubclass(ami.InvalidHeaderError, ami.InvalidMessageError)
