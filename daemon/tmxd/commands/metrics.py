"""``tmxd metrics``: the database's counters, Prometheus export, pruning."""

from __future__ import annotations

from pathlib import Path

import click

from tmxd.commands.common import echo, echo_json, format_option
from tmxd.commands.report import db_option, readable_db


@click.group("metrics", invoke_without_command=True)
@click.option("--prometheus", is_flag=True, help="Print every metric in Prometheus' text format.")
@click.option(
    "--textfile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the Prometheus text atomically to this file and print nothing "
    "(node_exporter textfile collector; name it *.prom).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format of the table counts.",
)
@db_option
@click.pass_context
def metrics_group(
    ctx: click.Context, prometheus: bool, textfile: Path | None, fmt: str, db: Path | None
) -> None:
    """Show what the metrics database holds, or export it for Prometheus.

    The daemon can also serve the same text on http://127.0.0.1:PORT/metrics.
    """
    ctx.ensure_object(dict)
    ctx.obj["db"] = db
    if ctx.invoked_subcommand is not None:
        return
    from tmxd.metrics.files import check_folder, write_report
    from tmxd.metrics.prometheus import exposition_for

    path = readable_db(db)
    if textfile:
        check_folder(textfile)  # a missing folder: exit 2, before anything is printed
    if prometheus or textfile:
        text = exposition_for(path)
        if textfile:
            write_report(textfile, text, shared=True)
        if prometheus:
            echo(text, nl=False)
        return
    _show_counts(path, fmt)


def _show_counts(path: Path, fmt: str) -> None:
    from tmxd.metrics.schema import connect, schema_version, table_counts

    db = connect(path if path.exists() else Path(":memory:"))
    try:
        counts = table_counts(db)
    finally:
        db.close()
    size = path.stat().st_size if path.exists() else 0
    if fmt == "json":
        echo_json({"database": str(path), "schema": schema_version(), "bytes": size, **counts})
        return
    echo(f"database  {path}  (schema {schema_version()}, {size:,} bytes)")
    width = max(len(name) for name in counts)
    for name, count in counts.items():
        echo(f"  {name.ljust(width)}  {count:>10,}")


@metrics_group.command("prune")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    help="Delete rows older than this (e.g. 180d, 12w); running executions and each task's "
    "current status are kept.",
)
@click.option("--dry-run", is_flag=True, help="Only say how many rows would be deleted.")
@click.option(
    "--yes", is_flag=True, help="Needed when the prune would delete everything (or is given 0d)."
)
@db_option
@format_option("text", "json")
@click.pass_context
def prune_command(
    ctx: click.Context, older_than: str, dry_run: bool, yes: bool, db: Path | None, fmt: str
) -> None:
    """Delete old metrics rows and give the space back (incremental vacuum)."""
    from tmxd.errors import InputError
    from tmxd.metrics.recorder import Recorder
    from tmxd.metrics.timespec import parse_span

    span = parse_span(older_than, "--older-than")
    path = readable_db(db or ctx.obj.get("db"))
    if not path.exists():
        _say_pruned(fmt, older_than, {}, dry_run, f"nothing to prune: {path} does not exist yet")
        return
    with Recorder.open(path) as recorder:
        would = recorder.prune(span, dry_run=True)
        total = sum(would.values())
        if dry_run:
            _say_pruned(
                fmt, older_than, would, True, f"would delete {total:,} rows{_detail(would)}"
            )
            return
        if total and not yes and (not span or recorder.prune_leaves_nothing(would)):
            raise InputError(
                f"--older-than {older_than} would delete all {total:,} rows{_detail(would)}; "
                "add --yes to delete them, or --dry-run to see what goes"
            )
        deleted = recorder.prune(span)
    done = f"deleted {sum(deleted.values()):,} rows{_detail(deleted)}"
    _say_pruned(fmt, older_than, deleted, False, done)


def _say_pruned(
    fmt: str, older_than: str, counts: dict[str, int], dry_run: bool, text: str
) -> None:
    if fmt == "json":
        key = "would_delete" if dry_run else "deleted"
        echo_json({"older_than": older_than, key: counts, "total": sum(counts.values())})
    else:
        echo(text)


def _detail(counts: dict[str, int]) -> str:
    detail = ", ".join(f"{n:,} {table}" for table, n in counts.items() if n)
    return f" ({detail})" if detail else ""
