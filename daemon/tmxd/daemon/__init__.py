"""The long-running daemon: lifecycle, per-project engine, watching, timers, control socket."""
