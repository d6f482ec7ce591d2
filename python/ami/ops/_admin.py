"""Opening the core's admin handle with the clients' connection options."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ami import _ami
from ami._seeds import seed_list

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ami._options import ConnectionOptions


def open_admin(
    name: str, shards: int | None, **options: Unpack[ConnectionOptions]
) -> _ami.AdminCore:
    """Connect to queue `name`'s cluster; `nodes` may be a comma-separated string."""
    if "nodes" in options:
        options["nodes"] = seed_list(options["nodes"])
    return _ami.AdminCore(name, shards, **options)
