"""What a run keeps in ``config.stash``: its settings, base directory, manager and the like.

Every plugin module (:mod:`pytest_jaws.plugin`, :mod:`~pytest_jaws.plugin.fixtures`,
:mod:`~pytest_jaws.plugin.reporting`) reaches the run's state through the keys and accessors here;
each is made once, on first use.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ..deploy.basedir import choose_basedir
from ..errors import PlanError, UnsafePathError
from ..host.once import FirstShown
from ..host.runonce import RunOnce
from ..report import outcomes
from ..sites.settings import Settings
from . import xdist
from .manager import MANAGER, DeploymentManager

SETTINGS = pytest.StashKey[Settings]()
#: A fresh base directory this run made (removed at the end when nothing is left up in it).
OWN_BASEDIR = pytest.StashKey[Path]()
BASEDIR = pytest.StashKey[tuple]()
REPORT = pytest.StashKey[dict]()
REPORT_ERROR = pytest.StashKey[str]()
FIRST = pytest.StashKey[FirstShown]()
ONCE = pytest.StashKey[RunOnce]()
TALLY = pytest.StashKey[outcomes.OutcomeTally]()
#: When the run started (seconds since the epoch, at pytest_configure), for the report.
RUN_START = pytest.StashKey[float]()

__all__ = ["BASEDIR", "FIRST", "MANAGER", "ONCE", "OWN_BASEDIR", "REPORT", "REPORT_ERROR",
           "SETTINGS", "TALLY", "basedir", "first_shown", "manager", "run_once"]


def basedir(config: pytest.Config) -> tuple[Path, Path | None]:
    """Return ``(basedir, shared)``: where the environments go, and the xdist shared directory.

    The shared directory holds the lock, state and progress files (pytest's temporary root).
    Workers get both from the controller.

    :raises pytest.UsageError: for a base directory pytest-jaws refuses to use.
    """
    handed = xdist.controller_values(config)
    if handed:
        return Path(handed["jaws_basedir"]), Path(handed["jaws_shared"])
    if BASEDIR not in config.stash:
        settings = config.stash[SETTINGS]
        # pytest's own temporary root: its tmpdir plugin keeps the TempPathFactory (made in
        # pytest_configure) on the config, with no public handle for a hook
        root = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]  # noqa: SLF001
        try:
            chosen, owned = choose_basedir(settings, root)
        except UnsafePathError as exc:
            raise pytest.UsageError(f"pytest-jaws: base directory: {exc}") from None
        if owned:
            config.stash[OWN_BASEDIR] = chosen
        shared = root if xdist.role(config) == "controller" else None
        config.stash[BASEDIR] = (chosen, shared)
    return config.stash[BASEDIR]


def manager(config: pytest.Config) -> DeploymentManager:
    """Return the run's :class:`~pytest_jaws.plugin.manager.DeploymentManager`, made on first use.

    :raises pytest.UsageError: when a plan cannot be made.
    """
    if MANAGER not in config.stash:
        settings = config.stash[SETTINGS]
        chosen, shared = basedir(config)
        try:
            config.stash[MANAGER] = DeploymentManager(
                settings, chosen, _progress(config),
                shared=xdist.SharedState(shared) if shared is not None else None,
                amend=config.hook.pytest_jaws_plan)
        except PlanError as exc:
            raise pytest.UsageError(f"pytest-jaws: {exc}") from None
    return config.stash[MANAGER]


def first_shown(config: pytest.Config) -> FirstShown:
    """Return the run's record of which test showed which long text first (xdist-wide)."""
    if FIRST not in config.stash:
        shared = basedir(config)[1] if xdist.role(config) != "single" else None
        config.stash[FIRST] = FirstShown(shared)
    return config.stash[FIRST]


def run_once(config: pytest.Config) -> RunOnce:
    """Return the run's record of actions done once per run (xdist-wide)."""
    if ONCE not in config.stash:
        shared = basedir(config)[1] if xdist.role(config) != "single" else None
        config.stash[ONCE] = RunOnce(shared)
    return config.stash[ONCE]


def _progress(config: pytest.Config):
    """Return ``progress(env, step, seconds)``, writing ``jaws [env] step (1.23 s)`` lines.

    They go to the terminal at once (from deploying threads; nothing with ``-q``).
    """
    lock = threading.Lock()
    tr = config.pluginmanager.get_plugin("terminalreporter")
    quiet = config.get_verbosity() < 0

    def progress(env: str, step: str, seconds: float) -> None:
        if tr is None or quiet:
            return
        with lock:
            tr.write_line(f"jaws [{env}] {step} ({seconds:.2f} s)")
            tr.flush()  # live: a pipe (CI log, a waiting test) sees it now, not at exit
    return progress
