"""Turn what the git hooks spooled into task notes, status changes and metrics.

:func:`sync_project` drains one repository's spool exactly once:

- post-commit: the commit's details come from git; every task it names (see
  :mod:`tmxd.commits.linking`) gets the note ``Committed changes: <subject> (<sha7>) —
  N files, +A/-D`` through the task store; ``Closes-Task:``/``Fixes-Task:``
  also set it done (with the parent cascade). Unknown ids are reported. A commit
  naming no task goes to the one leaf task in progress, if exactly one is
  (``[links] infer_in_progress``), its note ending ``(linked: the only task in
  progress)``; otherwise it is counted as unlinked (``tmxd hooks status``).
  Never inferred: a commit changing only Task Master's files (committing the
  notes themselves); a merge commit is never linked at all (below).
- post-rewrite (amend, rebase): the note of the old commit is rewritten to the
  new one instead of adding a second note (an inferred note stays inferred, and
  a rewrite never infers anew). A rebase's post-commits and the post-rewrite
  after them are merged, in one batch or across several. Git maps a commit a
  rebase dropped (its changes were already there) to the commit that was HEAD
  then: when that commit was not made from the old one, or does not name the
  task, the note stays on the old sha, marked (see :func:`made_from`). An amend
  naming other tasks than the note's leaves the note there too, marked.
- post-checkout / post-merge: recorded as events; tasks.json is not touched. A
  merge commit is recorded without a note however it was made (a conflicted
  merge finished with ``git commit`` runs post-commit): neither inferred nor
  linked by the ids in its message.

The processed commits (``<git common dir>/tmxd/ledger.jsonl``, keyed
by sha) makes a commit count once however often its line is read; a spool
line is acknowledged only after its effect is on disk, and a note already
present in tasks.json is never appended twice (a crash between the two).
Every line processed is a ``hook_runs`` row (the hook, its commit, whether the
commit named a task); rows keyed by the line itself, so a line read again after
a crash is recorded once.

Status changes (``Closes-Task``) go to ``record_status`` when the caller gives
one: :meth:`tmxd.history.observe.Attribution.record` records them and advances
the snapshot ledger in one step, so a ``kill -9`` mid-pass never records a
change twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tmxd import git, paths
from tmxd.commits import hooks, linking, spool
from tmxd.errors import TmxdError
from tmxd.fsutil import append_durably, remove_stale_temps
from tmxd.taskmaster import ops
from tmxd.taskmaster.project import Project
from tmxd.taskmaster.store import TaskStore

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder
    from tmxd.taskmaster.document import Task, TasksFile

LEDGER_NAME = "ledger.jsonl"
SOURCE = "commit"
MALFORMED = "malformed"  # the hook of a spool line that does not parse

#: Records status changes a sync made: ``(tag, changes)``.
RecordStatus = Callable[[str, Sequence[ops.StatusChange]], None]


@dataclass(frozen=True)
class NoteAdded:
    task_id: str
    sha: str
    inferred: bool = False  # the commit named no task: it went to the only one in progress


@dataclass(frozen=True)
class Unlinked:
    """A commit that named no task while not exactly one task was in progress."""

    sha: str
    in_progress: int  # leaf tasks in progress then: 0, or 2 and more


class Applied(NamedTuple):
    """What `_Run._apply_links` did for one commit."""

    notes: dict[str, str]  # by task id
    closes: list[str]  # ids set done
    unlinked: int | None  # naming no task: how many were in progress, when not exactly one
    tag: str  # the tag the ids are in (the active one)
    near: tuple[linking.NearMiss, ...]  # trailers that look like links but are not read


@dataclass(frozen=True)
class MisreadTrailer:
    """A trailer of a new commit that looks like a task link but is not read as one."""

    sha: str
    written: str  # "Closes: 10"
    meant: str  # "Closes-Task: 10"


@dataclass(frozen=True)
class NoteMoved:
    task_id: str
    old_sha: str
    new_sha: str


@dataclass(frozen=True)
class NoteKept:
    """A note left on its commit and marked: git mapped the commit to ``new_sha``, which
    is not a rewrite of it for this task (``reason``: ``dropped`` — it was made before
    the rewrite; ``unnamed`` — it does not name the task)."""

    task_id: str
    old_sha: str
    new_sha: str
    reason: str

    @property
    def why(self) -> str:
        if self.reason == "dropped":
            return f"dropped by the rewrite; {self.new_sha[:7]} already had its changes"
        return f"rewritten into {self.new_sha[:7]}, which does not name the task"


@dataclass(frozen=True)
class Closed:
    task_id: str
    old_status: str
    new_status: str
    sha: str


@dataclass(frozen=True)
class UnknownId:
    task_id: str
    sha: str


@dataclass
class SyncResult:
    """What one :func:`sync_project` call did."""

    commits: list[str] = field(default_factory=list)  # shas linked or recorded now
    skipped: list[str] = field(default_factory=list)  # already processed earlier
    notes_added: list[NoteAdded] = field(default_factory=list)
    notes_moved: list[NoteMoved] = field(default_factory=list)
    notes_kept: list[NoteKept] = field(default_factory=list)  # dropped by a rewrite
    closed: list[Closed] = field(default_factory=list)  # includes parents that cascaded
    unknown_ids: list[UnknownId] = field(default_factory=list)
    unlinked: list[Unlinked] = field(default_factory=list)
    misread: list[MisreadTrailer] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # checkout, merge, rewrite
    errors: list[str] = field(default_factory=list)  # malformed lines, vanished commits
    lines: int = 0  # spool lines consumed

    @property
    def changed_tasks(self) -> bool:
        return bool(self.notes_added or self.notes_moved or self.notes_kept or self.closed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProcessedCommit:
    sha: str
    notes: dict[str, str] = field(default_factory=dict)  # task id -> note text
    closed: list[str] = field(default_factory=list)
    moved_to: str | None = None  # rewritten (amend/rebase) into this sha
    # named no task, and this many leaf tasks were in progress (0, or 2 and more)
    unlinked: int | None = None


class ProcessedCommits:
    """The commits already linked (``ledger.jsonl``): one JSON object per line, later
    lines win. A commit found here is never noted twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, ProcessedCommit] = {}
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        for line in text.splitlines():
            try:
                raw = json.loads(line)
                entry = ProcessedCommit(
                    sha=str(raw["sha"]),
                    notes={str(k): str(v) for k, v in raw.get("notes", {}).items()},
                    closed=[str(i) for i in raw.get("closed", [])],
                    moved_to=raw.get("moved_to"),
                    unlinked=_opt_int(raw.get("unlinked")),
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a torn last line after a crash: that commit is simply redone
            self.entries[entry.sha] = entry

    def __contains__(self, sha: object) -> bool:
        return sha in self.entries

    def get(self, sha: str) -> ProcessedCommit | None:
        return self.entries.get(sha)

    def unlinked(self) -> list[ProcessedCommit]:
        """Commits (as they are now, not rewritten away) that went to no task although
        tmxd would have inferred one: none or several tasks were in progress."""
        return [e for e in self.entries.values() if e.unlinked is not None and e.moved_to is None]

    def record(self, entry: ProcessedCommit) -> None:
        """Append ``entry`` durably (fsync) before the spool line is acknowledged."""
        self.entries[entry.sha] = entry
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        append_durably(self.path, line.encode("utf-8"))


def sync_project(
    project: Project,
    recorder: Recorder | None = None,
    *,
    tag: str | None = None,
    record_status: RecordStatus | None = None,
) -> SyncResult:
    """Drain the spool of ``project``'s repository; see the module docstring.

    Raises InputError when the project is not in a git repository or its
    tasks.json/config is invalid (the unprocessed lines stay in the spool).
    """
    repo = git.repo_paths(project.root)
    queue = spool.Spool(repo.common_dir)
    remove_leftovers(project, queue.dir)
    run = _Run(project, repo, recorder, tag, record_status)
    try:
        _drain(queue, run)
    except OSError as exc:
        raise TmxdError(
            f"{queue.dir}: cannot process the hook spool: {exc.strerror or exc}; "
            "check that the folder and its files are yours and writable"
        ) from exc
    refresh_suggestion(project, repo.common_dir, tag)
    return run.result


def remove_leftovers(project: Project, spool_dir: Path) -> list[Path]:
    """Remove the temp files killed tmxd processes left beside the files sync writes:
    tasks.json (and its target when it is a symlink), the spool, the state dir."""
    folders = {project.tasks_path.parent, spool_dir}
    with contextlib.suppress(OSError, RuntimeError):  # a symlink loop: nothing written there
        folders.add(project.tasks_path.resolve().parent)
    removed = [p for folder in sorted(folders) for p in remove_stale_temps(folder)]
    return removed + remove_stale_temps(paths.state_dir(), depth=1)


def _drain(queue: spool.Spool, run: _Run) -> None:
    with queue.lock():
        entries = queue.entries()
        run.processed = ProcessedCommits(queue.dir / LEDGER_NAME)
        for e in entries:
            if e.record is not None and e.record.hook == "post-rewrite":
                run.rewrites_seen(e.record)
        for entry in entries:
            run.key = _entry_key(queue, entry)
            errors = len(run.result.errors)
            if entry.record is not None:
                run.handle(entry.record)
                run.hook_run(entry.record, ok=len(run.result.errors) == errors)
            elif entry.error:
                run.result.errors.append(f"{entry.batch.name}: {entry.error}")
                run.malformed(entry.error)
            queue.ack(entry)
            run.result.lines += 1
        queue.cleanup()


def _entry_key(queue: spool.Spool, entry: spool.Entry) -> str:
    """A spool line's identity (its repository, batch and place): the key of what it records."""
    where = f"{queue.common_dir}\0{entry.batch.name}\0{entry.end}"
    return "spool:" + hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def watch_dir(project_root: Path) -> Path:
    """The folder whose changes mean work for :func:`sync_project` (the daemon watches it).

    Hooks append to ``spool`` there; a late line can also land in a ``batch-*``
    file, so watch the whole folder. It is created if missing.
    """
    queue = spool.Spool(git.repo_paths(project_root).common_dir)
    queue.ensure()
    return queue.dir


def unlinked_commits(project_root: Path) -> list[ProcessedCommit]:
    """The repository's commits that named no task and found no single task in progress."""
    queue = spool.Spool(git.repo_paths(project_root).common_dir)
    return ProcessedCommits(queue.dir / LEDGER_NAME).unlinked()


def refresh_suggestion(project: Project, common_dir: Path, tag: str | None = None) -> str | None:
    """Keep the prepare-commit-msg hook's suggestion (the one task in progress) current."""
    try:
        doc = TaskStore(project).read()
        active = project.active_tag(tag, doc.tag_names())
    except TmxdError:
        return None
    leaves = ops.leaves_in_progress(doc, active)
    task_id = leaves[0] if len(leaves) == 1 else None
    hooks.write_suggestion(common_dir, task_id, project.tasks_path.resolve())
    return task_id


class _Run:
    def __init__(
        self,
        project: Project,
        repo: git.RepoPaths,
        recorder: Recorder | None,
        tag: str | None,
        record_status: RecordStatus | None = None,
    ) -> None:
        self.project = project
        self.root = project.root
        self.repo = repo
        self.recorder = recorder
        self.tag = tag
        self.record_status = record_status
        self.key = ""  # the spool line being handled (see _entry_key)
        self.linked: bool | None = None  # whether its commit went to a task
        self.commit_at: datetime | None = None  # and when it was made
        self.store = TaskStore(project)
        self.matcher = linking.load_matcher(project.root)
        self.result = SyncResult()
        self.processed: ProcessedCommits = ProcessedCommits(Path(os.devnull))
        self.rewritten_from: dict[str, str] = {}  # new sha -> the last old one git mapped to it
        self.rewrites: dict[str, dict[str, str]] = {}  # new sha -> {old sha: amend/rebase}

    def rewrites_seen(self, rec: spool.SpoolRecord) -> None:
        """Learn a post-rewrite line's pairs before any line is handled: the replayed
        post-commits come first in the spool."""
        kind = rec.args[0] if rec.args else "rewrite"
        for old, new in rec.rewrites:
            self.rewritten_from[new] = old
            pairs = self.rewrites.setdefault(new, {})
            pairs.setdefault(old, kind)

    # -- dispatch ------------------------------------------------------------------

    def handle(self, rec: spool.SpoolRecord) -> None:
        self.linked, self.commit_at = None, None
        if rec.hook == "post-commit":
            self.on_commit(rec)
        elif rec.hook == "post-rewrite":
            self.on_rewrite(rec)
        elif rec.hook == "post-checkout":
            self.on_checkout(rec)
        elif rec.hook == "post-merge":
            self.on_merge(rec)

    def on_commit(self, rec: spool.SpoolRecord) -> None:
        sha = rec.head
        if sha is None:
            self.result.errors.append("post-commit line without a commit sha")
            return
        old = self.rewritten_from.get(sha)
        if old is not None and self._live(old):
            self.move(old, sha, rec.branch)
        elif sha in self.processed:
            self.result.skipped.append(sha)
            entry = self.processed.get(sha)
            self.linked = bool(entry and entry.notes)
        else:
            self.link(sha, rec.branch)

    def on_rewrite(self, rec: spool.SpoolRecord) -> None:
        kind = rec.args[0] if rec.args else "rewrite"
        self.event(
            "rewrite",
            {"operation": kind, "pairs": [[o, n] for o, n in rec.rewrites], "branch": rec.branch},
            rec.at,
        )
        for old, new in rec.rewrites:
            if self._live(old):
                self.move(old, new, rec.branch)
            elif new not in self.processed:
                self.link(new, rec.branch, infer=False)  # `rebase --apply`: no post-commit ran

    def on_checkout(self, rec: spool.SpoolRecord) -> None:
        args = [*rec.args, "", "", ""]
        self.event(
            "checkout",
            {
                "from": args[0],
                "to": args[1],
                "branch_switch": args[2] == "1",
                "branch": rec.branch,
                "detached": rec.ref == "HEAD",
            },
            rec.at,
        )

    def on_merge(self, rec: spool.SpoolRecord) -> None:
        squash = bool(rec.args) and rec.args[0] == "1"
        self.event("merge", {"head": rec.head, "squash": squash, "branch": rec.branch}, rec.at)
        sha = rec.head
        if sha is None or sha in self.processed or not git.commit_exists(self.root, sha):
            return
        info = git.commit_info(self.root, sha)
        if len(info.parents) < 2:
            return  # a fast-forward: those commits were (or will be) seen one by one
        # A merge commit made by `git merge` is recorded, but tasks.json is not touched
        # (as for one finished with `git commit` after a conflict: see _apply_links).
        self._record_commit(info, rec.branch, [])  # before the ledger entry: see link()
        self.processed.record(ProcessedCommit(sha))

    # -- effects -------------------------------------------------------------------

    def _live(self, sha: str) -> bool:
        entry = self.processed.get(sha)
        return entry is not None and entry.moved_to is None

    def _commit(self, sha: str) -> git.CommitInfo | None:
        if not git.commit_exists(self.root, sha):
            self.result.errors.append(f"commit {sha[:7]} is no longer in the repository")
            return None
        return git.commit_info(self.root, sha)

    def link(self, sha: str, branch: str | None, *, infer: bool = True) -> None:
        """First sight of a commit: notes, Closes-Task, metrics, processed commits."""
        info = self._commit(sha)
        if info is None:
            return
        notes, closed, unlinked, tag, near = self._apply_links(info, skip=set(), infer=infer)
        self.result.misread += [MisreadTrailer(info.sha, n.written, n.meant) for n in near]
        # the metrics row first: a crash before the ledger entry redoes the commit, which
        # records nothing twice; the other way round it would never be recorded
        self._record_commit(info, branch, list(notes), tag)
        self.processed.record(ProcessedCommit(sha, notes, closed, unlinked=unlinked))

    def move(self, old: str, new: str, branch: str | None) -> None:
        """Amend/rebase: rewrite ``old``'s notes to ``new`` instead of adding more.

        An amend always makes the new commit from the old one: a note moves unless the
        new message names tasks and not the note's (the author moved the commit to
        another task). A rebase also maps each commit it dropped (its changes were there
        already) to HEAD: so there a note moves only to a commit the rebase made from
        ``old`` (:func:`made_from`) that names its task; any other stays on ``old``,
        marked. (A reword in ``rebase -i`` is an amend to git, and reported as one.)"""
        entry = self.processed.get(old)
        assert entry is not None
        info = self._commit(new)
        if info is None:
            return
        olds = self.rewrites.get(new) or {old: "rewrite"}
        kind = olds.get(old, "rewrite")
        already = self.processed.get(new)
        moved: dict[str, str] = {}
        kept: dict[str, str] = {}
        tag: str | None = None  # the tag the moved notes are in
        if entry.notes:
            made = kind == "amend" or made_from(
                self._commit_or_none(old), info, olds, self._commit_or_none
            )
            named = linking.find_links(info.subject, info.message, self.matcher).tasks
            with self.store.edit() as doc:
                active = tag = ops.resolve_tag(self.store, doc, self.tag)
                for task_id, old_note in entry.notes.items():
                    # an inferred note stays inferred while the new commit names no task
                    inferred = linking.is_inferred(old_note) and not named
                    found = ops.locate(doc, task_id, active)
                    if kind == "amend":  # unless it now names other tasks only
                        follows = not named or task_id in named
                    else:  # made from it, and naming the task (or, like it, none)
                        follows = made and (task_id in named or inferred)
                    if follows:
                        new_note = self._note(info, inferred=inferred)
                        if found is not None and _replace_note(found[1], old_note, new_note):
                            moved[task_id] = new_note
                            self.result.notes_moved.append(NoteMoved(task_id, old, new))
                        continue
                    reason = "unnamed" if made else "dropped"
                    marked = old_note + _mark(reason, kind, info.short)
                    kept[task_id] = marked
                    if found is not None and _mark_note(found[1], old_note, marked):
                        self.result.notes_kept.append(NoteKept(task_id, old, new, reason))
                doc.invalidate()
        if already is not None:
            merged = ProcessedCommit(
                new, {**already.notes, **moved}, already.closed, unlinked=already.unlinked
            )
            self.processed.record(merged)
            self.result.skipped.append(new)
        else:
            # a rewrite keeps the links the commit had: it is never inferred anew
            notes, closed, _, applied, _ = self._apply_links(info, skip=set(moved), infer=False)
            unlinked = entry.unlinked if not moved and not notes else None
            self._record_commit(info, branch, [*moved, *notes], tag or applied)
            self.processed.record(ProcessedCommit(new, {**moved, **notes}, closed, None, unlinked))
        self.processed.record(
            ProcessedCommit(old, {**entry.notes, **kept}, entry.closed, new, entry.unlinked)
        )  # after the new entry: a crash in between only redoes an idempotent move
        if self.recorder is not None:
            self.recorder.commit_rewritten(self.root, old, new)  # it is not history any more

    def _commit_or_none(self, sha: str) -> git.CommitInfo | None:
        return git.commit_info(self.root, sha) if git.commit_exists(self.root, sha) else None

    def _note(self, info: git.CommitInfo, *, inferred: bool = False) -> str:
        return linking.note_text(
            info.subject,
            info.short,
            info.files,
            info.insertions,
            info.deletions,
            inferred=inferred,
        )

    def _apply_links(self, info: git.CommitInfo, skip: set[str], *, infer: bool) -> Applied:
        """Notes and closes for the tasks ``info`` names, or for the one in progress.

        A merge commit (two parents or more) gets none, however it was made and whatever
        its message says: its changes are its branches' commits, which carry their own
        links (a note on it would count them twice; the autopilot's merges name their
        task to be recognised, not to be noted again)."""
        links = linking.find_links(info.subject, info.message, self.matcher)
        doc = self.store.read()
        active = self.project.active_tag(self.tag, doc.tag_names())
        if len(info.parents) > 1:
            return Applied({}, [], None, active, ())
        named = list(links.tasks)
        inferred = False
        unlinked: int | None = None
        if (
            infer
            and not named
            and not links.invalid
            and self.matcher.infer_in_progress
            and not self._only_taskmaster_files(info)
        ):
            leaves = self._in_progress_at(doc, active, info.committed_at)
            if len(leaves) == 1:
                named, inferred = leaves, True
            else:
                unlinked = len(leaves)
                self.result.unlinked.append(Unlinked(info.sha, unlinked))
        note = self._note(info, inferred=inferred)
        notes: dict[str, str] = {}
        for task_id in named:
            task = doc.find(task_id, active)
            if task is None:
                self._unknown(task_id, info.sha)
                continue
            if task_id not in skip and note not in _details_text(task):
                ops.append_note(self.store, task_id, note, active)
                self.result.notes_added.append(NoteAdded(task_id, info.sha, inferred=inferred))
            notes[task_id] = note
        for bad in links.invalid:
            self._unknown(bad, info.sha)
        closes = [i for i in links.closes if i in notes]
        if closes:
            changes = [c for c in ops.set_status(self.store, closes, "done", active) if c.changed]
            self.result.closed += [
                Closed(c.task_id, c.old_status, c.new_status, info.sha) for c in changes
            ]
            if self.record_status is not None:
                self.record_status(active, changes)
            elif self.recorder is not None:
                for change in changes:
                    self.recorder.transition(
                        self.root,
                        change.task_id,
                        change.old_status,
                        change.new_status,
                        SOURCE,
                        tag=active,
                        title=_title(doc, change.task_id, active),
                    )
        return Applied(notes, closes, unlinked, active, links.near)

    def _only_taskmaster_files(self, info: git.CommitInfo) -> bool:
        """Whether ``info`` changes Task Master's files only (its ``.taskmaster/`` folder,
        its tasks file): committing tmxd's own notes, which an inferred note would make
        uncommitted again. At least one file: an empty commit is not one."""
        top = self.repo.toplevel
        if top is None:
            return False
        try:
            base = self.root.resolve().relative_to(top.resolve())
        except (OSError, ValueError):
            return False
        files = {(base / self.project.tasks_path.relative_to(self.root)).as_posix()}
        folders: set[str] = set()
        if self.project.taskmaster_dir is not None:
            folders.add((base / self.project.taskmaster_dir.relative_to(self.root)).as_posix())
        return bool(info.paths) and all(
            p in files or any(p.startswith(f + "/") for f in folders) for p in info.paths
        )

    def _in_progress_at(self, doc: TasksFile, tag: str, moment: datetime) -> list[str]:
        """The leaf tasks in progress when the commit was made (``moment``, to the second).

        From the recorded transitions: a task in progress now counts unless it entered
        in-progress after the commit's second, and a task that has left in-progress
        since counts too. A change within the commit's second counts either way, so a
        task finished right after the commit still gets it and one started later (a
        spooled commit linked only now) does not. Without metrics: the tasks of now.
        """
        leaves = ops.leaves_in_progress(doc, tag)
        if self.recorder is None:
            return leaves
        try:
            at_commit = self.recorder.statuses_then(self.root, tag, moment)
            after_it = self.recorder.statuses_then(self.root, tag, moment + timedelta(seconds=1))
        except TmxdError:
            return leaves  # the metrics database is unusable: it is reported where written
        kept = [leaf for leaf in leaves if after_it.get(leaf, "in-progress") == "in-progress"]
        left = {task for task, old in at_commit.items() if old == "in-progress"}
        known = {leaf.id for task in doc.tasks(tag) for leaf in (task.subtasks or [task])}
        return kept + sorted((left & known) - set(kept))

    def _unknown(self, task_id: str, sha: str) -> None:
        self.result.unknown_ids.append(UnknownId(task_id, sha))
        if self.recorder is not None:
            self.recorder.event(
                self.root,
                "unknown_task_id",
                {"task_id": task_id, "sha": sha},
                key=f"{self.key}:unknown:{task_id}:{sha}",
            )

    def _record_commit(
        self, info: git.CommitInfo, branch: str | None, task_ids: list[str], tag: str | None = None
    ) -> None:
        self.result.commits.append(info.sha)
        self.linked, self.commit_at = bool(task_ids), info.committed_at
        if self.recorder is None:
            return
        # the kinds of commit never linked by design, so the report can leave them out
        merge = len(info.parents) > 1
        self.recorder.commit(
            self.root,
            info.sha,
            info.subject,
            info.author,
            info.committed_at,
            info.files,
            info.insertions,
            info.deletions,
            branch,
            task_ids,
            tag=tag if task_ids else None,
            merge=merge,
            taskmaster_only=not merge and self._only_taskmaster_files(info),
        )

    def event(self, kind: str, data: dict[str, Any], at: datetime | None) -> None:
        self.result.events.append({"kind": kind, **data})
        if self.recorder is not None:
            self.recorder.event(self.root, kind, data, at=at, key=f"{self.key}:{kind}")

    def hook_run(self, rec: spool.SpoolRecord, *, ok: bool) -> None:
        """The spool line's ``hook_runs`` row: git hooks do not time themselves (no clock in
        POSIX sh without a process), so the row has no duration."""
        if self.recorder is not None:
            self.recorder.hook_run(
                self.root,
                rec.hook,
                ok,
                at=rec.at or self.commit_at,
                sha=rec.head,
                linked=self.linked,
                key=self.key,
            )

    def malformed(self, error: str) -> None:
        if self.recorder is not None:
            self.recorder.hook_run(self.root, MALFORMED, False, detail=error, key=self.key)


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def made_from(
    old: git.CommitInfo | None,
    new: git.CommitInfo,
    olds: Iterable[str],
    lookup: Callable[[str], git.CommitInfo | None],
) -> bool:
    """Whether a rebase made ``new`` from ``old`` (or squashed ``old`` into it).

    A rebase maps each commit it replays to the one it made (same author, and the same
    author date or subject: git keeps both unless told otherwise), each one squashed or
    fixed up into it to that same commit — and each one it dropped to whatever HEAD
    was: the commit it was rebased onto, made before the rewrite, or the last one it
    made. So ``new`` was made by the rewrite when one of the commits mapped to it
    (``olds``) is authored as it is. With ``old`` gone from the repository there is
    nothing to tell: True.
    """
    if old is None:
        return True
    candidates = [old, *(lookup(sha) for sha in olds if sha != old.sha)]
    return any(c is not None and _same_work(c, new) for c in candidates)


def _same_work(old: git.CommitInfo, new: git.CommitInfo) -> bool:
    return old.author == new.author and (
        old.authored_at == new.authored_at or old.subject == new.subject
    )


def _mark(reason: str, kind: str, new_short: str) -> str:
    if reason == "dropped":
        return f" — dropped by {kind}: {new_short} already had its changes"
    return f" — rewritten by {kind} into {new_short}, which does not name this task"


def _mark_note(raw: dict[str, Any], old_note: str, marked: str) -> bool:
    """Mark ``old_note`` in a raw task's details (once). True when the details changed."""
    details = raw.get("details")
    if isinstance(details, list):
        items = [str(d) for d in details]
        if any(marked in d for d in items) or not any(old_note in d for d in items):
            return False
        raw["details"] = [d.replace(old_note, marked, 1) for d in items]
        return True
    if not isinstance(details, str) or marked in details or old_note not in details:
        return False
    raw["details"] = details.replace(old_note, marked, 1)
    return True


def _title(doc: TasksFile, task_id: str, tag: str) -> str | None:
    task: Task | None = doc.find(task_id, tag)
    return task.title if task is not None else None


def _details_text(task: Task) -> str:
    details: Any = task.details
    if isinstance(details, list):
        return "\n".join(str(d) for d in details)
    return str(details or "")


def _block_re(note: str) -> re.Pattern[str]:
    return re.compile(
        r"\n?<info added on ([^>\n]+)>\n" + re.escape(note) + r"\n</info added on \1>"
    )


def _replace_note(raw: dict[str, Any], old_note: str, new_note: str) -> bool:
    """Rewrite ``old_note`` to ``new_note`` in a raw task's details; drop it if the new
    note is already there (a squash). True when the details changed."""
    details = raw.get("details")
    if isinstance(details, list):
        items = [str(d) for d in details]
        if not any(old_note in d for d in items):
            return False
        if any(new_note in d for d in items):
            raw["details"] = [d for d in items if old_note not in d]
        else:
            raw["details"] = [d.replace(old_note, new_note) for d in items]
        return True
    if not isinstance(details, str) or old_note not in details or old_note == new_note:
        return False
    if new_note in details:
        raw["details"] = _block_re(old_note).sub("", details, count=1)
    else:
        raw["details"] = details.replace(old_note, new_note, 1)
    return bool(raw["details"] != details)
