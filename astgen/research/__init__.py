"""The research harness: the token-level baseline's decoding, metrics, a sandbox for executable
checks, and the comparison report (`astgen compare`).  Imports nothing heavy at import time."""

__all__: list[str] = []
