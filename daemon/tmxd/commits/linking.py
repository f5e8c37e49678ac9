"""Which tasks a commit names: trailers and bracketed ids in the subject.

``Task: 5.2`` (several trailers, or ``Task: 5.2, 7``) links a commit to
tasks; ``Closes-Task:`` / ``Fixes-Task:`` link and also mark them done; the
subject may carry ``[5.2]`` or ``[task 5.2]``. Keys and subject patterns come
from the ``[links]`` table of ``.taskmaster/tmxd.toml``. This module only
reads text: whether an id exists, and which task a commit naming none goes
to (``infer_in_progress``), is the caller's question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tmxd.config import config_path, option, renamed, section
from tmxd.errors import InputError

ID_RE = re.compile(r"^\d+(?:\.\d+)?$")
DEFAULT_SUBJECT_PATTERNS = [r"(?i)\[(?:task\s+)?(\d+(?:\.\d+)?)\]"]


@dataclass(frozen=True)
class LinkConfig:
    task_trailers: list[str] = option(
        ["Task"], "Trailer keys that link a commit to tasks (`Task: 5.2, 7`)."
    )
    close_trailers: list[str] = option(
        ["Closes-Task", "Fixes-Task"], "Trailer keys that link a commit and set the tasks done."
    )
    subject_patterns: list[str] = option(
        DEFAULT_SUBJECT_PATTERNS,
        "Regular expressions searched in the subject; group 1 is a task id.",
    )
    infer_in_progress: bool = option(
        True,
        "A commit naming no task goes to the one task in progress (a subtask, or a task "
        "without subtasks), when exactly one is; false: such commits are only recorded.",
    )


LINKS = section("links", LinkConfig, "How commits are linked to tasks.")


def _link_unnamed(value: object) -> bool:
    if value == "in-progress":
        return True
    if value == "off":
        return False
    raise ValueError('use infer_in_progress = true or false ("in-progress" or "off" before)')


# Earlier versions asked for inferred links with `link_unnamed = "in-progress"` (off by default).
renamed("links.link_unnamed", "links.infer_in_progress", _link_unnamed)
# Appended to the note of a commit that named no task and went to the one task in progress.
INFERRED_MARK = "(linked: the only task in progress)"


@dataclass(frozen=True)
class Links:
    """Ids a commit names, in the order they appear, without repeats."""

    tasks: tuple[str, ...]  # every id named (closed ones included)
    closes: tuple[str, ...]  # ids to set done
    invalid: tuple[str, ...]  # values under a task trailer that are not ids
    near: tuple[NearMiss, ...] = ()  # trailers that look like a link but are not read as one


@dataclass(frozen=True)
class NearMiss:
    """A trailer written as a task link that tmxd does not read (``Closes: 10``), and the
    one it does read (``Closes-Task: 10``)."""

    written: str
    meant: str


# Trailer keys people use for a link elsewhere (GitHub's closing keywords, Task-Id): not
# read, since they may name an issue, but worth a word when the value looks like a task id.
_NEAR_CLOSE = frozenset(
    {"close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved"}
)
_NEAR_TASK = frozenset({"task-id", "taskid", "task-ids", "tasks"})


@dataclass(frozen=True)
class Matcher:
    task_keys: frozenset[str]
    close_keys: frozenset[str]
    subject_res: tuple[re.Pattern[str], ...]
    infer_in_progress: bool


def load_matcher(project_root: Path | None) -> Matcher:
    """The project's ``[links]`` settings, checked (bad regexes are input errors)."""
    return compile_config(LINKS.load(project_root), project_root)


def compile_config(cfg: LinkConfig, project_root: Path | None = None) -> Matcher:
    where = str(config_path(project_root)) if project_root else "[links]"
    res: list[re.Pattern[str]] = []
    for pattern in cfg.subject_patterns:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise InputError(
                f"{where}: links.subject_patterns: {pattern!r} is not a valid regular "
                f"expression ({exc}); fix it or remove it"
            ) from exc
        if compiled.groups < 1:
            raise InputError(
                f"{where}: links.subject_patterns: {pattern!r} needs a group around the id, "
                r"e.g. \[(\d+(?:\.\d+)?)\]"
            )
        res.append(compiled)
    return Matcher(
        task_keys=frozenset(k.lower() for k in cfg.task_trailers),
        close_keys=frozenset(k.lower() for k in cfg.close_trailers),
        subject_res=tuple(res),
        infer_in_progress=cfg.infer_in_progress,
    )


DEFAULT_MATCHER = compile_config(LinkConfig())
_TRAILER_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*(.*)$")


def trailers(message: str) -> list[tuple[str, str]]:
    """``(key, value)`` pairs of the message's trailer block (its last paragraph).

    A one-paragraph message has no trailers (its only paragraph is the subject).
    """
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", message.strip("\n")) if p.strip()]
    if len(paragraphs) < 2:
        return []
    found: list[tuple[str, str]] = []
    for line in paragraphs[-1].splitlines():
        match = _TRAILER_RE.match(line.strip())
        if match:
            found.append((match.group(1), match.group(2).strip()))
    return found


def find_links(subject: str, message: str, matcher: Matcher = DEFAULT_MATCHER) -> Links:
    named: list[str] = []
    closes: list[str] = []
    invalid: list[str] = []

    def add(target: list[str], task_id: str) -> None:
        if task_id not in target:
            target.append(task_id)

    near: list[NearMiss] = []
    for key, value in trailers(message):
        low = key.lower()
        if low not in matcher.task_keys and low not in matcher.close_keys:
            meant = _meant(low, value, matcher)
            if meant is not None:
                near.append(NearMiss(f"{key}: {value}", meant))
            continue
        for token in re.split(r"[\s,;]+", value):
            token = token.strip().lstrip("#")
            if not token:
                continue
            if not ID_RE.match(token):
                add(invalid, token)
                continue
            add(named, token)
            if low in matcher.close_keys:
                add(closes, token)
    for pattern in matcher.subject_res:
        for match in pattern.finditer(subject):
            token = (match.group(1) or "").strip()
            if ID_RE.match(token):
                add(named, token)
    return Links(tuple(named), tuple(closes), tuple(invalid), tuple(near))


def _meant(key: str, value: str, matcher: Matcher) -> str | None:
    """The trailer tmxd reads for a near miss ``key: value``; None when it is not one."""
    ids = [t for t in (t.lstrip("#") for t in re.split(r"[\s,;]+", value)) if ID_RE.match(t)]
    if not ids:
        return None
    if key in _NEAR_CLOSE:
        keys = sorted(matcher.close_keys, key=lambda k: (not k.startswith(key[:3]), k))
    elif key in _NEAR_TASK:
        keys = sorted(matcher.task_keys)
    else:
        return None
    if not keys:
        return None
    name = "-".join(part.capitalize() for part in keys[0].split("-"))
    return f"{name}: {', '.join(ids)}"


def note_text(
    subject: str,
    short_sha: str,
    files: int,
    insertions: int,
    deletions: int,
    *,
    inferred: bool = False,
) -> str:
    """The update-subtask note for one commit (``… — 1 file, +A/-D`` or ``… — N files,
    …``); an ``inferred`` link says so at its end."""
    count = "1 file" if files == 1 else f"{files} files"
    text = f"Committed changes: {subject} ({short_sha}) — {count}, +{insertions}/-{deletions}"
    return f"{text} {INFERRED_MARK}" if inferred else text


def is_inferred(note: str) -> bool:
    """Whether ``note`` went to its task because it was the only one in progress."""
    return note.endswith(INFERRED_MARK)
