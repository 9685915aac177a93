"""Timing and scaling measurements of the product, run by hand, never by the test suite.

Each module is one command (``python -m benchmarks.<name> --help``); the
figures and how to read them are in docs/benchmarks.md.
"""
