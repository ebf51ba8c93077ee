"""A pytest plugin for ``python benchmarks/run.py --profile``: where the main job's time goes.

Loaded with ``-p phases_plugin`` (benchmarks/ on PYTHONPATH). Records monotonic timestamps
at pytest's milestones and writes them, as seconds since the interpreter started, to the
JSON file named by ``$JAWS_BENCH_PHASES`` when pytest unconfigures.
"""

from __future__ import annotations

import json
import os
import time

import pytest

try:  # seconds since the interpreter started, measured from the process start time
    import psutil
    _START = psutil.Process().create_time()
    _OFFSET = time.time() - time.monotonic()
except Exception:  # noqa: BLE001 - then count from the plugin's import
    _START, _OFFSET = None, None

_T0 = time.monotonic()
marks: dict[str, float] = {}


def _now() -> float:
    if _START is None:
        return time.monotonic() - _T0
    return time.monotonic() + _OFFSET - _START


def _mark(name: str) -> None:
    marks.setdefault(name, _now())


marks["plugin imported"] = _now()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    _mark("configure")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _mark("session start")


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    _mark("collection done")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _mark("first test setup")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    _mark("first test call (deployed)")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    if nextitem is None:
        _mark("last test done")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    _mark("sessionfinish start (teardown begins)")


@pytest.hookimpl(tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    _mark("terminal summary start")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    _mark("unconfigure")
    path = os.environ.get("JAWS_BENCH_PHASES")
    if path:
        with open(path, "w") as fh:
            json.dump(marks, fh, indent=1)
