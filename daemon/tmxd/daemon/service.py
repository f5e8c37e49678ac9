"""``tmxd service install/uninstall``: a systemd user unit or a launchd agent.

The templates live in ``systemd/`` (packaged as ``tmxd/resources``). They are
rendered with the running interpreter (absolute path), an explicit ``PATH`` (the
interpreter's folder, git's and those of ``claude``, ``node``, ``npx`` and
``task-master`` as found now, then the system's) and, for a checkout that is not
installed, ``PYTHONPATH``. Flags for ``tmxd run`` (``tmxd service install --
--listen 127.0.0.1:9464``) live in an environment file, :func:`env_file_path`, that
installing again keeps. A plan lists the files to write and the commands to run,
so ``--dry-run`` shows exactly what would happen; commands are argv lists, never
shell strings. Without a systemd user manager (containers, WSL, CI) nothing is
written: :func:`systemd_unavailable` says why, before anything changes.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import pwd
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from tmxd import paths, proc
from tmxd.errors import InputError, TmxdError
from tmxd.fsutil import write_atomic

UNIT_NAME = "tmxd.service"
AGENT_LABEL = "com.tmxd.agent"
PLIST_NAME = f"{AGENT_LABEL}.plist"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# Homebrew on Apple silicon installs outside /usr/local.
LAUNCHD_DEFAULT_PATH = "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin"
# Programs the daemon (the autopilot, the MCP servers' launchers) starts by name.
SERVICE_TOOLS = ("git", "claude", "node", "npx", "task-master")
ENV_FILE_NAME = "service.env"
RUN_ARGS = "TMXD_RUN_ARGS"
DOC_PAGE = "daemon.md"


@dataclass(frozen=True)
class Plan:
    platform: str  # "systemd" or "launchd"
    unit_path: Path
    content: str | None  # None: remove the file
    commands: list[list[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    env_file: Path | None = None  # the daemon's flags
    env_content: str | None = None  # None: keep the file as it is (or remove, uninstalling)

    def as_dict(self) -> dict[str, object]:
        return {
            "platform": self.platform,
            "unit_path": str(self.unit_path),
            "content": self.content,
            "env_file": str(self.env_file) if self.env_file else None,
            "env_content": self.env_content,
            "commands": self.commands,
            "warnings": self.warnings,
        }


def detect(name: str = "auto") -> str:
    if name != "auto":
        return name
    return "launchd" if sys.platform == "darwin" else "systemd"


def template(name: str) -> str:
    return (resources.files("tmxd") / "resources" / name).read_text(encoding="utf-8")


def _home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def systemd_unit_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME")
    config = Path(base) if base else _home() / ".config"
    return config / "systemd" / "user" / UNIT_NAME


def launchd_plist_path() -> Path:
    return _home() / "Library" / "LaunchAgents" / PLIST_NAME


def launchd_log_dir() -> Path:
    return _home() / "Library" / "Logs" / "tmxd"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME")
    return (Path(base) if base else _home() / ".config") / "tmxd"


def env_file_path() -> Path:
    """The service's flags for ``tmxd run`` (``TMXD_RUN_ARGS=...``), kept across installs."""
    return config_dir() / ENV_FILE_NAME


def documentation_uri() -> str:
    """``file://`` URI of docs/daemon.md as installed (package data) or in a checkout."""
    page = Path(str(resources.files("tmxd") / "resources" / "docs" / DOC_PAGE))
    return page.resolve().as_uri()


def service_environment(platform: str = "systemd") -> dict[str, str]:
    """What the service needs that the service manager does not give it."""
    env = {"PATH": _service_path(platform), "PYTHONUNBUFFERED": "1"}
    source_root = paths.source_root()
    if "site-packages" not in source_root.parts and "dist-packages" not in source_root.parts:
        env["PYTHONPATH"] = str(source_root)
    for key in ("TMXD_STATE_DIR", "TMXD_RUNTIME_DIR", "TMXD_DB"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def _service_path(platform: str = "systemd") -> str:
    """The interpreter's folder, the folders of :data:`SERVICE_TOOLS` found on this PATH
    (``~/.local/bin``, nvm, Homebrew...), then the system's."""
    default = LAUNCHD_DEFAULT_PATH if platform == "launchd" else DEFAULT_PATH
    found = [shutil.which(tool) for tool in SERVICE_TOOLS]
    tool_dirs = [str(Path(path).parent) for path in found if path]
    parts: list[str] = []
    for candidate in (str(Path(sys.executable).parent), *tool_dirs, *default.split(":")):
        if candidate not in parts:
            parts.append(candidate)
    return ":".join(parts)


def check_run_args(args: Sequence[str]) -> list[str]:
    """Flags for ``tmxd run`` that the environment file can carry; others are an InputError.

    systemd splits ``$TMXD_RUN_ARGS`` on white space, so a flag cannot contain any.
    (The command line checks that ``tmxd run`` accepts them.)
    """
    for arg in args:
        if not arg or re.search(r"[\s'\"\\$%]", arg):
            raise InputError(
                f"service flag {arg!r}: white space, quotes, $, % and backslashes cannot be "
                "passed through the service's environment file"
            )
    return list(args)


def read_run_args(path: Path | None = None) -> list[str] | None:
    """The flags in the environment file; None when there is no file."""
    try:
        text = (path or env_file_path()).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key == RUN_ARGS:
            return value.split()
    return []


def render_env_file(args: Sequence[str]) -> str:
    return (
        "# Flags for `tmxd run` under the service, written by `tmxd service install -- FLAGS`\n"
        "# and kept when it runs again without flags. After editing, restart the service\n"
        "# (`systemctl --user restart tmxd`, or `tmxd service install` again on macOS).\n"
        f"{RUN_ARGS}={' '.join(args)}\n"
    )


def _systemd_quote(value: str) -> str:
    """One word for a unit file: specifiers escaped, quoted when it has spaces or quotes."""
    value = value.replace("%", "%%")
    if any(c in value for c in ' \t"\\'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def render_systemd(
    python: str | None = None, env: dict[str, str] | None = None, env_file: Path | None = None
) -> str:
    python = python or sys.executable
    env = env if env is not None else service_environment()
    env_file = env_file or env_file_path()
    exec_start = " ".join(_systemd_quote(a) for a in (python, "-m", "tmxd", "run"))
    lines = [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in env.items()]
    lines.append(f"EnvironmentFile=-{_systemd_quote(str(env_file))}")
    return (
        template(UNIT_NAME)
        .replace("@EXEC_START@", f"{exec_start} ${RUN_ARGS}")
        .replace("@ENVIRONMENT@", "\n".join(lines))
        .replace("@DOCUMENTATION@", _systemd_quote(documentation_uri()))
    )


def render_launchd(
    python: str | None = None,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
    run_args: Sequence[str] = (),
) -> str:
    python = python or sys.executable
    env = env if env is not None else service_environment("launchd")
    log_dir = log_dir or launchd_log_dir()
    argv = [python, "-m", "tmxd", "run", "--log-file", str(log_dir / "tmxd.log"), *run_args]
    args = "\n".join(f"    <string>{escape(a)}</string>" for a in argv)
    env_xml = "\n".join(
        f"    <key>{escape(k)}</key>\n    <string>{escape(v)}</string>" for k, v in env.items()
    )
    text = (
        template(PLIST_NAME)
        .replace("@PROGRAM_ARGUMENTS@", args)
        .replace("@ENVIRONMENT@", env_xml)
        .replace("@LOG_DIR@", escape(str(log_dir)))
    )
    plistlib.loads(text.encode())  # a template error must not reach launchd
    return text


def linger_enabled(user: str | None = None) -> bool:
    """Whether systemd keeps this user's services running without a login session."""
    name = user or _user_name()
    return Path("/var/lib/systemd/linger", name).exists()


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return os.environ.get("USER", str(os.getuid()))


def install_plan(
    platform: str, run_args: Sequence[str] | None = None, *, enable: bool = True
) -> Plan:
    """What ``service install`` does; ``run_args`` None keeps the flags already kept."""
    env_file = env_file_path()
    kept = read_run_args(env_file)
    args = check_run_args(run_args) if run_args is not None else (kept or [])
    env_content = render_env_file(args) if run_args is not None or kept is None else None
    if platform == "systemd":
        warnings = []
        if enable and not linger_enabled():
            warnings.append(
                "lingering is off: tmxd starts at your first login and stops at your last "
                f"logout; keep it running with `loginctl enable-linger {_user_name()}`"
            )
        commands = [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", UNIT_NAME],
            # starts it, or restarts a running one with the new unit and flags
            ["systemctl", "--user", "restart", UNIT_NAME],
        ]
        return Plan(
            platform,
            systemd_unit_path(),
            render_systemd(env_file=env_file),
            commands if enable else [],
            warnings,
            env_file,
            env_content,
        )
    domain = f"gui/{os.getuid()}"
    plist = launchd_plist_path()
    commands = [
        ["launchctl", "bootout", f"{domain}/{AGENT_LABEL}"],
        ["launchctl", "bootstrap", domain, str(plist)],
    ]
    return Plan(
        platform,
        plist,
        render_launchd(run_args=args),
        commands if enable else [],
        env_file=env_file,
        env_content=env_content,
    )


def uninstall_plan(platform: str) -> Plan:
    """Stop and remove the service; its environment file (the flags) is kept."""
    if platform == "systemd":
        return Plan(
            platform,
            systemd_unit_path(),
            None,
            [
                ["systemctl", "--user", "disable", "--now", UNIT_NAME],
                ["systemctl", "--user", "daemon-reload"],
            ],
        )
    return Plan(
        platform,
        launchd_plist_path(),
        None,
        [["launchctl", "bootout", f"gui/{os.getuid()}/{AGENT_LABEL}"]],
    )


def systemd_unavailable() -> str | None:
    """Why ``systemctl --user`` cannot manage tmxd here, or None when it can."""
    if shutil.which("systemctl") is None:
        return "systemctl not found: this system has no systemd"
    try:
        done = proc.run_captured(["systemctl", "--user", "show-environment"], timeout_s=10)
    except (OSError, TimeoutError) as exc:
        return f"`systemctl --user` does not answer: {exc}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return (
            "no systemd user manager here (`systemctl --user`: "
            + (detail[-1] if detail else f"exit {done.returncode}")
            + ")"
        )
    return None


def manager_path() -> str | None:
    """PATH of the systemd user manager (what a unit without Environment=PATH gets)."""
    done = proc.run_captured(["systemctl", "--user", "show-environment"], timeout_s=10)
    for line in done.stdout.splitlines():
        if line.startswith("PATH="):
            return line[5:]
    return None


def installed_unit() -> tuple[str, Path] | None:
    """(platform, path) of the installed unit or plist, if any."""
    for platform, path in (("systemd", systemd_unit_path()), ("launchd", launchd_plist_path())):
        if path.is_file():
            return platform, path
    return None


def installed_environment(platform: str, path: Path) -> tuple[str | None, dict[str, str]]:
    """(interpreter, environment) the installed unit or plist starts tmxd with."""
    text = path.read_text(encoding="utf-8")
    if platform == "launchd":
        data = plistlib.loads(text.encode())
        argv = data.get("ProgramArguments") or [None]
        return argv[0], dict(data.get("EnvironmentVariables") or {})
    env: dict[str, str] = {}
    python: str | None = None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "Environment":
            for word in shlex.split(value.replace("%%", "%")):
                name, eq, val = word.partition("=")
                if eq:
                    env[name] = val
        elif key == "ExecStart":
            words = shlex.split(value.replace("%%", "%"))
            python = words[0] if words else None
    return python, env


# Commands whose failure is expected and harmless (nothing to stop or unload yet).
_TOLERATED = frozenset({"bootout", "disable"})


def preflight(plan: Plan) -> str | None:
    """Why the plan's commands cannot run here (checked before anything is written)."""
    if not plan.commands:
        return None
    if plan.platform == "systemd":
        return systemd_unavailable()
    tool = plan.commands[0][0]
    if shutil.which(tool) is None:
        return f"{tool} not found: this system has no {plan.platform}"
    return None


def refusal(problem: str) -> str:
    """Why installing stops before writing anything, and what to do instead."""
    return (
        f"{problem}: run the daemon with `tmxd start` instead "
        "(or pass --no-enable to only write the service file)"
    )


def execute(plan: Plan) -> str | None:
    """Write (or remove) the files and run the commands, in the order a service manager needs.

    Installing where the service manager cannot run raises before anything is written;
    uninstalling there removes the file only. Returns why the manager was not asked.
    """
    problem = preflight(plan)
    if problem is not None and plan.content is not None:
        raise TmxdError(refusal(problem))
    commands = [] if problem is not None else plan.commands
    if plan.content is not None:
        plan.unit_path.parent.mkdir(parents=True, exist_ok=True)
        if plan.platform == "launchd":
            launchd_log_dir().mkdir(parents=True, exist_ok=True)
        if plan.env_file is not None and plan.env_content is not None:
            plan.env_file.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(plan.env_file, plan.env_content, mode=0o600)
        write_atomic(plan.unit_path, plan.content)
        _run_all(commands)
    else:
        _run_all(commands[:1])
        with contextlib.suppress(FileNotFoundError):
            plan.unit_path.unlink()
        _run_all(commands[1:])
    return problem


def _run_all(commands: list[list[str]]) -> None:
    for argv in commands:
        done = proc.run_captured(argv)
        if done.returncode != 0 and not _TOLERATED.intersection(argv):
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise TmxdError(
                f"`{' '.join(argv)}` failed ({done.returncode}): "
                f"{detail[-1] if detail else 'no output'}"
            )
