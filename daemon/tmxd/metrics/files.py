"""Report files (``tmxd report -o``, the daily report, the Prometheus textfile)."""

from __future__ import annotations

from pathlib import Path

from tmxd.errors import TmxdError
from tmxd.fsutil import write_atomic


def write_report(path: Path, text: str, *, shared: bool = False) -> None:
    """Write ``text`` to ``path`` atomically (folders created); errors name the file.

    A new report is private (0600) and an existing file keeps its mode; ``shared`` files
    (the Prometheus textfile, read by node_exporter as another user) are 0644.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text, mode=0o644 if shared else None)
    except OSError as exc:
        raise TmxdError(f"{path}: cannot write: {exc.strerror or exc}") from exc
