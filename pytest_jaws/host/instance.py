"""One supervisord instance as a process: how it is started, as its role user, and its pidfile.

What is run (``supervisord -c``, and the operator's ``supervisorctl``), with which environment,
and the start itself after proving the switch to the role user. Talking to the running
instance is :mod:`pytest_jaws.host.supervisor`'s.
"""

from __future__ import annotations

import pwd
import shutil
import subprocess

from ..errors import StartError, SwitchError, UnsafePathError
from ..keys import mask
from ..plan.plan import MARKER_VARIABLE, ROLE_PATH
from ..plan.planmodel import EnvironmentPlan, InstancePlan
from . import become, saferead


def role_environment(plan: EnvironmentPlan, inst: InstancePlan) -> dict[str, str]:
    """Return the whole environment a supervisord (and through it every program) starts with.

    PATH, HOME, USER, LOGNAME, LANG and the deployment marker. The caller's environment (CI
    secrets, the ``JAWS_SUPERVISOR_KEY_*`` variables) is never passed on.
    """
    try:
        home = pwd.getpwnam(inst.user).pw_dir
    except KeyError:
        home = "/"
    return {"PATH": ROLE_PATH, "HOME": home, "USER": inst.user, "LOGNAME": inst.user,
            "LANG": "C.UTF-8", MARKER_VARIABLE: plan.marker}


def start_argv(plan: EnvironmentPlan, inst: InstancePlan) -> list[str]:
    """``[become...] <dir>/bin/supervisord -c <dir>/supervisord-<role>.conf``."""
    return [*inst.become, str(inst.directory / "bin" / "supervisord"), "-c", str(inst.conf)]


def ctl_argv(inst: InstancePlan, *args: str) -> list[str]:
    """``<dir>/bin/supervisorctl -c <dir>/supervisord-<role>.conf <args>``: the operator's command.

    Printed for a person only behind the site's switch to the role user
    (:func:`pytest_jaws.deploy.commands.as_role_user`; the plan: ``[*inst.become, *ctl_argv(...)]``):
    supervisorctl imports what the configuration's ``[ctlplugin:x]`` names and the role user
    may edit that file, so run as root it would run the role's code as root. Typed without the
    switch, the shim itself drops root (:func:`pytest_jaws.render.render.render_shim`).
    """
    return [str(inst.directory / "bin" / "supervisorctl"), "-c", str(inst.conf), *args]


def start_instance(plan: EnvironmentPlan, inst: InstancePlan, timeout: float = 30.0) -> None:
    """Run :func:`start_argv` (supervisord daemonizes), as the role user.

    Only with :func:`role_environment`.

    The user switch (``become``) is proven first (:func:`pytest_jaws.host.become.prove`): one that
    fails or would prompt for a password fails here within seconds, and the start command
    itself runs without a terminal and with stdin closed.

    :raises StartError: when the switch does not work (``could not become <user>: ...``) or
        the command exits non-zero, with its output (keys masked).
    """
    if inst.become:
        try:
            become.prove(inst.become, inst.user)
        except SwitchError as exc:
            raise StartError(f"{inst.where} cannot be started: {exc}") from None
    argv = start_argv(plan, inst)
    argv[0] = shutil.which(argv[0]) or argv[0]  # found on the caller's PATH, not passed on
    env = role_environment(plan, inst)
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=str(inst.directory),
                              start_new_session=True)
    except subprocess.TimeoutExpired:
        raise StartError(f"{inst.where}: "
                         f"'{' '.join(argv)}' did not return within {timeout:g} s") from None
    if done.returncode != 0:
        out = mask((done.stderr + done.stdout).strip())
        # supervisord's own words when its port is bound (supervisor/options.py)
        race = ("\nport {port} was free at pre-flight: something bound it since, e.g. another "
                "run with the same port offset started at the same moment; deploy with "
                "--jaws-port-offset=auto").format(port=inst.port) \
            if "Another program is already listening on a port" in out else ""
        raise StartError(
            f"{inst.where} failed to start: "
            f"'{' '.join(argv)}' exited {done.returncode}:\n{out}{race}"
        )


def read_pid(inst: InstancePlan) -> int | None:
    """Return the PID in the instance's pidfile, or None.

    None when there is none, it is unreadable, or it is not a plain file of the role user (read
    through :mod:`pytest_jaws.host.safefs`, 64 bytes).
    """
    try:
        return int((saferead.read_text(inst.pidfile, 64) or "").strip())
    except (UnsafePathError, ValueError):
        return None

