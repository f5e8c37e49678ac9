from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO_ROOT, run_tmxd
from tmxd.daemon import service
from tmxd.errors import TmxdError


def test_packaged_templates_are_the_files_in_systemd() -> None:
    for name in (service.UNIT_NAME, service.PLIST_NAME):
        assert service.template(name) == (REPO_ROOT / "systemd" / name).read_text()


def test_systemd_unit_is_complete() -> None:
    text = service.render_systemd(python="/opt/py 3/bin/python", env={"PATH": "/opt/bin:/usr/bin"})
    assert "@EXEC_START@" not in text and "@ENVIRONMENT@" not in text
    lines = set(text.splitlines())
    for expected in (
        "Type=notify",
        "WatchdogSec=60",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        'ExecStart="/opt/py 3/bin/python" -m tmxd run',
        "Environment=PATH=/opt/bin:/usr/bin",
        "WantedBy=default.target",
    ):
        assert expected in lines, expected


def test_systemd_unit_escapes_specifiers() -> None:
    text = service.render_systemd(python="/usr/bin/python3", env={"X": "100%"})
    assert "Environment=X=100%%" in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    def verify(text: str) -> str:
        unit = tmp_path / service.UNIT_NAME
        unit.write_text(text)
        proc = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
        )
        return (proc.stdout + proc.stderr).strip()

    rendered = service.render_systemd()
    assert verify(rendered) == ""
    # the check can fail: a typo in a key is reported
    assert "notfy" in verify(rendered.replace("Type=notify", "Type=notfy"))


def test_launchd_plist_is_valid_and_absolute(tmp_path: Path) -> None:
    text = service.render_launchd(
        python="/usr/local/bin/python3", env={"PATH": "/a&b:/usr/bin"}, log_dir=tmp_path / "logs"
    )
    plist = plistlib.loads(text.encode())
    assert plist["Label"] == "com.tmxd.agent"
    args = plist["ProgramArguments"]
    assert args[:4] == ["/usr/local/bin/python3", "-m", "tmxd", "run"]
    assert all(Path(a).is_absolute() for a in (args[0], args[5]))
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["EnvironmentVariables"]["PATH"] == "/a&b:/usr/bin"
    assert plist["StandardErrorPath"].startswith(str(tmp_path / "logs"))


def test_service_environment_has_explicit_path_and_source_root() -> None:
    env = service.service_environment()
    assert str(Path(sys.executable).parent) in env["PATH"].split(":")
    # this checkout is not installed into site-packages, so the service needs PYTHONPATH
    assert env["PYTHONPATH"] == str(REPO_ROOT / "daemon")


def test_plans(hermetic_env: Path) -> None:
    plan = service.install_plan("systemd")
    assert plan.unit_path == hermetic_env / ".config" / "systemd" / "user" / "tmxd.service"
    assert ["systemctl", "--user", "enable", "--now", "tmxd.service"] in plan.commands
    plan = service.install_plan("launchd")
    assert plan.unit_path == hermetic_env / "Library" / "LaunchAgents" / "com.tmxd.agent.plist"
    assert plan.commands[-1][:2] == ["launchctl", "bootstrap"]
    assert service.uninstall_plan("systemd").content is None
    assert service.detect("launchd") == "launchd"


def test_linger_warning(hermetic_env: Path) -> None:
    plan = service.install_plan("systemd")
    if service.linger_enabled():
        assert plan.warnings == []
    else:
        assert any("loginctl enable-linger" in w for w in plan.warnings)


def test_dry_run_prints_and_changes_nothing(hermetic_env: Path) -> None:
    proc = run_tmxd("service", "install", "--dry-run", "--platform", "systemd")
    assert proc.returncode == 0, proc.stderr
    assert "# would write" in proc.stdout
    assert "Type=notify" in proc.stdout
    assert "# would run: systemctl --user enable --now tmxd.service" in proc.stdout
    assert not (hermetic_env / ".config" / "systemd").exists()
    proc = run_tmxd("service", "uninstall", "--dry-run", "--platform", "launchd")
    assert proc.returncode == 0, proc.stderr
    assert "# would run: launchctl bootout gui/" in proc.stdout


def test_missing_service_manager_is_a_clear_error(
    hermetic_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no systemctl to be found
    with pytest.raises(TmxdError, match="systemctl not found: this system has no systemd"):
        service.execute(service.install_plan("systemd"))
    assert not service.systemd_unit_path().exists()


def _service_manager(folder: Path, name: str, failing: str = "") -> Path:
    """A stand-in for systemctl or launchctl, which cannot run here: it records each call's
    arguments in ``<name>.calls`` and fails (exit 1, a message on stderr) when they contain
    ``failing``. Returns the record."""
    calls = folder / f"{name}.calls"
    fail = ""
    if failing:
        message = f"Failed to {failing}: Unit is masked."
        fail = f'case "$*" in *{failing}*) echo "{message}" >&2; exit 1;; esac\n'
    exe = folder / name
    exe.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "$*" >> "{calls}"\n{fail}exit 0\n')
    exe.chmod(0o755)
    return calls


@pytest.fixture
def manager_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


def test_install_and_uninstall_drive_systemd(hermetic_env: Path, manager_bin: Path) -> None:
    calls = _service_manager(manager_bin, "systemctl")
    unit = hermetic_env / ".config" / "systemd" / "user" / "tmxd.service"
    installed = run_tmxd("service", "install", "--platform", "systemd")
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout == f"installed {unit}\n"
    assert unit.read_text() == service.render_systemd()
    assert calls.read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable --now tmxd.service",
    ]
    removed = run_tmxd("service", "uninstall", "--platform", "systemd")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout == f"removed {unit}\n"
    assert not unit.exists()
    assert calls.read_text().splitlines()[2:] == [
        "--user disable --now tmxd.service",
        "--user daemon-reload",
    ]


def test_install_and_uninstall_drive_launchd(hermetic_env: Path, manager_bin: Path) -> None:
    calls = _service_manager(manager_bin, "launchctl", failing="bootout")
    plist = hermetic_env / "Library" / "LaunchAgents" / "com.tmxd.agent.plist"
    domain = f"gui/{os.getuid()}"
    # bootout fails when nothing is loaded yet: tolerated, the agent is bootstrapped anyway
    installed = run_tmxd("service", "install", "--platform", "launchd")
    assert installed.returncode == 0, installed.stderr
    assert plistlib.loads(plist.read_bytes())["Label"] == "com.tmxd.agent"
    assert (hermetic_env / "Library" / "Logs" / "tmxd").is_dir()
    assert calls.read_text().splitlines() == [
        f"bootout {domain}/com.tmxd.agent",
        f"bootstrap {domain} {plist}",
    ]
    removed = run_tmxd("service", "uninstall", "--platform", "launchd")
    assert removed.returncode == 0, removed.stderr
    assert not plist.exists()


def test_a_failing_service_manager_is_one_clear_error(
    hermetic_env: Path, manager_bin: Path
) -> None:
    _service_manager(manager_bin, "systemctl", failing="enable")
    proc = run_tmxd("service", "install", "--platform", "systemd")
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == (
        "error: `systemctl --user enable --now tmxd.service` failed (1): "
        "Failed to enable: Unit is masked."
    )
