"""One module per command; each exposes `run(...) -> int` (the exit code)."""
