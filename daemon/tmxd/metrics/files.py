"""Report files (``tmxd report -o``, the daily report, the Prometheus textfile)."""

from __future__ import annotations

import shlex
from pathlib import Path

from tmxd.errors import InputError, TmxdError
from tmxd.fsutil import make_private_dirs, missing_folder, write_atomic


def write_report(
    path: Path, text: str, *, shared: bool = False, make_folders: bool = False
) -> None:
    """Write ``text`` to ``path`` atomically; errors name the file.

    A new report is private (0600) and an existing file keeps its mode; ``shared`` files
    (the Prometheus textfile, read by node_exporter as another user) are 0644.

    A path the user typed (``-o``, ``--textfile``) must be in an existing folder: a
    missing one is an :class:`InputError` (exit 2) that names it, and nothing is
    created, so a typo never grows a tree. ``make_folders`` (the daemon's daily report,
    in folders of tmxd's own) creates the missing ones, each private (0700); folders
    that exist keep their mode.
    """
    folder = path.parent
    if make_folders:
        try:
            make_private_dirs(folder)
        except OSError as exc:
            raise TmxdError(f"{folder}: cannot create: {exc.strerror or exc}") from exc
    else:
        check_folder(path)
    try:
        write_atomic(path, text, mode=0o644 if shared else None)
    except OSError as exc:
        raise TmxdError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def check_folder(path: Path) -> None:
    """Refuse a ``path`` (one the user typed) whose folder does not exist: an
    :class:`InputError` naming the folder and the fix. Commands call it before the work
    that produces the file, so a typo fails at once."""
    folder = path.parent
    if missing_folder(folder):
        raise InputError(
            f"{folder}: no such folder; create it first (mkdir -p {shlex.quote(str(folder))}) "
            f"or write {path.name} somewhere that exists"
        )
