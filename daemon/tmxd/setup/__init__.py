"""Wiring a project up: ``tmxd init``, ``tmxd doctor`` and the Claude Code hook."""
