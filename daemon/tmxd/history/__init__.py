"""What changed in tasks.json, recorded once: snapshots, their diff, the ledger, observing.

Shared by the daemon, the autopilot and one-shot commands: ``snapshot`` reduces a
tasks file to every task's status, title and dependencies and diffs two of them;
``ledger`` keeps the last snapshot recorded for each project; ``observe`` turns what
changed since into transition rows, and lets a writer have its own changes
attributed to it (:func:`tmxd.history.observe.attributed`).
"""
