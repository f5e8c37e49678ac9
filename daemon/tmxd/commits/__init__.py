"""From a commit to its task: git hooks, their spool, trailer parsing, notes and closes."""
