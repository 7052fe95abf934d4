"""The demo: one consortium, Fatima's journey, synthetic people, the demo's tokens.

Only entry points (the CLI, the tests, the benchmarks) import this package; the library
knows no organisation by name.
"""
