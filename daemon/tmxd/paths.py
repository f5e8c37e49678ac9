"""Where tmxd keeps its per-user files (XDG on Linux, ~/Library on macOS).

Every location can be moved with an environment variable, which is how tests
keep tmxd away from the real home directory:

``TMXD_STATE_DIR``   database, spool fallback, registered projects, logs
``TMXD_RUNTIME_DIR`` control socket, pid and lock files
``TMXD_DB``          the metrics database file itself
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

DAEMON_LOG_NAME = "daemon.log"


LOCATION_VARIABLES = (
    "TMXD_STATE_DIR",
    "TMXD_RUNTIME_DIR",
    "TMXD_DB",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
)


def pin_locations() -> None:
    """Make the location variables absolute (relative ones are read against the current
    directory), so they name the same files after the process changes directory and in
    the processes it starts."""
    for name in LOCATION_VARIABLES:
        value = os.environ.get(name)
        if value and not os.path.isabs(value):
            os.environ[name] = os.path.abspath(value)


def _home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def state_dir() -> Path:
    """Persistent per-user state; created private (0700) on first use."""
    override = os.environ.get("TMXD_STATE_DIR")
    if override:
        base = Path(override)
    elif sys.platform == "darwin":
        base = _home() / "Library" / "Application Support" / "tmxd"
    else:
        xdg = os.environ.get("XDG_STATE_HOME")
        base = (Path(xdg) if xdg else _home() / ".local" / "state") / "tmxd"
    return ensure_private_dir(base)


def runtime_dir() -> Path:
    """Sockets, pid and lock files: ``$XDG_RUNTIME_DIR/tmxd`` or the state dir."""
    override = os.environ.get("TMXD_RUNTIME_DIR")
    if override:
        base = Path(override)
    else:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        base = Path(xdg) / "tmxd" if xdg and Path(xdg).is_dir() else state_dir() / "run"
    return ensure_private_dir(base)


def db_path() -> Path:
    """The metrics database: ``$TMXD_DB`` or ``<state dir>/metrics.db``."""
    override = os.environ.get("TMXD_DB")
    return Path(override) if override else state_dir() / "metrics.db"


def daemon_log() -> Path:
    """Where ``tmxd start`` makes the daemon log (under a service manager: its journal)."""
    return state_dir() / DAEMON_LOG_NAME


def source_root() -> Path:
    """The folder holding the ``tmxd`` package (``daemon/`` in a checkout)."""
    return Path(__file__).resolve().parent.parent


def importable_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this environment) with :func:`source_root` first on ``PYTHONPATH``,
    so ``python -m tmxd`` in a child process runs this tmxd, a checkout too."""
    env = dict(os.environ if base is None else base)
    root = str(source_root())
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env["PYTHONPATH"] = os.pathsep.join([root, *parts])
    return env


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and its missing parents) readable by the user alone."""
    from tmxd.fsutil import make_private_dirs

    make_private_dirs(path)
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:
        pass
    return path


def tmxd_command() -> tuple[str, list[str]]:
    """How another program starts this tmxd (``.mcp.json``, the autopilot's agents): ``tmxd``
    when PATH finds this one, else its absolute path (the console script beside this Python),
    else this Python with ``-m tmxd``. Returns the command and the arguments before tmxd's."""
    here = Path(sys.executable).parent / "tmxd"
    script = Path(sys.argv[0]) if Path(sys.argv[0]).name == "tmxd" else here
    on_path = shutil.which("tmxd")
    if script.is_file():
        if on_path is not None and Path(on_path).resolve() == script.resolve():
            return "tmxd", []
        return str(script.resolve()), []
    if on_path is not None:
        return "tmxd", []
    return sys.executable, ["-m", "tmxd"]
