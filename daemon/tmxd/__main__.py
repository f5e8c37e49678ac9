from __future__ import annotations

from tmxd.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
