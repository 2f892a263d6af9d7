"""The benchmark suite: microasgi against Starlette and a hand-written raw ASGI floor.

Run it with ``python benchmarks/run.py`` (see benchmarks/README.md). Nothing in the
package under test imports this one.
"""
