"""The metrics part of ``tmxd demo``: the report over what the earlier steps recorded."""

from __future__ import annotations

import re

from tmxd.demo.context import DemoContext


def step_report(ctx: DemoContext) -> None:
    ctx.say("Every transition, commit and agent run went to SQLite; the report summarises it.")
    proc = ctx.tmxd("report", "--since", "1d", "-p", str(ctx.root))
    if proc.stdout.startswith("nothing recorded"):
        ctx.say("(Nothing was recorded: hooks or a running daemon record as you work.)")
    else:
        ctx.say("The same as one self-contained HTML page with charts:")
        ctx.tmxd("report", "--since", "1d", "--format", "html", "-o", "report.html")
        page = (ctx.root / "report.html").read_text(encoding="utf-8")
        charts = len(re.findall(r"<svg ", page))
        ctx.say(f"report.html: {len(page):,} bytes, {charts} inline SVG charts, no network needed.")
        (ctx.root / "report.html").unlink()
    ctx.say("What the database holds (it opens as-is in sqlite3 or Datasette):")
    ctx.tmxd("metrics")
