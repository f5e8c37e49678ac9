"""Daemon commands: run/start/stop/status/reload, ``watch``, ``service``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tmxd.commands.common import echo, echo_json, format_option, style
from tmxd.errors import EXIT_FAILED
from tmxd.sanitize import printable


def _options(
    log_file: Path | None,
    projects: tuple[Path, ...],
    settle_ms: int,
    max_wait_ms: int,
    listen: str | None = None,
    listen_public: bool = False,
    metrics_cache: float = 5.0,
) -> Any:
    from tmxd.daemon.lifecycle import DaemonOptions, parse_listen
    from tmxd.daemon.registry import find_root
    from tmxd.errors import InputError

    if settle_ms < 0 or max_wait_ms < settle_ms:
        raise InputError("--settle-ms must be >= 0 and --max-wait-ms >= --settle-ms")
    if metrics_cache < 0:
        raise InputError("--metrics-cache must be >= 0 seconds")
    return DaemonOptions(
        metrics_cache=metrics_cache,
        settle=settle_ms / 1000,
        max_wait=max_wait_ms / 1000,
        log_file=log_file,
        extra_projects=tuple(find_root(p) for p in projects),
        listen=parse_listen(listen, allow_public=listen_public) if listen else None,
    )


def _daemon_options(func: Any) -> Any:
    func = click.option(
        "--log-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Log to this file (rotated at 5 MB, 3 kept) instead of stderr.",
    )(func)
    func = click.option(
        "-p",
        "--project",
        "projects",
        multiple=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Also watch this project (for this run only; see `tmxd watch add`).",
    )(func)
    func = click.option(
        "--settle-ms",
        type=int,
        default=100,
        show_default=True,
        help="Quiet time after a change before it is processed.",
    )(func)
    func = click.option(
        "--max-wait-ms",
        type=int,
        default=1000,
        show_default=True,
        help="Longest delay of a change under a continuous stream of events.",
    )(func)
    func = click.option(
        "--listen",
        metavar="HOST:PORT",
        default=None,
        help="Serve Prometheus metrics at http://HOST:PORT/metrics (port 0: any free port).",
    )(func)
    func = click.option(
        "--listen-public",
        is_flag=True,
        help="Allow a --listen address other than loopback (the metrics have no auth).",
    )(func)
    func = click.option(
        "--metrics-cache",
        type=float,
        default=5.0,
        show_default=True,
        metavar="SECONDS",
        help="Reuse a --listen collection for this long (scrapes in between cost nothing).",
    )(func)
    return func


@click.command()
@_daemon_options
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages too.")
def run(
    log_file: Path | None,
    projects: tuple[Path, ...],
    settle_ms: int,
    max_wait_ms: int,
    listen: str | None,
    listen_public: bool,
    metrics_cache: float,
    verbose: bool,
) -> None:
    """Run the daemon in the foreground (what systemd and launchd start).

    SIGTERM stops it gracefully, SIGHUP reloads the project registry and
    configuration. Logs go to stderr unless --log-file is given.
    """
    from tmxd.daemon.lifecycle import run_daemon, setup_logging

    options = _options(
        log_file, projects, settle_ms, max_wait_ms, listen, listen_public, metrics_cache
    )
    setup_logging(log_file, verbose=verbose)
    code = run_daemon(options)
    if code:
        raise click.exceptions.Exit(code)


@click.command()
@_daemon_options
@format_option("text", "json")
def start(
    log_file: Path | None,
    projects: tuple[Path, ...],
    settle_ms: int,
    max_wait_ms: int,
    listen: str | None,
    listen_public: bool,
    metrics_cache: float,
    fmt: str,
) -> None:
    """Start the daemon in the background (no-op when it is already running)."""
    from tmxd.daemon import control
    from tmxd.daemon.client import start_background

    # validate first
    options = _options(
        log_file, projects, settle_ms, max_wait_ms, listen, listen_public, metrics_cache
    )
    extra: list[str] = [
        f"--settle-ms={settle_ms}",
        f"--max-wait-ms={max_wait_ms}",
        f"--metrics-cache={metrics_cache:g}",
    ]
    if listen:
        extra.append(f"--listen={listen}")
    if listen_public:
        extra.append("--listen-public")
    for project in projects:
        extra += ["--project", str(project.resolve())]
    if control.is_running():
        pid = control.request("ping")["pid"]
        given = _given_options(
            log_file, settle_ms, max_wait_ms, listen, listen_public, metrics_cache
        )
        info = _daemon_status() if given or projects else None
        ignored = _not_applied(given, options, info) if given else []
        if fmt == "json":
            answer: dict[str, Any] = {"running": True, "started": False, "pid": pid}
            if ignored:
                answer["not_applied"] = [flag for flag, _ in ignored]
            echo_json(answer)
        else:
            echo(f"tmxd is already running (pid {pid})")
            # its options were set when it started: -p adds nothing to a running daemon
            watched = _watched_by_daemon(info) if projects else {}
            for project, root in zip(projects, options.extra_projects, strict=True):
                mode = watched.get(str(root))
                if mode is None:
                    echo(f"  not watching {project} for you: `tmxd watch add {project}` does")
                elif mode == "not watched":
                    echo(
                        f"  {root} is on the daemon's list but not watched: `tmxd status` says why"
                    )
                elif mode == "registered":  # the daemon was too busy to say
                    echo(f"  {root} is on the watch list (`tmxd watch list`)")
                else:
                    echo(f"  already watching {root}")
            if ignored:
                _tell_not_applied(ignored, given)
        if ignored:
            raise click.exceptions.Exit(EXIT_FAILED)
        return
    pid = start_background(log_file, extra_args=extra)
    if fmt == "json":
        echo_json({"running": True, "started": True, "pid": pid})
    else:
        echo(f"tmxd started (pid {pid})")


def _given_options(
    log_file: Path | None,
    settle_ms: int,
    max_wait_ms: int,
    listen: str | None,
    listen_public: bool,
    metrics_cache: float,
) -> list[tuple[str, str | None]]:
    """The daemon options on the command line (not left at their default), as
    ``(flag, value)``; -p is answered apart."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    values: dict[str, tuple[str, str | None]] = {
        "log_file": ("--log-file", str(log_file)),
        "settle_ms": ("--settle-ms", str(settle_ms)),
        "max_wait_ms": ("--max-wait-ms", str(max_wait_ms)),
        "listen": ("--listen", listen),
        "listen_public": ("--listen-public", None),
        "metrics_cache": ("--metrics-cache", f"{metrics_cache:g}"),
    }
    return [
        flag
        for name, flag in values.items()
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)
    ]


def _daemon_status() -> dict[str, Any] | None:
    """The running daemon's ``status`` answer; None when it cannot give one (too busy)."""
    from tmxd.daemon import control
    from tmxd.errors import TmxdError

    try:
        return control.request("status")
    except TmxdError:
        return None


def _not_applied(
    given: list[tuple[str, str | None]], options: Any, info: dict[str, Any] | None
) -> list[tuple[str, str]]:
    """The given options the running daemon (its ``status``: ``info``) does not run with,
    each as ``(flag, what it does instead)``; a daemon that cannot say (too busy, older)
    applied none of them."""
    info = info or {}
    running = info.get("options")
    if not isinstance(running, dict):
        return [(flag, "unknown: the daemon did not say") for flag, _ in given]
    listening = running.get("listen")
    log_file = info.get("log_file")
    now: dict[str, tuple[bool, str]] = {
        "--settle-ms": (
            running.get("settle_ms") == round(options.settle * 1000),
            f"it uses {running.get('settle_ms')}",
        ),
        "--max-wait-ms": (
            running.get("max_wait_ms") == round(options.max_wait * 1000),
            f"it uses {running.get('max_wait_ms')}",
        ),
        "--metrics-cache": (
            running.get("metrics_cache") == options.metrics_cache,
            f"it uses {running.get('metrics_cache')}",
        ),
        "--log-file": (
            options.log_file is not None
            and log_file is not None
            and Path(str(log_file)) == options.log_file.absolute(),
            f"it logs to {log_file}" if log_file else "it logs to stderr",
        ),
        "--listen": (_same_listen(listening, options.listen), _serves(info)),
    }
    # --listen-public only permits an address: it is applied when the --listen is
    now["--listen-public"] = now["--listen"] if options.listen else (True, "")
    return [(flag, now[flag][1]) for flag, _ in given if not now[flag][0]]


def _same_listen(running: object, wanted: tuple[str, int] | None) -> bool:
    """Whether the daemon listens where asked (port 0, any free port: any port of that host)."""
    if wanted is None or not isinstance(running, list) or len(running) != 2:
        return False
    host, port = running
    return bool(host == wanted[0] and (port == wanted[1] or wanted[1] == 0))


def _serves(info: dict[str, Any]) -> str:
    url = info.get("prometheus")
    return f"it serves {url}" if url else "it serves no metrics endpoint"


def _tell_not_applied(ignored: list[tuple[str, str]], given: list[tuple[str, str | None]]) -> None:
    """Say which options a running daemon did not take, and how to restart it with them."""
    import shlex

    echo("  its options were set when it started; not applied:")
    values = dict(given)
    for flag, instead in ignored:
        value = values.get(flag)
        echo(f"    {flag}{'' if value is None else ' ' + value} ({instead})")
    words = [w for flag, value in given for w in ([flag] if value is None else [flag, value])]
    flags = shlex.join(words)
    echo(
        f"  to apply them: `tmxd stop`, then `tmxd start {flags}`; for the service: "
        f"`tmxd service install -- {flags}`"
    )


def _watched_by_daemon(info: dict[str, Any] | None) -> dict[str, str]:
    """The running daemon's projects (root -> watch mode, or "not watched") from its
    ``status`` (``info``): those of its own ``-p`` and of the registry. A daemon too busy
    to answer: the registry's projects, whose mode is then unknown."""
    from tmxd.daemon import registry

    if info is None:
        return {str(root): "registered" for root in registry.list_projects()}
    return {str(p["root"]): str(p.get("watch", "not watched")) for p in info.get("projects", [])}


@click.command()
@format_option("text", "json")
def stop(fmt: str) -> None:
    """Stop the running daemon gracefully and wait until it has exited (exit 3 if none)."""
    from tmxd.daemon import control
    from tmxd.daemon.client import stop_running
    from tmxd.errors import DaemonNotRunning

    try:
        pid = stop_running()
    except DaemonNotRunning:
        if fmt == "json":
            echo_json({"running": False, "stopped": False})
            raise click.exceptions.Exit(DaemonNotRunning.exit_code) from None
        raise DaemonNotRunning(
            f"tmxd is not running (nothing listens on {control.socket_path()})"
        ) from None
    if fmt == "json":
        echo_json({"running": False, "stopped": True, "pid": pid})
    else:
        echo(f"tmxd stopped (pid {pid})")


@click.command()
def reload() -> None:
    """Make the daemon re-read the project registry and the projects' configuration."""
    from tmxd.daemon import control

    pid = control.request("reload")["pid"]
    echo(f"tmxd (pid {pid}) is reloading")


@click.command()
@format_option("text", "json")
def status(fmt: str) -> None:
    """Show whether the daemon runs, what it watches and when its jobs run (exit 3 if not).

    With --format json and no daemon it prints {"running": false}.
    """
    from tmxd.daemon import control
    from tmxd.errors import DaemonNotRunning

    try:
        info = control.request("status")
    except DaemonNotRunning:
        if fmt == "json":
            echo_json({"running": False})
            raise click.exceptions.Exit(DaemonNotRunning.exit_code) from None
        raise
    if fmt == "json":
        echo_json({"running": True, **info})
        return
    echo(
        f"tmxd {info['version']} {style('running', fg='green')} (pid {info['pid']}), "
        f"up {_duration(float(info['uptime_s']))}",
        coloured=True,
    )
    echo(f"  socket: {info['socket']}")
    if info.get("log_file"):
        echo(f"  log:    {info['log_file']}")
    projects = info.get("projects", [])
    echo(f"  projects: {len(projects)}")
    for project in projects:
        error = project.get("error")
        line = (
            f"    {project['root']} [{project['watch']}] "
            f"{project.get('transitions', 0)} transition(s), {project.get('notes', 0)} note(s)"
        )
        echo(line)
        if error:
            echo("      " + style(f"error: {error}", fg="red"), coloured=True)
        pilot = project.get("autopilot")
        if pilot:
            echo("      " + _autopilot_line(pilot), coloured=True)
    if info.get("prometheus"):
        echo(f"  prometheus: {info['prometheus']}")
    for job in info.get("jobs", []):
        last = job.get("last_run") or "never"
        echo(f"  job {job['name']}: next {job.get('next_run') or '-'}, last {last}")


def _autopilot_line(pilot: dict[str, Any]) -> str:
    """``autopilot: on, breaker open (3 failures; ...), trial in 9m59s``."""
    breaker = pilot.get("breaker")
    mode = "dispatching" if pilot.get("running") else "on"
    parts = ["autopilot: " + (mode if pilot.get("enabled") else "off")]
    if breaker:
        state = str(breaker["state"])
        colour = {"closed": "green", "open": "red"}.get(state, "yellow")
        text = f"breaker {style(state, fg=colour)}, {breaker['failures']} failure(s)"
        if breaker.get("reason"):
            text += printable(f", last: {breaker['reason']}")
        if state == "open":
            text += f", trial in {_duration(float(breaker['retry_in_s']))}"
        if breaker.get("fix"):
            text += f" (`{breaker['fix']}` closes it)"
        parts.append(text)
    line = "; ".join(parts)
    if pilot.get("error"):
        line += "; " + style(f"error: {pilot['error']}", fg="red")
    return line


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _tell_daemon(fmt: str = "text") -> bool:
    """Ask a running daemon to pick up the registry change; fine when none runs."""
    from tmxd.daemon import control
    from tmxd.errors import DaemonNotRunning

    try:
        control.request("reload", timeout=5)
    except DaemonNotRunning:
        return False
    if fmt == "text":
        echo("the running daemon picks the change up now")
    return True


@click.group()
def watch() -> None:
    """The projects the daemon watches (persisted in the state dir)."""


@watch.command("add")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=".")
@format_option("text", "json")
def watch_add(path: Path, fmt: str) -> None:
    """Watch the Task Master project at PATH (default: the current directory)."""
    from tmxd.daemon import registry

    root = registry.add_project(path)
    if fmt == "text":
        echo(f"watching {root}")
    reloaded = _tell_daemon(fmt)
    if fmt == "json":
        echo_json({"root": str(root), "watched": True, "daemon_reloaded": reloaded})


@watch.command("remove")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@format_option("text", "json")
def watch_remove(path: Path, fmt: str) -> None:
    """Stop watching the project at PATH."""
    from tmxd.daemon import registry
    from tmxd.errors import InputError

    if not registry.remove_project(path):
        raise InputError(f"{path.resolve()}: not a watched project; see `tmxd watch list`")
    if fmt == "text":
        echo(f"no longer watching {path.resolve()}")
    reloaded = _tell_daemon(fmt)
    if fmt == "json":
        echo_json({"root": str(path.resolve()), "watched": False, "daemon_reloaded": reloaded})


@watch.command("list")
@format_option("text", "json")
def watch_list(fmt: str) -> None:
    """List the watched projects."""
    from tmxd.daemon import registry

    projects = registry.list_projects()
    if fmt == "json":
        echo_json([{"root": str(p), "exists": p.is_dir()} for p in projects])
        return
    if not projects:
        echo("no projects are watched; add one with `tmxd watch add PATH`")
    for project in projects:
        missing = "" if project.is_dir() else "  (missing)"
        echo(f"{project}{missing}")


_platform_option = click.option(
    "--platform",
    "platform_name",
    type=click.Choice(["auto", "systemd", "launchd"]),
    default="auto",
    show_default=True,
    help="Service manager (auto: systemd on Linux, launchd on macOS).",
)


@click.group()
def service() -> None:
    """Run tmxd as a systemd user service or a launchd agent."""


@service.command("install")
@click.option("--dry-run", is_flag=True, help="Print the files and the commands; change nothing.")
@click.option(
    "--no-enable",
    is_flag=True,
    help="Only write the service files; start nothing (e.g. where no systemd user manager runs).",
)
@_platform_option
@format_option("text", "json")
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- RUN FLAGS...]")
def service_install(
    dry_run: bool, no_enable: bool, platform_name: str, fmt: str, run_args: tuple[str, ...]
) -> None:
    """Install, enable and start the service with the current Python interpreter.

    Flags after `--` are passed to `tmxd run`, e.g. `tmxd service install --
    --listen 127.0.0.1:9464`; they are kept in ~/.config/tmxd/service.env, which
    installing again without flags leaves as it is. The service's PATH holds
    the folders where git, claude, node, npx and task-master are now. Without a
    systemd user manager (containers, WSL, CI) nothing is written: use `tmxd
    start`, or --no-enable to only write the files.
    """
    from tmxd.daemon import service as svc
    from tmxd.errors import InputError

    if run_args:
        try:
            run.make_context("tmxd run", list(run_args)).close()
        except click.UsageError as exc:
            raise InputError(f"flags for `tmxd run`: {exc.format_message()}") from None
    plan = svc.install_plan(
        svc.detect(platform_name), list(run_args) if run_args else None, enable=not no_enable
    )
    if dry_run:
        _show_plan(plan, fmt)
        return
    svc.execute(plan)
    if fmt == "json":
        echo_json({**plan.as_dict(), "installed": True, "enabled": not no_enable})
    else:
        echo(f"installed {plan.unit_path}")
        if plan.env_content is not None and plan.env_file is not None:
            echo(f"wrote {plan.env_file}")
        if no_enable:
            hint = _enable_hint(plan)
            echo(f"not enabled (--no-enable); where {plan.platform} runs: {hint}")
    for warning in plan.warnings:
        echo(f"warning: {warning}", err=True)


def _enable_hint(plan: Any) -> str:
    if plan.platform == "systemd":
        return "`systemctl --user daemon-reload && systemctl --user enable --now tmxd.service`"
    return f"`launchctl bootstrap gui/$(id -u) {plan.unit_path}`"


@service.command("uninstall")
@click.option("--dry-run", is_flag=True, help="Print the commands; change nothing.")
@_platform_option
@format_option("text", "json")
def service_uninstall(dry_run: bool, platform_name: str, fmt: str) -> None:
    """Stop, disable and remove the service (its flags file stays).

    Without a service manager to ask (no systemd user bus), only the file is removed.
    """
    from tmxd.daemon import service as svc

    plan = svc.uninstall_plan(svc.detect(platform_name))
    if dry_run:
        _show_plan(plan, fmt)
        return
    existed = plan.unit_path.exists()
    problem = svc.execute(plan)
    if fmt == "json":
        echo_json({**plan.as_dict(), "removed": existed, "manager": problem is None})
        return
    echo(f"removed {plan.unit_path}" if existed else f"{plan.unit_path}: not installed")
    if problem is not None:
        echo(f"nothing to stop: {problem}")


def _show_plan(plan: Any, fmt: str) -> None:
    """What the real command would do: where the service manager cannot run, installing
    refuses before writing anything (exit 1, as the real one), uninstalling only removes
    the file."""
    from tmxd.daemon import service as svc

    problem = svc.preflight(plan)
    refused = problem is not None and plan.content is not None
    if fmt == "json":
        answer = {
            **plan.as_dict(),
            "commands": [] if problem else plan.commands,
            # lingering keeps a user manager running: without one it means nothing, and a
            # refused install shows no warning either
            "warnings": [] if problem else plan.warnings,
            "dry_run": True,
            "refused": svc.refusal(problem) if refused and problem else None,
            "manager": problem is None,
        }
        if plan.content is None:  # uninstalling: as the real run's "removed"
            answer["would_remove"] = plan.unit_path.exists()
        echo_json(answer)
    elif refused and problem:
        echo(f"# would refuse, writing nothing: {svc.refusal(problem)}")
    else:
        _show_changes(plan, problem)
    if refused:
        raise click.exceptions.Exit(EXIT_FAILED)


def _show_changes(plan: Any, problem: str | None) -> None:
    if plan.content is not None:
        echo(f"# would write {plan.unit_path}:")
        echo(plan.content.rstrip("\n"))
        if plan.env_content is not None and plan.env_file is not None:
            echo(f"# would write {plan.env_file}:")
            echo(plan.env_content.rstrip("\n"))
        elif plan.env_file is not None:
            echo(f"# would keep {plan.env_file}")
    elif plan.unit_path.exists():
        echo(f"# would remove {plan.unit_path}")
    else:
        echo(f"# would remove nothing: {plan.unit_path}: not installed")
    if problem is not None and plan.commands:
        echo(f"# would stop nothing: {problem}")
        return
    for argv in plan.commands:
        echo("# would run: " + " ".join(argv))
