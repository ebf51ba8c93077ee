"""The hooks pytest-jaws adds to pytest; implement them in a ``conftest.py`` or a plugin.

They are declared as pluggy hookspecs and added in ``pytest_addhooks``, as pytest-xdist adds
its ``newhooks``.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_jaws_plan(plan, files) -> None:
    """Change what an environment's deployment writes, before it is applied.

    Called once per environment and deployment attempt, after pre-flight and before anything
    is written or started, in the process (xdist worker) and thread that deploys it; not
    called by ``--jaws-plan``.

    :param plan: the environment's :class:`~pytest_jaws.plan.planmodel.EnvironmentPlan` (frozen: read
        it, do not change it); what the suites check the deployment against.
    :param files: every file the deployment writes, ``{path (str): (text, owner role, mode)}``
        (owner role ``jaws``, ``jtm``... or ``""`` for the deploying user; mode an ``int``
        such as ``0o600``): the supervisord configurations, keys, shims and JAWS config files
        (:func:`pytest_jaws.render.render.render_files`). Change it in place (replace a text, add a
        file, remove one); files are written after the runtime is installed, so an added
        file can also replace an installed one.
    :returns: nothing (the return value is ignored).

    A conftest that breaks a deployment on purpose, e.g. a supervisord of the jtm role
    that identifies itself as someone else::

        def pytest_jaws_plan(plan, files):
            inst = plan.instances["jtm"]
            text, role, mode = files[str(inst.conf)]
            files[str(inst.conf)] = (text.replace(f"identifier={inst.identifier}",
                                                  "identifier=someone-else"), role, mode)
    """
