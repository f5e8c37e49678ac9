"""``tmxd service install/uninstall``: a systemd user unit or a launchd agent.

The templates live in ``systemd/`` (packaged as ``tmxd/resources``). They are
rendered with the running interpreter (absolute path), an explicit ``PATH``
and, for a checkout that is not installed, ``PYTHONPATH``. A plan lists the
file to write and the commands to run, so ``--dry-run`` shows exactly what
would happen; commands are argv lists, never shell strings.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import pwd
import shutil
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from tmxd import paths, proc
from tmxd.errors import TmxdError
from tmxd.fsutil import write_atomic

UNIT_NAME = "tmxd.service"
AGENT_LABEL = "com.tmxd.agent"
PLIST_NAME = f"{AGENT_LABEL}.plist"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Plan:
    platform: str  # "systemd" or "launchd"
    unit_path: Path
    content: str | None  # None: remove the file
    commands: list[list[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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


def service_environment() -> dict[str, str]:
    """What the service needs that the service manager does not give it."""
    env = {"PATH": _service_path(), "PYTHONUNBUFFERED": "1"}
    source_root = paths.source_root()
    if "site-packages" not in source_root.parts and "dist-packages" not in source_root.parts:
        env["PYTHONPATH"] = str(source_root)
    for key in ("TMXD_STATE_DIR", "TMXD_RUNTIME_DIR", "TMXD_DB"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def _service_path() -> str:
    parts: list[str] = []
    for candidate in (str(Path(sys.executable).parent), *DEFAULT_PATH.split(":")):
        if candidate not in parts:
            parts.append(candidate)
    git = shutil.which("git")
    if git and str(Path(git).parent) not in parts:
        parts.insert(1, str(Path(git).parent))
    return ":".join(parts)


def _systemd_quote(value: str) -> str:
    """One word for a unit file: specifiers escaped, quoted when it has spaces or quotes."""
    value = value.replace("%", "%%")
    if any(c in value for c in ' \t"\\'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def render_systemd(python: str | None = None, env: dict[str, str] | None = None) -> str:
    python = python or sys.executable
    env = env if env is not None else service_environment()
    exec_start = " ".join(_systemd_quote(a) for a in (python, "-m", "tmxd", "run"))
    lines = "\n".join(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in env.items())
    return template(UNIT_NAME).replace("@EXEC_START@", exec_start).replace("@ENVIRONMENT@", lines)


def render_launchd(
    python: str | None = None, env: dict[str, str] | None = None, log_dir: Path | None = None
) -> str:
    python = python or sys.executable
    env = env if env is not None else service_environment()
    log_dir = log_dir or launchd_log_dir()
    argv = [python, "-m", "tmxd", "run", "--log-file", str(log_dir / "tmxd.log")]
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


def install_plan(platform: str) -> Plan:
    if platform == "systemd":
        warnings = []
        if not linger_enabled():
            warnings.append(
                "lingering is off: tmxd starts at your first login and stops at your last "
                f"logout; keep it running with `loginctl enable-linger {_user_name()}`"
            )
        return Plan(
            platform,
            systemd_unit_path(),
            render_systemd(),
            [
                ["systemctl", "--user", "daemon-reload"],
                ["systemctl", "--user", "enable", "--now", UNIT_NAME],
            ],
            warnings,
        )
    domain = f"gui/{os.getuid()}"
    plist = launchd_plist_path()
    return Plan(
        platform,
        plist,
        render_launchd(),
        [
            ["launchctl", "bootout", f"{domain}/{AGENT_LABEL}"],
            ["launchctl", "bootstrap", domain, str(plist)],
        ],
    )


def uninstall_plan(platform: str) -> Plan:
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


# Commands whose failure is expected and harmless (nothing to stop or unload yet).
_TOLERATED = frozenset({"bootout", "disable"})


def execute(plan: Plan) -> None:
    """Write (or remove) the file and run the commands, in the order a service manager needs."""
    tool = plan.commands[0][0]
    if shutil.which(tool) is None:
        raise TmxdError(
            f"{tool} not found: this system has no {plan.platform}; run `tmxd run` under your "
            "own supervisor, or see what would be done with --dry-run"
        )
    if plan.content is not None:
        plan.unit_path.parent.mkdir(parents=True, exist_ok=True)
        if plan.platform == "launchd":
            launchd_log_dir().mkdir(parents=True, exist_ok=True)
        write_atomic(plan.unit_path, plan.content)
        _run_all(plan.commands)
    else:
        _run_all(plan.commands[:1])
        with contextlib.suppress(FileNotFoundError):
            plan.unit_path.unlink()
        _run_all(plan.commands[1:])


def _run_all(commands: list[list[str]]) -> None:
    for argv in commands:
        done = proc.run_captured(argv)
        if done.returncode != 0 and not _TOLERATED.intersection(argv):
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise TmxdError(
                f"`{' '.join(argv)}` failed ({done.returncode}): "
                f"{detail[-1] if detail else 'no output'}"
            )
