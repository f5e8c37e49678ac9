"""Event commands: the argv template, its checks, running it, failures logged once."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from helpers import wait_until
from notify_support import notify_toml, received, recorder_command
from tmxd.daemon import notify
from tmxd.daemon.notify import Failures, Notifier, NotifyConfig, argv_for, run_notice
from tmxd.errors import InputError

HOSTILE = "Fix \"quotes\" 'too' $(touch pwned) `id`; rm -rf / && echo\nsecond line\0end"


def _project(tmp_path: Path, config: str = "") -> Path:
    root = tmp_path / "proj"
    (root / ".taskmaster").mkdir(parents=True)
    if config:
        (root / ".taskmaster" / "tmxd.toml").write_text(config)
    return root


def test_each_placeholder_is_replaced_inside_its_own_argument(tmp_path: Path) -> None:
    notice = notify.task_ready(tmp_path / "calc", "7", HOSTILE)
    template = ["notify-send", "tmxd: {event}", "{title}", "[{task}] {message}", "{x}"]
    argv = argv_for(template, notice)
    clean = HOSTILE.replace("\0", "")
    assert argv == [
        "notify-send",
        "tmxd: task-ready",
        clean,
        "[7] " + notice.message,
        "{x}",
    ]
    one_line = " ".join(HOSTILE.replace("\0", " ").split())
    assert notice.message == "calc: task 7 is ready: " + one_line
    assert "\n" not in notice.message and "\0" not in notice.message


def test_messages_of_every_event(tmp_path: Path) -> None:
    root = tmp_path / "calc"
    tagged = notify.task_ready(root, "3", "T", "feature")
    assert tagged.message == "calc: task 3 [feature] is ready: T"
    stale = notify.task_stale(root, "5", "Parse", 30.2)
    assert stale.message == (
        "calc: task 5 is stale: in progress for 30 h, no commit since it started: Parse"
    )
    assert notify.autopilot_done(root, "4", "X").message == "calc: autopilot finished task 4: X"
    blocked = notify.autopilot_blocked(root, "4", "X", "blocked", "tests failed\nat line 3")
    assert blocked.message == (
        "calc: autopilot could not finish task 4, now blocked (tests failed at line 3): X"
    )
    review = notify.autopilot_blocked(root, "4", "X", "review", "critical: deploy" + "!" * 300)
    assert review.message.startswith("calc: task 4 waits for review (critical: deploy!!!")
    assert len(review.message) < 250 and review.event == "autopilot-blocked"
    breaker = notify.breaker_open(root, 3, "no agent")
    assert breaker.message == "calc: autopilot stopped after 3 failed run(s) in a row (no agent)"
    assert {n.event for n in (stale, blocked, breaker)} <= set(notify.EVENTS)


def test_the_autopilots_event_rows_become_notices(tmp_path: Path) -> None:
    root = tmp_path / "calc"
    row = {"task_id": "4", "tag": "master", "title": "X", "status": "", "detail": "ok"}
    done = notify.from_autopilot(root, "autopilot.done", {**row, "status": "done"})
    assert done is not None and (done.event, done.task, done.title) == ("autopilot-done", "4", "X")
    failed = notify.from_autopilot(root, "autopilot.failed", {**row, "status": "pending"})
    assert failed is not None and failed.event == "autopilot-blocked"
    assert "now pending (ok)" in failed.message
    review = notify.from_autopilot(root, "autopilot.review", {**row, "status": "review"})
    assert review is not None and "waits for review" in review.message
    opened = {"from": "closed", "to": "open", "failures": 3, "reason": "agent exited 1"}
    breaker = notify.from_autopilot(root, "autopilot.breaker", opened)
    assert breaker is not None and breaker.event == "breaker-open" and breaker.task == ""
    closed = {**opened, "from": "half-open", "to": "closed"}
    assert notify.from_autopilot(root, "autopilot.breaker", closed) is None
    assert notify.from_autopilot(root, "autopilot.started", row) is None


def test_config_defaults_and_checks(tmp_path: Path) -> None:
    assert notify.load(_project(tmp_path)) == NotifyConfig()
    assert NotifyConfig().command == [] and NotifyConfig().on == list(notify.EVENTS)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('on = ["task-done"]', "notify.on: unknown event 'task-done'; events: task-ready"),
        ('command = ["x", "{body}"]', r"unknown placeholder \{body\}; use \{event\}"),
        ('command = "notify-send tmxd {message}"', "notify.command = .* is not a valid list"),
        ("timeout = 0", "notify.timeout must be more than 0"),
    ],
)
def test_bad_config_is_an_input_error(tmp_path: Path, body: str, message: str) -> None:
    root = _project(tmp_path, "[notify]\n" + body + "\n")
    with pytest.raises(InputError, match=message) as info:
        notify.load(root)
    assert str(root / ".taskmaster" / "tmxd.toml") in info.value.message


def test_the_command_gets_hostile_text_as_one_argument_each(tmp_path: Path) -> None:
    command, out = recorder_command(tmp_path)
    root = _project(tmp_path)
    notice = notify.task_ready(root, "7", HOSTILE)
    assert run_notice(NotifyConfig(command=command), notice, Failures())
    clean = HOSTILE.replace("\0", "")
    assert received(out) == [["task-ready", "7", clean, str(root), notice.message]]
    assert not (root / "pwned").exists() and not (tmp_path / "pwned").exists()


def test_only_the_events_asked_for_run(tmp_path: Path) -> None:
    command, out = recorder_command(tmp_path)
    root = _project(tmp_path)
    cfg = NotifyConfig(on=["task-stale"], command=command)
    assert not run_notice(cfg, notify.task_ready(root, "1", "a"), Failures())
    assert run_notice(cfg, notify.task_stale(root, "1", "a", 25), Failures())
    assert [argv[0] for argv in received(out)] == ["task-stale"]
    assert not run_notice(NotifyConfig(), notify.task_stale(root, "1", "a", 25), Failures())


def test_failures_are_logged_once_until_the_command_works_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _project(tmp_path)
    failures = Failures()
    missing = NotifyConfig(command=[str(tmp_path / "no-such-notifier"), "{message}"])
    failing = NotifyConfig(command=[sys.executable, "-c", "import sys; sys.exit('no display')"])
    with caplog.at_level(logging.INFO, logger="tmxd.notify"):
        for _ in range(3):
            assert not run_notice(missing, notify.task_ready(root, "1", "a"), failures)
        for _ in range(2):
            assert not run_notice(failing, notify.task_ready(root, "1", "a"), failures)
        command, _out = recorder_command(tmp_path)
        works = NotifyConfig(command=command)
        assert run_notice(works, notify.task_ready(root, "1", "a"), failures)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "no-such-notifier: command not found" in warnings[0]
    assert "exited with code 1: no display" in warnings[1]
    assert "works again" in caplog.records[-1].getMessage()


def test_a_command_that_hangs_is_stopped_at_its_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _project(tmp_path)
    cfg = NotifyConfig(command=[sys.executable, "-c", "import time; time.sleep(600)"], timeout=0.5)
    with caplog.at_level(logging.WARNING, logger="tmxd.notify"):
        assert not run_notice(cfg, notify.task_ready(root, "1", "a"), Failures())
    assert "timed out" in caplog.text


def test_the_notifier_runs_commands_on_its_thread_in_order(tmp_path: Path) -> None:
    command, out = recorder_command(tmp_path, "{task}")
    root = _project(tmp_path)
    notifier = Notifier()
    try:
        cfg = NotifyConfig(command=command)
        for task in ("1", "2", "3"):
            assert notifier.send(cfg, notify.task_ready(root, task, "t"))
        assert not notifier.send(NotifyConfig(), notify.task_ready(root, "4", "t"))
        # close() gives what is queued a few seconds, then drops it: wait for the three
        wait_until(lambda: notifier.sent == 3, what="the three commands to run")
    finally:
        notifier.close()
    assert received(out) == [["1"], ["2"], ["3"]]
    assert notifier.sent == 3
    assert not notifier.send(NotifyConfig(command=command), notify.task_ready(root, "5", "t"))


def test_closing_stops_a_hanging_command_and_drops_the_rest(tmp_path: Path) -> None:
    command, out = recorder_command(tmp_path, "{task}")
    root = _project(tmp_path)
    hang = NotifyConfig(command=[sys.executable, "-c", "import time; time.sleep(600)"])
    notifier = Notifier()
    notifier.send(hang, notify.task_ready(root, "1", "t"))
    notifier.send(NotifyConfig(command=command), notify.task_ready(root, "2", "t"))
    notifier.close(grace=0.2)  # returns: the hanging command's group was ended
    assert received(out) == []


def test_notify_table_is_written_by_the_helper(tmp_path: Path) -> None:
    command, _ = recorder_command(tmp_path)
    root = _project(tmp_path, notify_toml(command, ["task-ready"]))
    assert notify.load(root) == NotifyConfig(on=["task-ready"], command=command)
