"""The hook spool: what the git hooks wrote, read back exactly once.

Layout, in ``$(git rev-parse --git-common-dir)/tmxd/`` (one per repository,
shared by its linked worktrees)::

    spool               hooks append one line per run here (O_APPEND, one write)
    batch-<ns>          ``spool`` renamed aside by a reader, then read from
    batch-<ns>.pos      how many bytes of the batch have been processed (durable)
    lock                flock held by whoever drains (``tmxd sync`` or the daemon)

When the repository's spool cannot be written, the hooks append to the
per-user fallback ``<state dir>/spool`` instead; every line names its
repository, and the reader moves the lines back home first.

A line is ``tmxd1 TAB epoch TAB hook TAB head TAB ref TAB argv TAB rewrites TAB
common-dir`` (``-`` for an absent value; ``rewrites`` is ``old:new,`` pairs
from post-rewrite's stdin). Readers never delete a line before the caller has
acknowledged it, and acknowledged batches are removed only once they have
been quiet for :data:`GRACE_SECONDS` (a hook that opened ``spool`` just before
it was renamed may still append to the batch).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from tmxd import paths
from tmxd.errors import TmxdError
from tmxd.fsutil import append_durably, fsync_dir, locked, write_atomic

SPOOL_DIRNAME = "tmxd"
ACTIVE_NAME = "spool"
BATCH_PREFIX = "batch-"
LOCK_NAME = "lock"
LINE_TAG = "tmxd1"
FIELDS = 8
GRACE_SECONDS = 5.0
HOOKS = ("post-commit", "post-merge", "post-checkout", "post-rewrite")


@dataclass(frozen=True)
class SpoolRecord:
    """One hook run, as the hook saw it."""

    hook: str
    at: datetime | None  # None: take the time from the commit (post-commit)
    head: str | None
    ref: str | None  # "refs/heads/main", "HEAD" when detached
    args: tuple[str, ...]
    rewrites: tuple[tuple[str, str], ...]  # post-rewrite: (old, new) in git's order
    common_dir: Path

    @property
    def branch(self) -> str | None:
        if self.ref and self.ref.startswith("refs/heads/"):
            return self.ref[len("refs/heads/") :]
        return None


class SpoolLineError(ValueError):
    """A line that is not a complete tmxd spool record."""


def parse_line(line: str) -> SpoolRecord:
    """Parse one spool line (without its newline); SpoolLineError when malformed."""
    if line.count(LINE_TAG + "\t") > 1:
        # A write cut short (disk full) followed by a good one: keep the good one.
        line = line[line.rindex(LINE_TAG + "\t") :]
    fields = line.split("\t")
    if len(fields) != FIELDS or fields[0] != LINE_TAG:
        raise SpoolLineError(f"not a tmxd spool line: {line[:80]!r}")
    _, ts, hook, head, ref, argv, rewrites, common = fields
    if hook not in HOOKS:
        raise SpoolLineError(f"unknown hook {hook!r} in spool line")
    at: datetime | None = None
    if ts != "-":
        if not ts.isdigit():
            raise SpoolLineError(f"bad timestamp {ts!r} in spool line")
        at = datetime.fromtimestamp(int(ts), tz=UTC)
    pairs: list[tuple[str, str]] = []
    if rewrites != "-":
        for pair in rewrites.split(","):
            if not pair:
                continue
            old, sep, new = pair.partition(":")
            if not sep or not _is_sha(old) or not _is_sha(new):
                raise SpoolLineError(f"bad rewrite pair {pair!r} in spool line")
            pairs.append((old, new))
    if not common.startswith("/"):
        raise SpoolLineError(f"spool line without an absolute git dir: {common!r}")
    return SpoolRecord(
        hook=hook,
        at=at,
        head=head if _is_sha(head) else None,
        ref=None if ref in ("-", "") else ref,
        args=tuple(argv.split()),
        rewrites=tuple(pairs),
        common_dir=Path(os.path.normpath(common)),
    )


def format_line(record: SpoolRecord) -> str:
    """The line a hook would have written for ``record`` (tests, demo, re-spooling)."""
    ts = "-" if record.at is None else str(int(record.at.timestamp()))
    rewrites = "".join(f"{old}:{new}," for old, new in record.rewrites) or "-"
    return "\t".join(
        [
            LINE_TAG,
            ts,
            record.hook,
            record.head or "-",
            record.ref or "-",
            " ".join(record.args),
            rewrites,
            str(record.common_dir),
        ]
    )


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def spool_dir(common_dir: Path) -> Path:
    return common_dir / SPOOL_DIRNAME


def fallback_path() -> Path:
    """The per-user spool the hooks use when the repository's cannot be written."""
    return paths.state_dir() / "spool"


class Pending(NamedTuple):
    lines: int
    oldest: datetime | None  # when the oldest waiting line arrived (approximately)


@dataclass(frozen=True)
class Entry:
    """One line read from a batch: ``record`` or, for a malformed line, ``error``."""

    batch: Path
    end: int  # byte offset just after this line
    line: str
    record: SpoolRecord | None
    error: str | None


class Spool:
    """The spool of one repository (identified by its git common dir)."""

    def __init__(self, common_dir: Path) -> None:
        self.common_dir = common_dir.resolve()
        self.dir = spool_dir(common_dir)
        self.active = self.dir / ACTIVE_NAME

    def ensure(self) -> None:
        """Create the spool directory (private to the user)."""
        try:
            self.dir.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise TmxdError(f"{self.dir}: cannot create the spool directory: {exc}") from exc

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the drain lock (blocking): one reader at a time."""
        self.ensure()
        with locked(self.dir / LOCK_NAME):
            yield

    # -- reading ----------------------------------------------------------------

    def batches(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        found = [
            p
            for p in self.dir.iterdir()
            if p.name.startswith(BATCH_PREFIX) and not p.name.endswith((".pos", ".tmp"))
        ]
        return sorted(found, key=lambda p: p.name)

    def rotate(self) -> Path | None:
        """Rename a non-empty active spool to a new batch (caller holds the lock)."""
        try:
            if self.active.stat().st_size == 0:
                return None
        except FileNotFoundError:
            return None
        batch = self.dir / f"{BATCH_PREFIX}{time.time_ns():020d}"
        os.rename(self.active, batch)
        fsync_dir(self.dir)
        return batch

    def entries(self) -> list[Entry]:
        """Unprocessed lines, oldest first (caller holds the lock)."""
        import_fallback(self)
        self.rotate()
        out: list[Entry] = []
        for batch in self.batches():
            out.extend(self._read_batch(batch))
        return out

    def _read_batch(self, batch: Path) -> list[Entry]:
        start = _read_pos(batch)
        try:
            with open(batch, "rb") as fh:
                fh.seek(start)
                data = fh.read()
                quiet = time.time() - os.fstat(fh.fileno()).st_mtime > GRACE_SECONDS
        except FileNotFoundError:
            return []
        entries: list[Entry] = []
        offset = start
        while data:
            nl = data.find(b"\n")
            if nl < 0:
                if not quiet:
                    break  # a hook may still be writing this line
                chunk, data = data, b""
            else:
                chunk, data = data[: nl + 1], data[nl + 1 :]
            offset += len(chunk)
            text = chunk.rstrip(b"\n").decode("utf-8", "surrogateescape")
            if not text.strip():
                entries.append(Entry(batch, offset, text, None, None))
                continue
            try:
                entries.append(Entry(batch, offset, text, parse_line(text), None))
            except SpoolLineError as exc:
                entries.append(Entry(batch, offset, text, None, str(exc)))
        return entries

    def ack(self, entry: Entry) -> None:
        """Durably mark everything up to ``entry`` in its batch as processed."""
        _write_pos(entry.batch, entry.end)

    def cleanup(self) -> list[Path]:
        """Remove batches that are fully processed and quiet (caller holds the lock)."""
        removed: list[Path] = []
        for batch in self.batches():
            try:
                st = batch.stat()
            except FileNotFoundError:
                continue
            if _read_pos(batch) >= st.st_size and time.time() - st.st_mtime > GRACE_SECONDS:
                batch.unlink()
                _pos_path(batch).unlink(missing_ok=True)
                removed.append(batch)
        if removed:
            fsync_dir(self.dir)
        return removed

    def pending(self) -> Pending:
        """Lines waiting to be processed and when the oldest arrived (a snapshot, no lock)."""
        count = 0
        oldest: float | None = None
        for path, start in [*((b, _read_pos(b)) for b in self.batches()), (self.active, 0)]:
            lines, first = _scan(path, start)
            count += lines
            if first is not None and (oldest is None or first < oldest):
                oldest = first
        fallback = fallback_path()
        if fallback.is_file():
            with contextlib.suppress(OSError):
                mine = [ln for ln in fallback.read_bytes().splitlines() if self.owns(ln)]
                if mine:
                    count += len(mine)
                    mtime = fallback.stat().st_mtime
                    oldest = mtime if oldest is None else min(oldest, mtime)
        when = None if oldest is None else datetime.fromtimestamp(oldest, tz=UTC)
        return Pending(count, when)

    def owns(self, line: bytes) -> bool:
        """Whether a fallback-spool line belongs to this repository."""
        try:
            record = parse_line(line.decode("utf-8", "surrogateescape"))
        except SpoolLineError:
            return False
        return record.common_dir.resolve() == self.common_dir


def import_fallback(spool: Spool) -> int:
    """Move this repository's lines from the per-user fallback spool into its own.

    Lines of other repositories go back into the fallback. Returns how many
    lines were moved home. Nothing is removed before it was written elsewhere.
    """
    fallback = fallback_path()
    if not fallback.is_file() or fallback.stat().st_size == 0:
        return 0
    with locked(fallback.parent / "spool.lock"):
        rotated = fallback.with_name(f"spool.{time.time_ns():020d}.moving")
        try:
            os.rename(fallback, rotated)
        except FileNotFoundError:
            return 0
        moved = 0
        done = 0
        while True:
            data = rotated.read_bytes()
            chunk = data[done:]
            if not chunk:
                break
            done = len(data)
            mine: list[bytes] = []
            others: list[bytes] = []
            for line in chunk.splitlines():
                (mine if spool.owns(line) else others).append(line)
            if mine:
                try:
                    spool.ensure()
                    _append_lines(spool.active, mine)
                    moved += len(mine)
                except (OSError, TmxdError):
                    others.extend(mine)  # still cannot write home: keep them in the fallback
            if others:
                _append_lines(fallback, others)
        rotated.unlink()
        return moved


def _append_lines(path: Path, lines: list[bytes]) -> None:
    append_durably(path, b"".join(line + b"\n" for line in lines))


def _pos_path(batch: Path) -> Path:
    return batch.with_name(batch.name + ".pos")


def _read_pos(batch: Path) -> int:
    try:
        return int(_pos_path(batch).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _write_pos(batch: Path, pos: int) -> None:
    write_atomic(_pos_path(batch), str(pos), mode=0o600)


def _scan(path: Path, start: int) -> tuple[int, float | None]:
    """(unprocessed lines, epoch of the oldest) from ``start``; the file's mtime stands in
    for lines that carry no time (post-commit)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            lines = [line for line in fh if line.strip()]
            mtime = os.fstat(fh.fileno()).st_mtime
    except FileNotFoundError:
        return 0, None
    if not lines:
        return 0, None
    first: float = mtime
    with contextlib.suppress(SpoolLineError, UnicodeDecodeError):
        at = parse_line(lines[0].rstrip(b"\n").decode("utf-8")).at
        if at is not None:
            first = min(first, at.timestamp())
    return len(lines), first
