"""One install step run: its time limit, and its failure named by step, package and Python.

:func:`run_step` runs an argv (no shell) for at most :data:`STEP_TIMEOUT` seconds; an
:class:`~pytest_jaws.errors.InstallError` names what it could not do, the package pip's output
names and the Python version, with the output's tail, masked.
"""

from __future__ import annotations

import re
import shlex
import subprocess

from ..errors import InstallError
from ..keys import mask
from ..plan.planmodel import EnvironmentPlan

#: Seconds one pip or venv step may take before it fails with :class:`InstallError`.
STEP_TIMEOUT = 300.0


def run_step(argv: tuple[str, ...], why: str, plan: EnvironmentPlan,
             env: dict[str, str] | None = None) -> str:
    """Run ``argv`` (no shell) for the step ``why``; return its standard output.

    :param env: the environment of the process (default: this process's).
    :raises InstallError: when it exits non-zero (naming the package pip's output names, the
        Python version and the output's tail, masked) or runs over :data:`STEP_TIMEOUT` seconds.
    """
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=STEP_TIMEOUT,
                                stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        raise InstallError(f"environment {plan.env}: could not {why}: no result after "
                           f"{STEP_TIMEOUT:g} s ('{shlex.join(argv)}')") from None
    if result.returncode != 0:
        output = (result.stderr + result.stdout).strip()
        raise InstallError(f"environment {plan.env}: could not {why}{_culprit(output, plan)}: "
                           f"'{shlex.join(argv)}' exited {result.returncode}:\n"
                           + mask(output[-3000:]))
    return result.stdout


def _culprit(output: str, plan: EnvironmentPlan) -> str:
    """`` (package X for Python 3.11)`` when pip's output names the dependency that failed."""
    if "Invalid version: ''" in output:
        return (" (the package has no version: JAWS's setup.py reads it from `git describe`; "
                "give --jaws-source a git checkout, not an exported tree)")
    for pattern in (r"No matching distribution found for ([^\s;]+)",
                    r"Failed to build ([^\s]+)", r"Failed building wheel for ([^\s]+)",
                    r"error: subprocess-exited-with-error[\s\S]*?Building wheel for ([^\s]+)",
                    r"ResolutionImpossible[\s\S]*?requested ([^\s]+)"):
        found = re.search(pattern, output)
        if found:
            return f" (package {found.group(1)} for {_python_version(plan)})"
    return f" ({_python_version(plan)})"


def _python_version(plan: EnvironmentPlan) -> str:
    try:
        out = subprocess.run([plan.python, "-c", "import platform;print(platform.python_version())"],
                             capture_output=True, text=True, timeout=10)
        return f"Python {out.stdout.strip() or '?'}"
    except (OSError, subprocess.SubprocessError):
        return f"Python of {plan.python}"

