"""Autopilot: run a Task Master project's ready tasks through an agent.

``runner`` (the loops), ``agents`` (Claude Code and command adapters), ``routing``,
``resilience`` (backoff, circuit breaker), ``worktrees``, ``validation``, ``prompt``,
``state`` (claims, approvals, breaker file) and ``config`` (the ``[autopilot]`` table).
"""
