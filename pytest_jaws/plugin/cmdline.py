"""``--jaws-plan`` and ``--jaws-down``: what a run does instead of the tests.

``--jaws-plan`` prints (and with ``--jaws-plan-dir`` writes) the plan of every selected
environment and executes nothing; ``--jaws-down`` takes down a deployment left up. Both are
:func:`pytest_cmdline_main`, imported into :mod:`pytest_jaws.plugin` (the entry point) so that
pytest finds it there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ..deploy import down
from ..deploy.basedir import plan_basedir
from ..errors import OptionsError, PlanError, TeardownError, UnsafePathError
from ..keys import mask
from ..plan.plan import make_plan
from ..render import render
from ..report import planview
from .options import resolve
from .optionvalues import option_values


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config):
    """Run ``--jaws-plan`` or ``--jaws-down`` instead of the tests.

    ``--jaws-plan``: print the plan of every selected environment, execute nothing, exit 0.
    ``--jaws-down``: take down a deployment left up, run no test.
    """
    if config.getoption("jaws_down"):
        return _take_down(config)
    if not config.getoption("jaws_plan"):
        return None
    try:
        settings = resolve(option_values(config), config.rootpath, check_users=False)
        plans = [make_plan(settings.model, settings.site, env, plan_basedir(settings),
                           port_offset=settings.port_offset,
                           source=settings.source, cromwell_jar=settings.cromwell_jar)
                 for env in settings.envs]
        for plan in plans:
            render.render_files(plan, dict.fromkeys(plan.instances, "key"))
    except (OptionsError, PlanError) as exc:
        sys.stderr.write(f"ERROR: pytest-jaws: {exc}\n")
        return pytest.ExitCode.USAGE_ERROR
    description = settings.model.sites[settings.site].description
    for plan in plans:
        sys.stdout.write(planview.plan_text(plan, description))
        target = config.getoption("jaws_plan_dir") or config.getini("jaws_plan_dir")
        if target:
            try:
                written = planview.write_plan_files(plan, Path(target))
            except (OSError, UnsafePathError) as exc:
                sys.stderr.write(f"ERROR: pytest-jaws: --jaws-plan-dir {target}: could not write "
                                 f"the plan files: {exc}\n")
                return pytest.ExitCode.USAGE_ERROR
            sys.stdout.write(f"-- {len(written)} files written under {target}\n")
    sys.stdout.flush()
    return pytest.ExitCode.OK


def _take_down(config: pytest.Config):
    try:
        settings = resolve(option_values(config), config.rootpath, check_users=False)
    except OptionsError as exc:
        sys.stderr.write(f"ERROR: pytest-jaws: {exc}\n")
        return pytest.ExitCode.USAGE_ERROR
    try:
        for line in down.take_down(settings):
            sys.stdout.write(line + "\n")
    except (TeardownError, UnsafePathError) as exc:
        sys.stderr.write(f"ERROR: pytest-jaws: {mask(str(exc))}\n")
        return pytest.ExitCode.TESTS_FAILED
    return pytest.ExitCode.OK
