"""Daemon commands: run/start/stop/status/reload, ``watch``, ``service``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tmxd.commands.common import echo_json, format_option, style


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
def start(
    log_file: Path | None,
    projects: tuple[Path, ...],
    settle_ms: int,
    max_wait_ms: int,
    listen: str | None,
    listen_public: bool,
    metrics_cache: float,
) -> None:
    """Start the daemon in the background (no-op when it is already running)."""
    from tmxd.daemon import control
    from tmxd.daemon.client import start_background

    # validate first
    _options(log_file, projects, settle_ms, max_wait_ms, listen, listen_public, metrics_cache)
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
        click.echo(f"tmxd is already running (pid {pid})")
        return
    pid = start_background(log_file, extra_args=extra)
    click.echo(f"tmxd started (pid {pid})")


@click.command()
def stop() -> None:
    """Stop the running daemon gracefully and wait until it has exited (exit 3 if none)."""
    from tmxd.daemon.client import stop_running

    pid = stop_running()
    click.echo(f"tmxd stopped (pid {pid})")


@click.command()
def reload() -> None:
    """Make the daemon re-read the project registry and the projects' configuration."""
    from tmxd.daemon import control

    pid = control.request("reload")["pid"]
    click.echo(f"tmxd (pid {pid}) is reloading")


@click.command()
@format_option("text", "json")
def status(fmt: str) -> None:
    """Show whether the daemon runs, what it watches and when its jobs run (exit 3 if not)."""
    from tmxd.daemon import control

    info = control.request("status")
    if fmt == "json":
        echo_json(info)
        return
    click.echo(
        f"tmxd {info['version']} {style('running', fg='green')} (pid {info['pid']}), "
        f"up {_duration(float(info['uptime_s']))}"
    )
    click.echo(f"  socket: {info['socket']}")
    if info.get("log_file"):
        click.echo(f"  log:    {info['log_file']}")
    projects = info.get("projects", [])
    click.echo(f"  projects: {len(projects)}")
    for project in projects:
        error = project.get("error")
        line = (
            f"    {project['root']} [{project['watch']}] "
            f"{project.get('transitions', 0)} transition(s), {project.get('notes', 0)} note(s)"
        )
        click.echo(line)
        if error:
            click.echo("      " + style(f"error: {error}", fg="red"))
        pilot = project.get("autopilot")
        if pilot:
            click.echo("      " + _autopilot_line(pilot))
    if info.get("prometheus"):
        click.echo(f"  prometheus: {info['prometheus']}")
    for job in info.get("jobs", []):
        last = job.get("last_run") or "never"
        click.echo(f"  job {job['name']}: next {job.get('next_run') or '-'}, last {last}")


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
            text += f", last: {breaker['reason']}"
        if state == "open":
            text += f", trial in {_duration(float(breaker['retry_in_s']))}"
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


def _tell_daemon() -> None:
    """Ask a running daemon to pick up the registry change; fine when none runs."""
    from tmxd.daemon import control
    from tmxd.errors import DaemonNotRunning

    try:
        control.request("reload", timeout=5)
    except DaemonNotRunning:
        return
    click.echo("the running daemon picks the change up now")


@click.group()
def watch() -> None:
    """The projects the daemon watches (persisted in the state dir)."""


@watch.command("add")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=".")
def watch_add(path: Path) -> None:
    """Watch the Task Master project at PATH (default: the current directory)."""
    from tmxd.daemon import registry

    root = registry.add_project(path)
    click.echo(f"watching {root}")
    _tell_daemon()


@watch.command("remove")
@click.argument("path", type=click.Path(path_type=Path), default=".")
def watch_remove(path: Path) -> None:
    """Stop watching the project at PATH."""
    from tmxd.daemon import registry
    from tmxd.errors import InputError

    if not registry.remove_project(path):
        raise InputError(f"{path.resolve()}: not a watched project; see `tmxd watch list`")
    click.echo(f"no longer watching {path.resolve()}")
    _tell_daemon()


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
        click.echo("no projects are watched; add one with `tmxd watch add PATH`")
    for project in projects:
        missing = "" if project.is_dir() else "  (missing)"
        click.echo(f"{project}{missing}")


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
@click.option("--dry-run", is_flag=True, help="Print the file and the commands; change nothing.")
@_platform_option
def service_install(dry_run: bool, platform_name: str) -> None:
    """Install, enable and start the service with the current Python interpreter."""
    from tmxd.daemon import service as svc

    plan = svc.install_plan(svc.detect(platform_name))
    _show_plan(plan, dry_run)
    if not dry_run:
        svc.execute(plan)
        click.echo(f"installed {plan.unit_path}")
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)


@service.command("uninstall")
@click.option("--dry-run", is_flag=True, help="Print the commands; change nothing.")
@_platform_option
def service_uninstall(dry_run: bool, platform_name: str) -> None:
    """Stop, disable and remove the service."""
    from tmxd.daemon import service as svc

    plan = svc.uninstall_plan(svc.detect(platform_name))
    _show_plan(plan, dry_run)
    if not dry_run:
        svc.execute(plan)
        click.echo(f"removed {plan.unit_path}")


def _show_plan(plan: Any, dry_run: bool) -> None:
    if not dry_run:
        return
    if plan.content is not None:
        click.echo(f"# would write {plan.unit_path}:")
        click.echo(plan.content.rstrip("\n"))
    else:
        click.echo(f"# would remove {plan.unit_path}")
    for argv in plan.commands:
        click.echo("# would run: " + " ".join(argv))
