"""The service venvs of the ``venv`` runtime, brought to the checkout.

Wheels built from the checkout into the wheelhouse once per content
(:mod:`pytest_jaws.install.wheels`), then put into each service venv whose record
(:mod:`pytest_jaws.install.venvstate`) says it does not hold them, with what they need.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import InstallError
from ..plan.installspec import PackageChange
from ..plan.planmodel import EnvironmentPlan
from . import venvstate, wheels
from .installsteps import IMPORT_NAMES, build_argv, create_argv, deps_argv, needed, reinstall_argv, wheelhouse
from .runstep import run_step

_build_lock = threading.Lock()


def create_venv(plan: EnvironmentPlan, path: Path, why: str,
                ran: Callable[[str, float], None]) -> None:
    """Create the venv at ``path`` unless it has a ``bin/python``; ``ran(why, began)`` when created.

    :raises InstallError: as :func:`pytest_jaws.install.runstep.run_step`.
    """
    if not (path / "bin" / "python").exists():
        began = time.monotonic()
        run_step(create_argv(plan, path), why, plan)
        ran(why, began)


def install_service_venvs(plan: EnvironmentPlan,
                          ran: Callable[[str, float], None]) -> list[PackageChange]:
    """Build what is not in the wheelhouse, then bring each service venv to the checkout.

    :returns: per package, what the venvs held before and hold now.
    """
    house = wheelhouse(plan)
    built: dict[str, Path] = {}
    new: set[str] = set()
    contents: dict[str, wheels.Content] = {}
    for pkg in needed(plan):
        name = IMPORT_NAMES[pkg]
        try:
            contents[pkg] = wheels.content(plan.source / pkg)
        except OSError as exc:
            raise InstallError(f"environment {plan.env}: could not read {plan.source / pkg}: "
                               f"{exc}") from None
        key = contents[pkg].key
        why = f"build the {name} wheel from {plan.source / pkg}"
        with _build_lock:  # the environments of one run share the wheelhouse
            began = time.monotonic()
            found = wheels.cached_wheel(house, name, key)
            if found is None:
                def build(out: Path, env: dict[str, str], pkg: str = pkg, why: str = why) -> None:
                    run_step(build_argv(plan, pkg, out), why, plan, env)
                found = wheels.build_into_cache(house, name, key, build)
                new.add(pkg)
                ran(why, began)
        built[pkg] = found
    changes = []
    for venv in plan.venvs.values():
        create_venv(plan, venv.path, f"create the {venv.name} venv", ran)
        began = time.monotonic()
        names = ", ".join(IMPORT_NAMES[p] for p in venv.packages)
        held = venvstate.read(venv.path)
        before = {p: wheels.installed_version(venv.path, IMPORT_NAMES[p]) for p in venv.packages}
        stale = [p for p in venv.packages
                 if held.get(IMPORT_NAMES[p], {}).get("key") != contents[p].key
                 or before[p] != wheels.wheel_version(built[p])]
        if stale:
            why = f"install {', '.join(IMPORT_NAMES[p] for p in stale)} into the {venv.name} venv"
            run_step(reinstall_argv(plan, venv.path, [str(built[p]) for p in stale]), why, plan)
            run_step(deps_argv(plan, venv.path, [str(built[p]) for p in venv.packages]),
                     f"install what {names} need into the {venv.name} venv", plan)
            now = time.time()  # when the files went in: what a program must have started after
            venvstate.write(venv.path, {IMPORT_NAMES[p]: {
                "key": contents[p].key, "files": contents[p].files,
                "version": wheels.wheel_version(built[p]),
                "since": held[IMPORT_NAMES[p]]["since"]
                if held.get(IMPORT_NAMES[p], {}).get("files") == contents[p].files
                and "since" in held[IMPORT_NAMES[p]] else now} for p in venv.packages})
            ran(why, began)
        changes += [PackageChange(IMPORT_NAMES[p], (venv.name,), before[p],
                                  wheels.wheel_version(built[p]),
                                  held.get(IMPORT_NAMES[p], {}).get("files") != contents[p].files,
                                  p in stale, p in new)
                    for p in venv.packages]
    return venvstate.merge(changes)

