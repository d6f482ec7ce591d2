"""TLS: a TLS-only local cluster, certificates made by openssl at test time."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SERVER, server_binary

import ami
from ami import cli
from ami.cluster import TlsFiles, pick_ports
from helpers import drain


def _serves_tls(binary: str) -> bool:
    """Whether `binary` was built with TLS. Without certificates it exits either way; one
    built without TLS says so (Redis 6.2 knows no `tls-port`, Valkey lacks the module)."""
    probe = [binary, "--port", "0", "--tls-port", str(pick_ports(1)[0]), "--save", ""]
    ran = subprocess.run(probe, capture_output=True, text=True, timeout=10)
    said = ran.stdout + ran.stderr
    return "Bad directive" not in said and "Failed finding TLS support" not in said


pytestmark = [
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl"),
    pytest.mark.skipif(
        not _serves_tls(server_binary()), reason=f"{server_binary()} was built without TLS"
    ),
]


def make_certificates(folder: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1, valid for a day."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-days",
        "1",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=ami test CA",
    )
    openssl(
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        "server.crt",
        "-extfile",
        "san.cnf",
    )
    return TlsFiles(
        cert_file=str(folder / "server.crt"),
        key_file=str(folder / "server.key"),
        ca_file=str(folder / "ca.crt"),
    )


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], str]]:
    files = make_certificates(tmp_path_factory.mktemp("certs"))
    with ami.LocalCluster(masters=3, tls=files, server=SERVER) as cluster:
        yield cluster.nodes, files.ca_file


def test_round_trip_over_tls(tls_cluster: tuple[list[str], str], queue: str) -> None:
    nodes, ca_file = tls_cluster
    with ami.Producer(queue, nodes=nodes, shards=3, tls_ca_file=ca_file) as producer:
        producer.send_many([b"%d" % i for i in range(1_000)])
    seeds = [f"rediss://{node}" for node in nodes]
    with ami.Consumer(queue, consumer="c", nodes=seeds, shards=3, tls_ca_file=ca_file) as consumer:
        assert len(drain(consumer, 1_000)) == 1_000


def test_a_client_without_the_ca_fails_verification_fast(
    tls_cluster: tuple[list[str], str], queue: str
) -> None:
    nodes, _ = tls_cluster
    started = time.monotonic()
    with pytest.raises(ami.ConnectError, match=r"(?i)certificate") as raised:
        ami.Producer(queue, nodes=nodes, tls=True, connect_timeout=10.0)
    assert time.monotonic() - started < 5.0
    assert "127.0.0.1" in raised.value.nodes


def test_plain_connections_to_a_tls_cluster_fail(tls_cluster: tuple[list[str], str]) -> None:
    nodes, _ = tls_cluster
    with pytest.raises(ami.ConnectError):
        ami.Producer("q", nodes=nodes, connect_timeout=1.0)


def test_skipping_verification_must_be_asked_for_by_name(
    tls_cluster: tuple[list[str], str], queue: str
) -> None:
    nodes, _ = tls_cluster
    with ami.Producer(queue, nodes=nodes, shards=1, tls_insecure_skip_verify=True) as producer:
        producer.send(b"x")
    with pytest.raises(ami.ConfigError):
        ami.Producer(queue, nodes=[f"rediss://{nodes[0]}/#insecure"])


def test_unreadable_certificate_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ami.ConfigError) as raised:
        ami.Producer("q", nodes=["127.0.0.1:1"], tls_ca_file=str(tmp_path / "missing.pem"))
    assert raised.value.option == "tls_ca_file"
    with pytest.raises(ami.ConfigError):
        ami.Producer("q", nodes=["127.0.0.1:1"], tls_cert_file=str(tmp_path / "c.pem"))


def test_operations_reach_a_tls_cluster(tls_cluster: tuple[list[str], str], queue: str) -> None:
    nodes, ca_file = tls_cluster
    with ami.Producer(queue, nodes=nodes, shards=3, tls_ca_file=ca_file) as producer:
        producer.send_many([b"x", b"y"])
    seeds = [f"rediss://{node}" for node in nodes]

    stats = ami.inspect(queue, nodes=seeds, tls_ca_file=ca_file)
    entries = list(ami.ops.tail(queue, nodes=nodes, count=5, tls_ca_file=ca_file))
    with ami.DeadLetters(queue, nodes=nodes, tls_ca_file=ca_file) as dlq:
        dead_letters = dlq.count()

    assert (stats.length, stats.exists, len(stats.shards)) == (2, True, 3)
    assert sorted(entry.body or b"" for entry in entries) == [b"x", b"y"]
    assert dead_letters == 0
    with pytest.raises(ami.ConnectError):
        ami.inspect(queue, nodes=nodes, connect_timeout=1.0)


def test_the_command_line_reaches_a_tls_cluster(
    tls_cluster: tuple[list[str], str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes, ca_file = tls_cluster
    seeds = ["--nodes", ",".join(nodes), "--tls-ca-file", ca_file]

    assert cli.main(["send", queue, "over tls", *seeds]) == 0
    capsys.readouterr()
    assert cli.main(["tail", queue, *seeds]) == 0
    tailed = capsys.readouterr().out
    assert cli.main(["stats", queue, "--json", *seeds]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert cli.main(["dlq", "list", queue, *seeds]) == 0
    capsys.readouterr()

    assert tailed.split()[-2:] == ["over", "tls"]
    assert stats["length"] == 1
    assert cli.main(["stats", queue, "--nodes", ",".join(nodes), "--timeout", "1"]) == 1
