"""Autopilot's own state per project, in the user's state dir.

``<state dir>/autopilot/<project key>/``:

- ``state.json``: claims (tasks a run has set in progress: its pid, the agent's
  process group and the status to restore), approvals (``tmxd approve``), and
  reviews (why a task waits in ``review``);
- ``breaker.json``: the circuit breaker (read by ``tmxd status``);
- ``prompts/``: the prompt file of each run;
- ``patches/``: the changes of each failed or interrupted attempt, as a patch.

Writers take an ``flock`` on ``state.lock`` and replace the file atomically, so the
CLI and the daemon can share it. Files are private to the user.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tmxd import paths
from tmxd.errors import TmxdError
from tmxd.fsutil import acquire, write_atomic
from tmxd.proc import pid_alive

_thread_lock = threading.Lock()


def project_key(root: Path) -> str:
    resolved = str(root.resolve())
    digest = hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:12]
    return f"{root.resolve().name or 'root'}-{digest}"


def project_dir(root: Path) -> Path:
    return paths.state_dir() / "autopilot" / project_key(root)


def breaker_path(root: Path) -> Path:
    return project_dir(root) / "breaker.json"


def prompts_dir(root: Path) -> Path:
    return project_dir(root) / "prompts"


def patches_dir(root: Path) -> Path:
    """Where a failed attempt's changes are kept, one patch file per attempt."""
    return project_dir(root) / "patches"


def task_key(tag: str, task_id: str) -> str:
    return f"{tag}:{task_id}"


@dataclass
class StateFile:
    """Claims, approvals and reviews of one project."""

    root: Path

    @property
    def path(self) -> Path:
        return project_dir(self.root) / "state.json"

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise TmxdError(
                f"{self.path}: unreadable autopilot state ({exc}); delete the file to reset it"
            ) from exc
        if not isinstance(data, dict):
            data = {}
        for key in ("claims", "approved", "reviews"):
            if not isinstance(data.get(key), dict):
                data[key] = {}
        return data

    def read(self) -> dict[str, Any]:
        with self._locked():
            return self._read()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        directory = self.path.parent
        with _thread_lock:
            try:
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = acquire(directory / "state.lock")
            except OSError as exc:
                raise TmxdError(f"{directory}: cannot open the autopilot state: {exc}") from exc
            try:
                yield
            finally:
                if fd is not None:
                    os.close(fd)

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """Read, let the caller change, write back atomically."""
        with self._locked():
            data = self._read()
            yield data
            try:
                write_atomic(self.path, json.dumps(data, indent=2, sort_keys=True), mode=0o600)
            except OSError as exc:
                raise TmxdError(f"{self.path}: cannot save the autopilot state: {exc}") from exc

    # -- claims ----------------------------------------------------------------

    def claim(self, tag: str, task_id: str, previous: str) -> bool:
        """Claim a task for this process; False when another live process holds it."""
        with self.edit() as data:
            held = data["claims"].get(task_key(tag, task_id))
            if isinstance(held, dict):
                pid = held.get("pid")
                if isinstance(pid, int) and pid != os.getpid() and pid_alive(pid):
                    return False
            data["claims"][task_key(tag, task_id)] = {
                "pid": os.getpid(),
                "previous": previous,
                "agent_pgid": None,
                "agent_start": None,
            }
        return True

    def set_agent(self, tag: str, task_id: str, pgid: int | None, start: int | None) -> None:
        with self.edit() as data:
            claim = data["claims"].get(task_key(tag, task_id))
            if isinstance(claim, dict):
                claim["agent_pgid"] = pgid
                claim["agent_start"] = start

    def update_claim(self, tag: str, task_id: str, **fields: Any) -> None:
        """Set fields of a claim (``execution_id``, ``workspace``: what a later run
        needs to recover the attempt if this process dies), in one write."""
        with self.edit() as data:
            claim = data["claims"].get(task_key(tag, task_id))
            if isinstance(claim, dict):
                claim.update(fields)

    def release(self, tag: str, task_id: str) -> None:
        with self.edit() as data:
            data["claims"].pop(task_key(tag, task_id), None)

    # -- approvals and reviews ---------------------------------------------------

    def is_approved(self, tag: str, task_id: str) -> bool:
        return task_key(tag, task_id) in self.read()["approved"]

    def review(self, tag: str, task_id: str) -> dict[str, Any] | None:
        found = self.read()["reviews"].get(task_key(tag, task_id))
        return found if isinstance(found, dict) else None

    def set_review(self, tag: str, task_id: str, kind: str, detail: str) -> None:
        with self.edit() as data:
            data["reviews"][task_key(tag, task_id)] = {"kind": kind, "detail": detail}

    def decide(self, tag: str, task_id: str, approved: bool, at: str) -> dict[str, Any] | None:
        """Record an approval (or drop one on reject); return the review it settles."""
        key = task_key(tag, task_id)
        with self.edit() as data:
            review = data["reviews"].pop(key, None)
            if approved:
                data["approved"][key] = at
            else:
                data["approved"].pop(key, None)
        return review if isinstance(review, dict) else None
