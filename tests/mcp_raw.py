"""``tmxd mcp`` as a real process spoken to in raw JSON-RPC lines on its stdin and stdout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from helpers import subprocess_env, tmxd_argv

HANDSHAKE = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
]


def raw_server(root: Path, *messages: dict[str, Any]) -> subprocess.Popen[str]:
    """`tmxd mcp` fed the handshake and ``messages`` as raw JSON-RPC lines (stdin stays open)."""
    proc = subprocess.Popen(
        tmxd_argv("mcp"),
        cwd=root,
        env=subprocess_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write("".join(json.dumps(m) + "\n" for m in (*HANDSHAKE, *messages)))
    proc.stdin.flush()
    return proc


def call_tool(proc: subprocess.Popen[str], call_id: int, name: str, **args: Any) -> dict[str, Any]:
    """One ``tools/call`` on a server whose earlier replies have all been read: its result."""
    assert proc.stdin is not None and proc.stdout is not None
    message = {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": args},
    }
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()
    reply = json.loads(proc.stdout.readline())
    assert reply["id"] == call_id, reply
    result: dict[str, Any] = reply["result"]
    return result
