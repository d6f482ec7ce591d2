"""Normalising the `nodes` option."""

from __future__ import annotations

from collections.abc import Iterable

from ami.exceptions import ConfigError


def seed_list(nodes: str | Iterable[str]) -> list[str]:
    """Seed nodes as a list: one ``host:port`` or URL, a comma-separated string, or a list.

    Raises:
        ConfigError: No node was given, or a node is not a string.
    """
    if isinstance(nodes, str):
        seeds = [n.strip() for n in nodes.split(",") if n.strip()]
    else:
        seeds = list(nodes)
        if not all(isinstance(n, str) for n in seeds):
            raise ConfigError("invalid nodes: every node must be a 'host:port' string", "nodes")
    if not seeds:
        raise ConfigError("invalid nodes: at least one seed node is needed", "nodes")
    return seeds
