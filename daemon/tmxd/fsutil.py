"""Small durability helpers shared by the modules that write files atomically."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; best effort.

    Some filesystems refuse to open or fsync a directory; the rename has then
    already happened and there is nothing more to do, so errors are ignored.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
