"""What the numbers were measured on: CPU, memory, server and library versions."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
from pathlib import Path
from typing import Any

from ami.bench.admin import Admin
from ami.bench.ceiling import redis_benchmark_binary, redis_benchmark_version


def _proc_field(path: str, name: str) -> str | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe(admin: Admin) -> dict[str, Any]:
    """The machine and software a run used.

    Args:
        admin: Client of the cluster under test.

    Returns:
        JSON-ready facts: CPU count and model, memory, OS, Python, server, libraries.
    """
    server = admin.server_info()
    benchmark = redis_benchmark_binary()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "?",
        "memory_total": _proc_field("/proc/meminfo", "MemTotal"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "server": f"{server['name']} {server['version']}",
        "masters": len(admin.masters()),
        "ami": _version("ami-streams"),
        "redis_py": _version("redis"),
        "hiredis": importlib.util.find_spec("hiredis") is not None,
        "redis_benchmark": redis_benchmark_version(benchmark) if benchmark else None,
    }
