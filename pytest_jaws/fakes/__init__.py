"""Fake JAWS services: stand-ins that answer over HTTP exactly as the real ones do.

One module per service, each runnable as ``python -m pytest_jaws.fakes.<name>``. They use the
standard library only, so they start fast under any interpreter that can import this package.
"""
