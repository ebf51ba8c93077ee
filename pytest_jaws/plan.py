"""The deployment plan of one environment: every path, port, user and command, as plain data.

A plan is computed from the validated site model (:mod:`pytest_jaws.sites`) without touching
the machine, except to look up the current user name. :mod:`pytest_jaws.render` turns it into
file contents; :mod:`pytest_jaws.deploy` applies it.
"""

from __future__ import annotations

import getpass
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .sites import ROLES, SitesFile

#: Environment variable set in every process a deployment starts (supervisord and, through
#: its ``environment=``, every program), so leftovers can be found again by PID.
MARKER_VARIABLE = "JAWS_DEPLOYMENT"


class PlanError(ValueError):
    """A plan that cannot be made: bad port offset, unknown template variable, and so on."""


@dataclass(frozen=True)
class ProgramPlan:
    """One supervised program.

    ``port`` is a TCP port or None (jaws-site, jtm); ``health_path`` the HTTP path probed;
    ``command`` the argv that the program's ``shim`` (``<dir>/shims/<program>-<env>``, what
    supervisord runs, as in JAWS's own deployment) ``exec``-s; times are seconds.
    """

    name: str
    role: str
    port: int | None
    health_path: str | None
    command: tuple[str, ...]
    startsecs: int
    startretries: int
    stopwaitsecs: int
    stdout_log: Path
    stderr_log: Path
    shim: Path

    @property
    def url(self) -> str | None:
        """``http://<bind>:<port>`` for a program with a port, else None."""
        return None if self.port is None else f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class InstancePlan:
    """One supervisord instance (``supervisord-jaws`` or ``supervisord-jtm``).

    ``port`` is its inet_http_server TCP port; ``user`` the Unix user it runs as;
    ``become`` the argv prefix that runs a command as that user (empty: current user).
    """

    role: str
    name: str
    port: int
    bind: str
    user: str
    group: str | None
    become: tuple[str, ...]
    identifier: str
    username: str
    key_variable: str
    conf: Path
    key_file: Path
    state_dir: Path
    logfile: Path
    pidfile: Path
    programs: tuple[ProgramPlan, ...]

    @property
    def serverurl(self) -> str:
        """The XML-RPC server URL, ``http://127.0.0.1:<port>`` (loopback only)."""
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class EnvironmentPlan:
    """Everything about one environment of one site under one base directory.

    ``python`` is the interpreter of supervisord and the fakes; ``pythonpath`` the directory
    the ``copy`` runtime puts supervisor and the fakes in (None: the interpreter's own);
    ``marker`` the value of :data:`MARKER_VARIABLE` in every process of the deployment.
    """

    site: str
    env: str
    fake: bool
    directory: Path
    group: str
    python: str
    pythonpath: Path | None
    marker: str
    token: str
    instances: dict[str, InstancePlan] = field(default_factory=dict)

    @property
    def programs(self) -> dict[str, ProgramPlan]:
        """Every program of both instances, by name."""
        return {p.name: p for inst in self.instances.values() for p in inst.programs}

    @property
    def ports(self) -> dict[str, int]:
        """``{service or instance name: port}`` for everything that listens."""
        out = {i.name: i.port for i in self.instances.values()}
        out.update({p.name: p.port for p in self.programs.values() if p.port is not None})
        return out


def key_variable(site: str, env: str, role: str) -> str:
    """Name of the environment variable that may hold a supervisord key.

    ``JAWS_SUPERVISOR_KEY_<SITE>_<ENV>_<ROLE>``, upper case, ``-`` as ``_``
    (e.g. ``JAWS_SUPERVISOR_KEY_CORI_DEV_JTM``).
    """
    return "_".join(["JAWS_SUPERVISOR_KEY", site, env, role]).upper().replace("-", "_")


def shifted_ports(model: SitesFile, env: str, offset: int) -> dict[str, int]:
    """The environment's port row shifted by ``offset``.

    :raises PlanError: when a shifted port leaves 1-65535 (naming the port and the offset).
    """
    out = {}
    for name, port in model.ports[env].by_name().items():
        moved = port + offset
        if not 1 <= moved <= 65535:
            raise PlanError(
                f"--jaws-port-offset {offset} moves ports.{env}.{name} ({port}) to {moved}, "
                "outside 1-65535; choose a smaller offset"
            )
        out[name] = moved
    return out


def _become(template: str | None, user: str, current: str) -> tuple[str, ...]:
    if not template or user == current:
        return ()
    try:
        return tuple(shlex.split(template.format(user=user)))
    except (KeyError, IndexError, ValueError) as exc:
        raise PlanError(f"become template {template!r}: unknown variable {exc}") from None


def make_plan(
    model: SitesFile,
    site_name: str,
    env: str,
    basedir: Path,
    *,
    port_offset: int = 0,
    python: str | None = None,
    current_user: str | None = None,
) -> EnvironmentPlan:
    """Compute the plan of one environment.

    :param basedir: where ``jaws-supervisord-<env>/`` is created.
    :param port_offset: added to every port (fake sites only; the caller checks).
    :param python: interpreter for supervisord and the fakes (default: the running one).
    :raises PlanError: when the plan cannot be made.
    """
    site = model.sites[site_name]
    current = current_user or getpass.getuser()
    python = python or site.python or sys.executable
    ports = shifted_ports(model, env, port_offset)
    directory = Path(basedir).absolute() / f"jaws-supervisord-{env}"
    token = f"probe-{site_name}-{env}"
    cromwell_url = f"http://127.0.0.1:{ports['cromwell']}"
    heartbeat = directory / "jaws" / "jaws-site.heartbeat"
    instances = {}
    for role in ROLES:
        role_spec = getattr(site.roles, role)
        user = role_spec.user or current
        state_dir = directory / role
        programs = []
        for name in getattr(site.programs, role):
            service = model.services[name]
            port = ports[service.port] if service.port else None
            override = site.overrides.get(name)
            if override and override.command:
                command = tuple(shlex.split(override.command))
            else:
                command = (python, "-m", f"pytest_jaws.fakes.{service.fake}",
                           "--site", site_name, "--env", env, "--bind", site.bind,
                           "--cromwell-url", cromwell_url, "--heartbeat", str(heartbeat),
                           "--token", token)
                if port is not None:
                    command += ("--port", str(port))
            if override:
                command += tuple(override.args)
            startsecs = site.startsecs if site.startsecs is not None else service.startsecs
            programs.append(ProgramPlan(
                name=name, role=role, port=port, health_path=service.health, command=command,
                startsecs=startsecs, startretries=site.startretries,
                stopwaitsecs=service.stopwaitsecs if not site.fake else 5,
                stdout_log=state_dir / "logs" / f"{name}.out.log",
                stderr_log=state_dir / "logs" / f"{name}.err.log",
                shim=directory / "shims" / f"{name}-{env}",
            ))
        name = f"supervisord-{role}"
        instances[role] = InstancePlan(
            role=role, name=name, port=ports[name], bind=site.bind, user=user,
            group=role_spec.group, become=_become(role_spec.become, user, current),
            identifier=f"{name}-{site_name}-{env}", username=f"{role}-{env}",
            key_variable=key_variable(site_name, env, role),
            conf=directory / f"{name}.conf", key_file=directory / f"{name}.key",
            state_dir=state_dir, logfile=state_dir / "supervisord.log",
            pidfile=state_dir / "supervisord.pid", programs=tuple(programs),
        )
    return EnvironmentPlan(
        site=site_name, env=env, fake=site.fake, directory=directory, group=f"jaws-{env}",
        python=python, pythonpath=directory / "lib" if site.runtime == "copy" else None,
        marker=f"{site_name}/{env}:{directory}", token=token,
        instances=instances,
    )
