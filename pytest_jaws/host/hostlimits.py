"""The process limits supervisord needs, checked before anything is deployed.

supervisord refuses to start when it cannot raise its open-files limit to ``minfds`` (1024)
or its process limit to ``minprocs`` (200): the defaults of ``[supervisord]`` in
supervisor/options.py (``ServerOptions.set_rlimits_or_exit``; pytest-jaws's configurations do
not change them). It can raise a soft limit up to the hard one, and root with
CAP_SYS_RESOURCE the hard one too. Under ``ulimit -n 64`` its own message names the limit it
tried (1024) as the one the environment allows, and every test errors; checked here first, it
is one usage error that names the limit, its value and what to do.
"""

from __future__ import annotations

import resource
import subprocess
import sys

from ..errors import OptionsError

#: ``(limit, name, ulimit flag, supervisord's minimum, its setting)``.
LIMITS = ((resource.RLIMIT_NOFILE, "open files", "-n", 1024, "minfds"),
          (resource.RLIMIT_NPROC, "processes", "-u", 200, "minprocs"))


def _may_raise_hard(res: int, to: int) -> bool:
    """Tell whether this user may raise the hard limit ``res`` to ``to`` (root, capability).

    Tried in a child process, so that this one's limits stay as they are.
    """
    code = (f"import resource; s, h = resource.getrlimit({res}); "
            f"resource.setrlimit({res}, ({to}, {to}))")
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def check_limits() -> None:
    """Refuse a run whose limits supervisord cannot raise to its minimums.

    :raises OptionsError: naming the limit, its soft and hard values, supervisord's minimum and
        what to do.
    """
    for res, name, flag, minimum, setting in LIMITS:
        soft, hard = resource.getrlimit(res)
        if hard == resource.RLIM_INFINITY or hard >= minimum or _may_raise_hard(res, minimum):
            continue
        raise OptionsError(
            f"the limit of {name} is {soft} (ulimit {flag}; hard limit {hard}): supervisord "
            f"needs at least {minimum} (its {setting}) and cannot raise it past the hard "
            f"limit; run pytest where ulimit -H{flag[1]} is at least {minimum} (e.g. a shell "
            f"without 'ulimit {flag} {soft}')")
