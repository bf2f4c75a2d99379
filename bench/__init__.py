"""Benchmarks of hushan against raw SQLite and a bare ASGI app (`python -m bench.engine`)."""
