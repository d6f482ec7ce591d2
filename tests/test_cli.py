"""The command line as a person meets it: its name, version, option order, numbers and
pipes. The commands themselves are tested in ``test_cli_queue.py`` and the dead-letter
tests."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import ami
from ami import cli
from ami.cli import arg_types
from ami.cli.dlq import format_dead_letters
from ami.cli.output import format_count, plural
from ami.cli.queue import format_stats
from ami.ops import ConsumerStats, DeadLetter, QueueStats, ShardStats

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"
CLI_DIR = PYTHON_DIR / "ami" / "cli"


@pytest.fixture(autouse=True)
def _no_ambient_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep $AMI_NODES and a state file in the working directory out of the tests."""
    monkeypatch.delenv("AMI_NODES", raising=False)
    monkeypatch.chdir(tmp_path)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), env.get("PYTHONPATH")]))
    env.pop("AMI_NODES", None)
    return env


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


def _console_script(tmp_path: Path) -> Path:
    """A file named ``ami`` that does what the installed ``ami`` script does."""
    script = tmp_path / "ami"
    script.write_text("from ami.cli import run\n\nrun()\n")
    return script


# --------------------------------------------------------------------------- the package


def test_the_package_exposes_the_entry_points() -> None:
    assert cli.__all__ == ["build_parser", "main", "run"]
    assert cli.build_parser().prog == "ami"


# --------------------------------------------------------------------------- --version


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr() == (f"ami {ami.__version__}\n", "")


def test_version_of_python_m_ami() -> None:
    result = _run([sys.executable, "-m", "ami", "--version"])

    assert (result.returncode, result.stdout, result.stderr) == (0, f"ami {ami.__version__}\n", "")


# --------------------------------------------------------------------------- program name


def test_usage_says_python_m_ami_when_run_so() -> None:
    usage = _run([sys.executable, "-m", "ami", "stats", "--help"])
    mistake = _run([sys.executable, "-m", "ami", "stats"])

    assert usage.returncode == 0 and usage.stdout.startswith("usage: python -m ami stats ")
    assert (mistake.returncode, mistake.stderr) == (
        2,
        "python -m ami stats: error: the following arguments are required: NAME\n",
    )


def test_usage_and_messages_say_ami_when_run_as_ami(tmp_path: Path) -> None:
    script = _console_script(tmp_path)

    usage = _run([sys.executable, str(script), "stats", "--help"])
    no_cluster = _run([sys.executable, str(script), "stats", "q"])

    assert usage.returncode == 0 and usage.stdout.startswith("usage: ami stats ")
    assert no_cluster.returncode == 2
    assert no_cluster.stderr.startswith("ami: error: no cluster given")
    assert "start one with 'ami cluster up'" in no_cluster.stderr


def test_hints_name_the_program_as_it_was_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cluster", "status"], prog="python -m ami") == 2

    err = capsys.readouterr().err
    assert err.startswith("python -m ami: error: no cluster state file")
    assert "start one with 'python -m ami cluster up'" in err


# --------------------------------------------------------------------------- option order


@pytest.mark.parametrize(
    "argv",
    [
        ["send", "q", "--shards", "4", "hi"],
        ["send", "--shards", "4", "q", "hi"],
        ["send", "q", "hi", "--shards", "4"],
        ["send", "--shards=4", "q", "--timeout", "2", "hi"],
    ],
)
def test_options_may_come_before_between_or_after_positionals(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)

    assert (args.name, args.body, args.shards) == ("q", "hi", 4)


@pytest.mark.parametrize(
    "argv",
    [
        ["send", "q", "-", "--shards", "4"],
        ["send", "q", "--shards", "4", "-"],
        ["send", "q", "--shards", "4"],
    ],
)
def test_a_dash_or_no_body_still_means_stdin(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)

    assert (args.name, args.body, args.shards) == ("q", "-", 4)


def test_a_body_that_looks_like_an_option_follows_a_double_dash() -> None:
    args = cli.build_parser().parse_args(["send", "q", "--shards", "4", "--", "-v"])

    assert (args.body, args.shards) == ("-v", 4)


def test_ids_may_be_split_by_options() -> None:
    argv = ["dlq", "purge", "q", "1-1", "--shards", "2", "0:2-2", "--yes", "3-3"]

    args = cli.build_parser().parse_args(argv)

    assert (args.ids, args.shards, args.yes) == (["1-1", "0:2-2", "3-3"], 2, True)


def test_options_after_positionals_end_to_end(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = ",".join(nodes)

    assert cli.main(["send", queue, "--shards", "2", "hello", "--nodes", seeds]) == 0
    assert cli.main(["stats", queue, "--nodes", seeds, "--shards", "2", "--json"]) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"sent 1 message to {queue}\n")
    stats = json.loads(out[out.index("{") :])
    assert (stats["length"], len(stats["shards"])) == (1, 2)


# --------------------------------------------------------------------------- closed stdout


@pytest.fixture(params=["buffered", "unbuffered"])
def buffering(request: pytest.FixtureRequest) -> str:
    """Stdout buffered (a closed pipe shows at the last flush) or not (at the first print)."""
    return str(request.param)


def _run_into_a_closed_pipe(
    args: list[str], buffering: str, nodes: list[str] | None = None
) -> tuple[int, str]:
    """Run ``python -m ami ARGS`` with stdout a pipe nobody reads, as in ``| head``.

    The read end is closed before the process starts, so its first write fails for sure.

    Returns:
        The exit status and stderr.
    """
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = _env()
    env.pop("PYTHONUNBUFFERED", None)
    if buffering == "unbuffered":
        env["PYTHONUNBUFFERED"] = "1"
    if nodes is not None:
        env["AMI_NODES"] = ",".join(nodes)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "ami", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    return result.returncode, result.stderr


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["stats", "--help"]])
def test_a_closed_stdout_ends_quietly_with_141(args: list[str], buffering: str) -> None:
    assert _run_into_a_closed_pipe(args, buffering) == (141, "")


@pytest.mark.parametrize(
    "args",
    [["stats", "QUEUE"], ["stats", "QUEUE", "--json"], ["tail", "QUEUE"], ["dlq", "list", "QUEUE"]],
)
def test_queue_commands_end_quietly_on_a_closed_stdout(
    nodes: list[str], queue: str, args: list[str], buffering: str
) -> None:
    with ami.Producer(queue, nodes=nodes, shards=2) as producer:
        producer.send_many([b"m%d" % i for i in range(50)])

    command = [queue if arg == "QUEUE" else arg for arg in args]

    status = _run_into_a_closed_pipe([*command, "--shards", "2"], buffering, nodes)

    assert status == (141, "")


def test_a_closed_stdout_does_not_lose_what_was_sent(
    nodes: list[str], queue: str, buffering: str
) -> None:
    args = ["send", queue, "kept", "--shards", "1"]

    assert _run_into_a_closed_pipe(args, buffering, nodes) == (141, "")

    stats = ami.inspect(queue, nodes=nodes, shards=1)
    assert stats.length == 1


def test_tail_follow_ends_quietly_when_its_reader_goes(nodes: list[str], queue: str) -> None:
    def produce(body: bytes) -> None:
        with ami.Producer(queue, nodes=nodes, shards=1) as producer:
            producer.send(body)

    produce(b"first")
    env = {**_env(), "AMI_NODES": ",".join(nodes)}
    command = [sys.executable, "-m", "ami", "tail", queue, "-f", "--shards", "1"]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            assert process.stdout.readline().endswith(" first\n")
            process.stdout.close()  # what `| head -1` does after its line
            produce(b"second")
            status = process.wait(timeout=30)
            err = process.stderr.read()
        finally:
            process.kill()

    assert (status, err) == (141, "")


# --------------------------------------------------------------------------- numbers in


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command without subcommands, with the words that name it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from _commands(subparser, (*path, name))
            return
    yield path, parser


def _numeric_options() -> list[tuple[list[str], str, object]]:
    """(command words with its positionals, option, type) of every typed option."""
    found = []
    for path, parser in _commands(cli.build_parser()):
        positionals = ["q"] if any(action.dest == "name" for action in parser._actions) else []
        found += [
            ([*path, *positionals], action.option_strings[0], action.type)
            for action in parser._actions
            if action.option_strings and action.type not in (None, Path, arg_types.header)
        ]
    return found


NUMERIC_TYPES = {arg_types.non_negative_int, arg_types.positive_int, arg_types.shard_count}
NUMERIC_OPTIONS = _numeric_options()


def test_every_numeric_option_has_a_checked_type() -> None:
    assert len(NUMERIC_OPTIONS) >= 12
    unchecked = [
        (" ".join(command), option)
        for command, option, kind in NUMERIC_OPTIONS
        if kind not in NUMERIC_TYPES and kind is not arg_types.seconds
    ]
    assert unchecked == []


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        (command, option, value)
        for command, option, kind in NUMERIC_OPTIONS
        for value in ("-1", "x", *(["0"] if kind is not arg_types.non_negative_int else []))
    ],
)
def test_a_bad_number_is_a_one_line_usage_error(
    command: list[str], option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*command, option, value]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"ami {command[0]}") and f"error: argument {option}" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["demo", "--masters", "0"], "argument --masters: must be at least 1, got 0"),
        (["demo", "--messages", "-5"], "argument --messages: must be at least 1, got -5"),
        (["stats", "q", "--shards", "128"], "must be between 1 and 127, got 128"),
        (["tail", "q", "--timeout", "inf"], "at most 86,400 seconds, got inf"),
        (["tail", "q", "--timeout", "nan"], "got nan"),
        (["send"], "the following arguments are required: NAME"),
        (["stats", "q", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_usage_errors_are_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2

    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_a_python_m_ami_usage_error_has_no_traceback() -> None:
    result = _run([sys.executable, "-m", "ami", "demo", "--masters", "0"])

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "python -m ami demo: error: argument --masters: must be at least 1, got 0\n"
    )


@pytest.mark.parametrize("kwargs", [{"messages": 0}, {"masters": 0}, {"messages": -1}])
def test_the_demo_checks_its_arguments(kwargs: dict[str, int]) -> None:
    from ami import demo

    with pytest.raises(ami.ConfigError) as info:
        demo.run(**kwargs)
    assert info.value.option == next(iter(kwargs))


# --------------------------------------------------------------------------- numbers out


@pytest.mark.parametrize(
    ("value", "text", "messages"),
    [(0, "0", "0 messages"), (1, "1", "1 message"), (1_000_000, "1,000,000", "1,000,000 messages")],
)
def test_counts_have_thousands_separators(value: int, text: str, messages: str) -> None:
    assert format_count(value) == text
    assert plural(value, "message") == messages


def test_stats_tables_have_thousands_separators_and_numbers_on_the_right() -> None:
    busy = ConsumerStats("worker-1", 1_500, 0.5)
    shard = ShardStats(
        "qu{0}_q", 2_000_000, 1_500, 1_998_500, "1-1", [busy], 42.0, 12_345, "10.0.0.1:7001"
    )
    idle = ShardStats("qu{1}_q", 7, 0, 7, None, [], None)
    stats = QueueStats(
        "q", "qu_q_group", [shard, idle], 2_000_007, 1_500, 1_998_507, 12_345, [busy], 42.0
    )

    lines = format_stats(stats)

    assert lines[2:6] == [
        "SHARD    MASTER            LENGTH  PENDING        LAG  CONSUMERS  OLDEST_PENDING"
        "    DEAD  DELIVERED",
        "qu{0}_q  10.0.0.1:7001  2,000,000    1,500  1,998,500          1           42.0s"
        "  12,345  1-1",
        "qu{1}_q  ?                      7        0          7          0               -"
        "       0  -",
        "total                   2,000,007    1,500  1,998,507          1           42.0s  12,345",
    ]
    assert lines[7:10] == [
        "MASTER         SHARDS  HELD",
        "10.0.0.1:7001       1  0",
        "?                   1  1",
    ]
    assert lines[-2:] == ["CONSUMER  PENDING   IDLE", "worker-1    1,500  0.50s"]


def test_dead_letter_tables_have_thousands_separators() -> None:
    letter = DeadLetter("5-1", "qu{0}:dlq:q", 0, b"body", "max_deliveries", 1_234, "1-1", "qu{0}_q")

    assert format_dead_letters([letter])[1].split()[:3] == ["5-1", "0", "1,234"]


def test_summaries_have_separators_and_json_has_none(
    nodes: list[str],
    queue: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = "".join(f"m{i}\n" for i in range(1_234))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    seeds = ",".join(nodes)

    assert cli.main(["send", queue, "--shards", "2", "--nodes", seeds]) == 0
    assert capsys.readouterr().out == f"sent 1,234 messages to {queue}\n"

    assert cli.main(["stats", queue, "--shards", "2", "--nodes", seeds]) == 0
    [total] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("total")]
    assert total.split()[:4] == ["total", "1,234", "0", "1,234"]

    assert cli.main(["stats", queue, "--shards", "2", "--nodes", seeds, "--json"]) == 0
    out = capsys.readouterr().out
    assert "," not in out.replace(",\n", "\n")
    assert json.loads(out)["length"] == 1_234


# --------------------------------------------------------------------------- shard count


@pytest.mark.parametrize("command", [["stats"], ["tail"], ["send"], ["dlq", "list"]])
def test_shards_default_to_none_in_the_parser(command: list[str]) -> None:
    args = cli.build_parser().parse_args([*command, "q"])

    assert args.shards is None


def test_without_shards_queue_commands_use_the_recorded_count(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = ",".join(nodes)
    with ami.Producer(queue, nodes=nodes, shards=4) as producer:
        producer.send_many([b"m%d" % i for i in range(40)])

    assert cli.main(["stats", queue, "--nodes", seeds, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert cli.main(["send", queue, "one more", "--nodes", seeds]) == 0
    assert cli.main(["dlq", "list", queue, "--nodes", seeds]) == 0
    capsys.readouterr()
    assert cli.main(["stats", queue, "--shards", "5", "--nodes", seeds]) == 2
    mismatch = capsys.readouterr().err

    assert (len(stats["shards"]), stats["length"]) == (4, 40)
    assert ami.inspect(queue, nodes=nodes).length == 41
    assert "shards=4" in mismatch and mismatch.count("\n") == 1


def test_a_new_queue_gets_ten_shards(nodes: list[str], queue: str) -> None:
    assert cli.main(["send", queue, "first", "--nodes", ",".join(nodes)]) == 0

    stats = ami.inspect(queue, nodes=nodes)

    assert (len(stats.shards), stats.length) == (10, 1)


@pytest.mark.parametrize("command", [["stats"], ["tail"], ["tail", "-f"]])
def test_a_queue_that_does_not_exist_is_an_error(
    nodes: list[str], queue: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*command, queue, "--nodes", ",".join(nodes)]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().endswith(f"QueueNotFoundError: queue {queue!r} does not exist")
