from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
import urllib.parse
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
        'ExecStart="/opt/py 3/bin/python" -m tmxd run $TMXD_RUN_ARGS',
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
    assert plan.commands[1:] == [
        ["systemctl", "--user", "enable", "tmxd.service"],
        ["systemctl", "--user", "restart", "tmxd.service"],  # a running one gets the new unit
    ]
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


def test_dry_run_prints_and_changes_nothing(hermetic_env: Path, manager_bin: Path) -> None:
    calls = _service_manager(manager_bin, "systemctl")
    _service_manager(manager_bin, "launchctl")
    proc = run_tmxd("service", "install", "--dry-run", "--platform", "systemd")
    assert proc.returncode == 0, proc.stderr
    assert "# would write" in proc.stdout
    assert "Type=notify" in proc.stdout
    assert "# would run: systemctl --user enable tmxd.service" in proc.stdout
    assert not (hermetic_env / ".config" / "systemd").exists()
    proc = run_tmxd("service", "uninstall", "--dry-run", "--platform", "launchd")
    assert proc.returncode == 0, proc.stderr
    assert "# would run: launchctl bootout gui/" in proc.stdout
    assert calls.read_text().splitlines() == ["--user show-environment"]  # only asked


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
    assert installed.stdout == f"installed {unit}\nwrote {service.env_file_path()}\n"
    assert unit.read_text() == service.render_systemd()
    assert calls.read_text().splitlines() == [
        "--user show-environment",  # is there a user manager? (asked before writing)
        "--user daemon-reload",
        "--user enable tmxd.service",
        "--user restart tmxd.service",  # starts it, or restarts it with the new unit
    ]
    removed = run_tmxd("service", "uninstall", "--platform", "systemd")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout == f"removed {unit}\n"
    assert not unit.exists()
    assert calls.read_text().splitlines()[4:] == [
        "--user show-environment",
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
        "error: `systemctl --user enable tmxd.service` failed (1): "
        "Failed to enable: Unit is masked."
    )


def no_user_bus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What containers, WSL and CI have: systemctl, but no user manager to talk to."""
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)


needs_systemctl = pytest.mark.skipif(
    shutil.which("systemctl") is None, reason="needs systemctl (Debian: systemd)"
)


@needs_systemctl
def test_install_without_a_user_bus_writes_nothing_and_says_tmxd_start(
    hermetic_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_user_bus(monkeypatch, tmp_path)
    assert service.systemd_unavailable() is not None
    proc = run_tmxd("service", "install", "--platform", "systemd")
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no systemd user manager here" in lines[0]
    assert "`tmxd start`" in lines[0] and "--no-enable" in lines[0]
    assert not service.systemd_unit_path().exists()
    assert not service.env_file_path().exists()


@needs_systemctl
def test_dry_run_without_a_user_bus_says_install_would_refuse(
    hermetic_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The dry run says what the real command does there: refuse (exit 1), writing
    nothing, and name the alternatives; uninstalling would remove the file only."""
    no_user_bus(monkeypatch, tmp_path)
    proc = run_tmxd("service", "install", "--dry-run", "--platform", "systemd")
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert line.startswith("# would refuse, writing nothing: no systemd user manager here")
    assert "`tmxd start`" in line and "--no-enable" in line
    assert "would run" not in proc.stdout and "would write" not in proc.stdout
    real = run_tmxd("service", "install", "--platform", "systemd")
    assert real.returncode == 1 and real.stderr.strip() == "error: " + line.split(": ", 1)[1]
    plan = json.loads(run_tmxd("service", "install", "--dry-run", "--format", "json").stdout)
    assert plan["refused"].startswith("no systemd user manager here")
    assert (plan["commands"], plan["manager"]) == ([], False)
    # no user manager to keep running: lingering means nothing here (the real run, refused,
    # warns of nothing either)
    assert plan["warnings"] == [] and "linger" not in real.stderr
    dry = run_tmxd("service", "uninstall", "--dry-run", "--platform", "systemd")
    assert dry.returncode == 0, dry.stderr
    unit = service.systemd_unit_path()
    assert dry.stdout.splitlines()[0] == f"# would remove nothing: {unit}: not installed"
    assert dry.stdout.splitlines()[1].startswith("# would stop nothing: no systemd user manager")
    assert not unit.exists()
    # control: with the file there, the dry run would remove it, as the real run then does
    assert run_tmxd("service", "install", "--no-enable", "--platform", "systemd").returncode == 0
    dry = run_tmxd("service", "uninstall", "--dry-run", "--platform", "systemd")
    assert dry.stdout.splitlines()[0] == f"# would remove {unit}"
    as_json = run_tmxd("service", "uninstall", "--dry-run", "--format", "json")
    assert json.loads(as_json.stdout)["would_remove"] is True
    real_uninstall = run_tmxd("service", "uninstall", "--platform", "systemd")
    assert real_uninstall.stdout.splitlines()[0] == f"removed {unit}"
    as_json = run_tmxd("service", "uninstall", "--dry-run", "--format", "json")
    assert json.loads(as_json.stdout)["would_remove"] is False


def test_uninstall_dry_run_says_what_the_real_run_would(
    hermetic_env: Path, manager_bin: Path
) -> None:
    """With a service manager: nothing installed, the dry run removes nothing, as the real
    run says "not installed"; its commands run all the same (harmless)."""
    _service_manager(manager_bin, "systemctl")
    unit = service.systemd_unit_path()
    dry = run_tmxd("service", "uninstall", "--dry-run", "--platform", "systemd")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0] == f"# would remove nothing: {unit}: not installed"
    assert "# would run: systemctl --user disable --now tmxd.service" in dry.stdout
    real = run_tmxd("service", "uninstall", "--platform", "systemd")
    assert real.stdout.splitlines() == [f"{unit}: not installed"]
    # with a manager, an enabling install's plan keeps its lingering warning (when it is off)
    plan = json.loads(run_tmxd("service", "install", "--dry-run", "--format", "json").stdout)
    assert plan["manager"] is True
    assert plan["warnings"] == service.install_plan("systemd").warnings


@needs_systemctl
def test_no_enable_writes_the_files_and_uninstall_exits_cleanly(
    hermetic_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_user_bus(monkeypatch, tmp_path)
    proc = run_tmxd("service", "install", "--no-enable", "--platform", "systemd")
    assert proc.returncode == 0, proc.stderr
    assert "not enabled (--no-enable)" in proc.stdout
    assert service.systemd_unit_path().is_file()
    assert service.read_run_args() == []
    proc = run_tmxd("service", "uninstall", "--platform", "systemd")
    assert proc.returncode == 0, proc.stderr
    assert f"removed {service.systemd_unit_path()}" in proc.stdout
    assert "nothing to stop: no systemd user manager here" in proc.stdout
    assert not service.systemd_unit_path().exists()
    again = run_tmxd("service", "uninstall", "--platform", "systemd")
    assert again.returncode == 0, again.stderr
    assert "not installed" in again.stdout


def test_daemon_flags_are_kept_in_the_environment_file(hermetic_env: Path) -> None:
    proc = run_tmxd(
        "service", "install", "--no-enable", "--platform", "systemd", "--",
        "--listen", "127.0.0.1:9464",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert service.read_run_args() == ["--listen", "127.0.0.1:9464"]
    unit = service.systemd_unit_path().read_text()
    assert "-m tmxd run $TMXD_RUN_ARGS" in unit
    assert f"EnvironmentFile=-{service.env_file_path()}" in unit.splitlines()
    # installing again without flags keeps them; new flags replace them
    assert run_tmxd("service", "install", "--no-enable", "--platform", "systemd").returncode == 0
    assert service.read_run_args() == ["--listen", "127.0.0.1:9464"]
    proc = run_tmxd(
        "service", "install", "--no-enable", "--platform", "systemd", "--", "--settle-ms", "50"
    )
    assert proc.returncode == 0, proc.stderr
    assert service.read_run_args() == ["--settle-ms", "50"]
    # flags `tmxd run` does not take are refused before anything changes
    before = service.env_file_path().read_text()
    bad = run_tmxd("service", "install", "--no-enable", "--", "--lisen", "127.0.0.1:1")
    assert bad.returncode == 2
    assert "flags for `tmxd run`: No such option '--lisen'" in bad.stderr
    spaced = run_tmxd("service", "install", "--no-enable", "--", "--log-file", "/a b/log")
    assert spaced.returncode == 2 and "white space" in spaced.stderr
    assert service.env_file_path().read_text() == before


def test_dry_run_json(hermetic_env: Path, manager_bin: Path) -> None:
    _service_manager(manager_bin, "systemctl")
    proc = run_tmxd(
        "service", "install", "--dry-run", "--format", "json", "--platform", "systemd", "--",
        "--listen", "127.0.0.1:9464",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] is True and plan["platform"] == "systemd"
    assert plan["unit_path"] == str(service.systemd_unit_path())
    assert "Type=notify" in plan["content"]
    assert plan["env_content"].endswith("TMXD_RUN_ARGS=--listen 127.0.0.1:9464\n")
    assert ["systemctl", "--user", "daemon-reload"] in plan["commands"]
    assert not service.systemd_unit_path().exists()


def test_unit_path_has_the_tools_folders_and_documentation_names_the_docs(
    hermetic_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nvm = tmp_path / ".nvm" / "versions" / "node" / "v20" / "bin"
    local = tmp_path / ".local" / "bin"
    for folder, names in ((nvm, ("node", "npx", "task-master")), (local, ("claude",))):
        folder.mkdir(parents=True)
        for tool in names:
            (folder / tool).write_text("#!/bin/sh\n")
            (folder / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{nvm}:{local}:/usr/bin:/bin")
    path = service.service_environment()["PATH"].split(":")
    assert str(nvm) in path and str(local) in path
    assert path[0] == str(Path(sys.executable).parent)
    unit = service.render_systemd()
    doc = next(line for line in unit.splitlines() if line.startswith("Documentation="))
    uri = doc.removeprefix("Documentation=").replace("%%", "%")
    assert uri.startswith("file:///") and uri.endswith("/daemon.md")
    assert Path(urllib.parse.unquote(uri.removeprefix("file://"))).read_text().startswith("#")
    assert "man:systemd" not in unit
    launchd = service.service_environment("launchd")["PATH"].split(":")
    assert "/opt/homebrew/bin" in launchd and str(local) in launchd


def test_launchd_plist_carries_the_kept_flags(hermetic_env: Path) -> None:
    plan = service.install_plan("launchd", ["--listen", "127.0.0.1:9464"])
    assert plan.content is not None
    plist = plistlib.loads(plan.content.encode())
    assert plist["ProgramArguments"][-2:] == ["--listen", "127.0.0.1:9464"]
    assert "/opt/homebrew/bin" in plist["EnvironmentVariables"]["PATH"].split(":")
