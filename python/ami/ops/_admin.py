"""Opening the core's admin handle with the clients' connection options."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ami import _ami
from ami._seeds import seed_list

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

if TYPE_CHECKING:
    from ami._options import ConnectionOptions, Layout


def open_admin(
    name: str,
    shards: int | None,
    layout: Layout | None = None,
    **options: Unpack[ConnectionOptions],
) -> _ami.AdminCore:
    """Connect to queue `name`'s cluster; `nodes` may be a comma-separated string."""
    if "nodes" in options:
        options["nodes"] = seed_list(options["nodes"])
    return _ami.AdminCore(name, shards, layout, **options)
