"""``tmxd demo``: the runner and one module of steps per area of tmxd."""
