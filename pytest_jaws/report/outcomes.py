"""Test outcomes per environment, for the run report.

Passed, failed, errors, skipped and the ids of the tests that did not pass.

:class:`OutcomeTally` is a plugin object (registered by :mod:`pytest_jaws.plugin`) that reads
every test report; a report belongs to the environment its item was parametrized with
(``jaws_env``), which :func:`tag` records in the report's ``user_properties`` so that it also
crosses from xdist workers to the controller.
"""

from __future__ import annotations

#: The ``user_properties`` name that carries a report's environment.
ENV_PROPERTY = "jaws_env"


def tag(report, env: str | None) -> None:
    """Record ``env`` (the item's ``jaws_env`` parameter) in ``report.user_properties``."""
    if env is not None and (ENV_PROPERTY, env) not in report.user_properties:
        report.user_properties.append((ENV_PROPERTY, env))


def empty() -> dict:
    """Return ``{"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "failing": [], ...}``.

    ``skip_reasons`` maps each reason a test was skipped for to the ids of those tests.
    """
    return {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "failing": [],
            "skip_reasons": {}}


def skip_reason(report) -> str:
    """Return why a skipped test report was skipped: pytest's reason, without ``Skipped: ``."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(text).removeprefix("Skipped: ")


class OutcomeTally:
    """Counts outcomes per environment as pytest's terminal summary counts them.

    A failed or passed call, a skip in setup or call, an error in setup or teardown.

    ``by_env`` maps an environment name to :func:`empty`'s shape; ``failing`` lists node ids.
    """

    def __init__(self) -> None:
        self.by_env: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report) -> None:
        """Count one phase's report of a test of an environment (pytest hook)."""
        env = dict(report.user_properties).get(ENV_PROPERTY)
        if env is None:
            return
        tally = self.by_env.setdefault(env, empty())
        if report.when == "call":
            kind = "passed" if report.passed else "failed" if report.failed else "skipped"
        elif report.failed:
            kind = "errors"
        elif report.skipped and report.when == "setup":
            kind = "skipped"
        else:
            return
        tally[kind] += 1
        if kind in ("failed", "errors") and report.nodeid not in tally["failing"]:
            tally["failing"].append(report.nodeid)
        if kind == "skipped":
            tally["skip_reasons"].setdefault(skip_reason(report), []).append(report.nodeid)
