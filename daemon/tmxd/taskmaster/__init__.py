"""Task Master's files, read and written compatibly.

``project`` finds a project and its active tag, ``document`` parses every layout of
``tasks.json``, ``store`` is the only writer (Task Master's lock, atomic, minimal diff),
``ops`` holds set-status / notes / next with the CLI's semantics, ``deps`` the dependency
checks. Nothing here imports click.
"""
