"""linking: trailers, subject ids, configurable patterns, the note text."""

from __future__ import annotations

from pathlib import Path

import pytest

from tmxd.commits import linking
from tmxd.errors import InputError


def links(subject: str, body: str = "") -> linking.Links:
    message = subject + ("\n\n" + body if body else "")
    return linking.find_links(subject, message)


def test_trailers_and_subject_ids() -> None:
    got = links(
        "Fix parser [5.2]", "Details here.\n\nTask: 7, 8.1\nCloses-Task: 9\nFixes-Task: #10"
    )
    assert got.tasks == ("7", "8.1", "9", "10", "5.2")
    assert got.closes == ("9", "10")
    assert got.invalid == ()


def test_task_prefix_in_brackets_and_case() -> None:
    assert links("[Task 3] and [task 4.1] and [x]").tasks == ("3", "4.1")


def test_trailer_outside_the_last_paragraph_is_prose() -> None:
    assert links("subject", "Task: 5 was hard\n\nSigned-off-by: A <a@b>").tasks == ()
    assert links("Task: 5").tasks == ()  # a subject is not a trailer


def test_invalid_ids_are_reported_not_invented() -> None:
    got = links("s", "Task: foo, 5")
    assert got.tasks == ("5",) and got.invalid == ("foo",)


def test_repeats_are_collapsed() -> None:
    assert links("[5] again [5]", "Task: 5\nCloses-Task: 5").tasks == ("5",)


def test_link_words_from_elsewhere_are_not_links_but_are_named() -> None:
    """`Closes: 10` (GitHub's keyword) may close an issue, so it links nothing; when its
    value looks like a task id, the trailer tmxd reads instead is named."""
    got = links("s", "Body.\n\nCloses: 10\nFixes: #5.2, 7\nTask-Id: 4\nResolves: the crash")
    assert (got.tasks, got.closes) == ((), ())
    assert [(n.written, n.meant) for n in got.near] == [
        ("Closes: 10", "Closes-Task: 10"),
        ("Fixes: #5.2, 7", "Fixes-Task: 5.2, 7"),
        ("Task-Id: 4", "Task: 4"),
    ]
    assert links("s", "Body.\n\nCloses-Task: 3\nSigned-off-by: A <a@b>").near == ()
    custom = linking.compile_config(linking.LinkConfig(close_trailers=["Done"]))
    near = linking.find_links("s", "Body.\n\nFixes: 8", custom).near
    assert [n.meant for n in near] == ["Done: 8"]


def test_configured_patterns(tmp_path: Path) -> None:
    cfg = tmp_path / ".taskmaster" / "tmxd.toml"
    cfg.parent.mkdir()
    cfg.write_text(
        '[links]\ntask_trailers = ["Refs"]\nclose_trailers = ["Done"]\n'
        'subject_patterns = ["^T(\\\\d+):"]\ninfer_in_progress = false\n'
    )
    matcher = linking.load_matcher(tmp_path)
    got = linking.find_links(
        "T12: thing [3]", "T12: thing [3]\n\nRefs: 4\nDone: 5\nTask: 6", matcher
    )
    assert got.tasks == ("4", "5", "12") and got.closes == ("5",)
    assert matcher.infer_in_progress is False
    assert linking.DEFAULT_MATCHER.infer_in_progress is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('subject_patterns = ["[unclosed"]', "not a valid regular expression"),
        ('subject_patterns = ["no group"]', "needs a group"),
        ('infer_in_progress = "always"', "infer_in_progress = 'always' is not a valid bool"),
        ('link_unnamed = "sometimes"', r"links.link_unnamed = 'sometimes' \(now links.infer_in"),
        ("colour = 1", "unknown key links.colour"),
    ],
)
def test_bad_config_is_an_input_error(tmp_path: Path, body: str, message: str) -> None:
    cfg = tmp_path / ".taskmaster" / "tmxd.toml"
    cfg.parent.mkdir()
    cfg.write_text("[links]\n" + body + "\n")
    with pytest.raises(InputError, match=message) as info:
        linking.load_matcher(tmp_path)
    assert str(cfg) in info.value.message


def test_note_text_format() -> None:
    assert (
        linking.note_text("Add `x` $(y)", "abc1234", 3, 10, 2)
        == "Committed changes: Add `x` $(y) (abc1234) — 3 files, +10/-2"
    )


@pytest.mark.parametrize(("files", "count"), [(0, "0 files"), (1, "1 file"), (2, "2 files")])
def test_note_text_counts_files_in_english(files: int, count: str) -> None:
    assert linking.note_text("s", "abc1234", files, 1, 0).endswith(f" — {count}, +1/-0")
