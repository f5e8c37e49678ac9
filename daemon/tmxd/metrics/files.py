"""Report files (``tmxd report -o``, the daily report, the Prometheus textfile)."""

from __future__ import annotations

from pathlib import Path

from tmxd.errors import TmxdError
from tmxd.fsutil import write_atomic


def write_report(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (folders created, mode 0644); errors name the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text, mode=0o644)
    except OSError as exc:
        raise TmxdError(f"{path}: cannot write: {exc.strerror or exc}") from exc
