from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tmxd.config import Section, option, render_toml_value
from tmxd.errors import InputError


@dataclass(frozen=True)
class Sample:
    name: str = option("x", "a name")
    limit: int = option(3, "a limit")
    ratio: float = option(0.5, "a ratio")
    words: list[str] = option(["a"], "some words")


SAMPLE: Section[Sample] = Section("sample", Sample, "A sample table.")


def write(root: Path, text: str) -> None:
    (root / ".taskmaster").mkdir(parents=True, exist_ok=True)
    (root / ".taskmaster" / "tmxd.toml").write_text(text)


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert SAMPLE.load(tmp_path) == Sample()


def test_values_are_read_and_ints_accepted_as_floats(tmp_path: Path) -> None:
    write(tmp_path, '[sample]\nname = "y"\nratio = 2\nwords = ["b", "c"]\n')
    cfg = SAMPLE.load(tmp_path)
    assert (cfg.name, cfg.ratio, cfg.words, cfg.limit) == ("y", 2, ["b", "c"], 3)


def test_unknown_key_names_file_and_known_keys(tmp_path: Path) -> None:
    write(tmp_path, "[sample]\nlimt = 4\n")
    with pytest.raises(InputError, match=r"tmxd.toml: unknown key sample.limt; known keys: limit"):
        SAMPLE.load(tmp_path)


def test_wrong_type_is_input_error(tmp_path: Path) -> None:
    write(tmp_path, '[sample]\nlimit = "many"\n')
    with pytest.raises(InputError, match=r"sample\.limit = 'many' is not a valid int"):
        SAMPLE.load(tmp_path)


def test_invalid_toml_is_input_error(tmp_path: Path) -> None:
    write(tmp_path, "[sample\n")
    with pytest.raises(InputError, match="invalid TOML"):
        SAMPLE.load(tmp_path)


def test_defaults_are_not_shared_between_instances() -> None:
    a, b = Sample(), Sample()
    a.words.append("z")
    assert b.words == ["a"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (3, "3"), (0.5, "0.5"), ("é", '"é"'), (["a", 1], '["a", 1]')],
)
def test_render_toml_value(value: object, text: str) -> None:
    assert render_toml_value(value) == text


def test_a_sections_own_check_runs_on_every_load(tmp_path: Path) -> None:
    def positive(cfg: Sample, path: Path) -> None:
        if cfg.limit <= 0:
            raise InputError(f"{path}: sample.limit must be positive")

    checked = Section("sample", Sample, "A sample table.", positive)
    assert checked.load(tmp_path) == Sample()
    write(tmp_path, "[sample]\nlimit = 0\n")
    with pytest.raises(InputError, match=r"tmxd.toml: sample.limit must be positive"):
        checked.load(tmp_path)


def test_a_renamed_key_is_read_under_its_new_name(tmp_path: Path) -> None:
    """An upgrade never makes a working file invalid: old names keep their meaning."""
    from tmxd.commits.linking import LINKS
    from tmxd.config import read_config, renamed_in
    from tmxd.metrics.settings import METRICS, REPORT

    cfg = tmp_path / ".taskmaster" / "tmxd.toml"
    cfg.parent.mkdir()
    cfg.write_text(
        '[links]\nlink_unnamed = "off"\n\n[metrics]\nstale_hours = 3.0\n'
        'daily_report_dir = "notes/reports"\n'
    )
    assert LINKS.load(tmp_path).infer_in_progress is False
    assert REPORT.load(tmp_path).dir == "notes/reports"
    assert METRICS.load(tmp_path).stale_hours == 3.0  # the old key is not an unknown one
    assert sorted(f"{r.old_section}.{r.old_key}" for r in renamed_in(read_config(cfg))) == [
        "links.link_unnamed",
        "metrics.daily_report_dir",
    ]
    # the new name, when both are set, wins
    cfg.write_text('[links]\nlink_unnamed = "off"\ninfer_in_progress = true\n')
    assert LINKS.load(tmp_path).infer_in_progress is True
    cfg.write_text('[links]\nlink_unnamed = "in-progress"\n')
    assert LINKS.load(tmp_path).infer_in_progress is True

