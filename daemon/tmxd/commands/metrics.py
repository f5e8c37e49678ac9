"""``tmxd metrics``: the database's counters, Prometheus export, pruning."""

from __future__ import annotations

from pathlib import Path

import click

from tmxd.commands.common import echo_json, format_option
from tmxd.commands.report import db_option


@click.group("metrics", invoke_without_command=True)
@click.option("--prometheus", is_flag=True, help="Print every metric in Prometheus' text format.")
@click.option(
    "--textfile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the Prometheus text atomically to this file (node_exporter textfile collector; "
    "name it *.prom).",
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
    from tmxd.metrics.files import write_report
    from tmxd.metrics.prometheus import exposition_for
    from tmxd.paths import db_path

    path = db or db_path()
    if prometheus or textfile:
        text = exposition_for(path)
        if textfile:
            write_report(textfile, text)
        if prometheus:
            click.echo(text, nl=False)
        return
    _show_counts(path, fmt)


def _show_counts(path: Path, fmt: str) -> None:
    from tmxd.metrics.recorder import Recorder
    from tmxd.metrics.schema import schema_version, table_counts

    with Recorder.open(path) as recorder:
        counts = table_counts(recorder.db)
    size = path.stat().st_size if path.exists() else 0
    if fmt == "json":
        echo_json({"database": str(path), "schema": schema_version(), "bytes": size, **counts})
        return
    click.echo(f"database  {path}  (schema {schema_version()}, {size:,} bytes)")
    width = max(len(name) for name in counts)
    for name, count in counts.items():
        click.echo(f"  {name.ljust(width)}  {count:>10,}")


@metrics_group.command("prune")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    help="Delete rows older than this (e.g. 180d, 12w); running executions are kept.",
)
@db_option
@format_option("text", "json")
@click.pass_context
def prune_command(ctx: click.Context, older_than: str, db: Path | None, fmt: str) -> None:
    """Delete old metrics rows and give the space back (incremental vacuum)."""
    from tmxd.metrics.recorder import Recorder
    from tmxd.metrics.timespec import parse_span

    span = parse_span(older_than, "--older-than")
    with Recorder.open(db or ctx.obj.get("db")) as recorder:
        deleted = recorder.prune(span)
    total = sum(deleted.values())
    if fmt == "json":
        echo_json({"older_than": older_than, "deleted": deleted, "total": total})
        return
    detail = ", ".join(f"{n} {table}" for table, n in deleted.items() if n)
    click.echo(f"deleted {total:,} rows" + (f" ({detail})" if detail else ""))
