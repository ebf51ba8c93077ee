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
#: PATH of every process started as a role user (the caller's PATH is never passed on).
ROLE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PlanError(ValueError):
    """A plan that cannot be made: bad port offset, unknown template variable, and so on."""


@dataclass(frozen=True)
class Command:
    """One step of a deployment as a command: who runs it (``user``), the ``argv``, why, and
    the path whose existence means it was done already (``creates``; None: always run)."""

    user: str
    argv: tuple[str, ...]
    why: str
    creates: Path | None


@dataclass(frozen=True)
class ProgramPlan:
    """One supervised program.

    ``port`` is a TCP port or None (jaws-site, jtm); ``health_path`` the HTTP path probed
    (with the plan's bearer token when ``health_bearer``);
    ``command`` the argv that the program's ``shim`` (``<dir>/shims/<program>-<env>``, what
    supervisord runs, as in JAWS's own deployment) ``exec``-s; times are seconds. ``venv`` is
    the service's own venv and ``install`` what is installed into it (pip spec) or the jar
    path, for the ``venv`` runtime and real sites.
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
    venv: Path | None = None
    install: str | None = None
    health_bearer: bool = False

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
    ``marker`` the value of :data:`MARKER_VARIABLE` in every process of the deployment;
    ``port_table`` the environment's whole row of the port table (shifted by any offset),
    ``ports`` only what this site listens on.
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
    env_dir: Path | None = None
    runtime: str = "current"
    python_load: str | None = None
    venv: Path | None = None
    deploying_user: str = ""
    port_table: dict[str, int] = field(default_factory=dict)

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
                "outside 1-65535; choose an offset that keeps every port of the table inside it"
            )
        out[name] = moved
    return out


def _become(template: str | None, user: str, current: str, site: str,
            role: str) -> tuple[str, ...]:
    if not template or user == current:
        return ()
    try:
        return tuple(shlex.split(template.format(user=user)))
    except (KeyError, IndexError, ValueError) as exc:
        raise PlanError(f"sites.{site}.roles.{role}.become: template {template!r} has an "
                        f"unknown variable {exc}; only {{user}} is known") from None


#: Requirement installed into the bootstrap venv of the ``venv`` runtime.
SUPERVISOR_SPEC = "supervisor>=4.3"


def fakes_spec() -> str:
    """What a ``venv``-runtime fake site installs into each service venv: this checkout of
    pytest-jaws (the fakes), else the released distribution."""
    root = Path(__file__).resolve().parent.parent
    return str(root) if (root / "pyproject.toml").is_file() else "pytest-jaws"


def _real_command(model: SitesFile, site_name: str, name: str, values: dict) -> tuple:
    service = model.services[name]
    if service.install is None:
        raise PlanError(f"sites.{site_name}.programs: program {name} has no install spec "
                        f"(services.{name}.install); add one, or deploy with --jaws-fake")
    try:
        return tuple(shlex.split(service.install.command.format(**values)))
    except (KeyError, IndexError, ValueError) as exc:
        raise PlanError(f"services.{name}.install.command: unknown template variable {exc}; "
                        f"known: {', '.join('{' + k + '}' for k in values)}") from None


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

    :param basedir: the install base: ``jaws-supervisord-<env>/`` (supervisord) and
        ``jaws-<env>/`` (program shims, service venvs, jars) are created in it.
    :param port_offset: added to every port (fake sites only; the caller checks).
    :param python: interpreter for supervisord and the fakes (default: the site's, else the
        running one).
    :raises PlanError: when the plan cannot be made (names the sites.yaml key).
    """
    site = model.sites[site_name]
    current = current_user or getpass.getuser()
    python = python or site.python or sys.executable
    ports = shifted_ports(model, env, port_offset)
    base = Path(basedir).absolute()
    directory = base / f"jaws-supervisord-{env}"
    env_dir = base / f"jaws-{env}"
    venv_runtime = site.runtime == "venv"
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
            venv = env_dir / "venvs" / name if venv_runtime else None
            install = None
            if override and override.command:
                command = tuple(shlex.split(override.command))
            elif site.fake:
                interpreter = str(venv / "bin" / "python") if venv else python
                install = fakes_spec() if venv else None
                command = (interpreter, "-m", f"pytest_jaws.fakes.{service.fake}",
                           "--site", site_name, "--env", env, "--bind", site.bind,
                           "--cromwell-url", cromwell_url, "--heartbeat", str(heartbeat),
                           "--token", token)
                if port is not None:
                    command += ("--port", str(port))
                if name == "central-rest":
                    command += ("--parts", ",".join(
                        part for part, program in (("site", "jaws-site"), ("cromwell", "cromwell"))
                        if program in site.programs.jaws + site.programs.jtm))
            else:
                spec = service.install
                jar = env_dir / "jars" / spec.jar if spec and spec.jar else None
                venv = venv if spec and spec.venv else None
                install = (spec.venv or str(jar)) if spec else None
                command = _real_command(model, site_name, name, {
                    "venv": venv, "jar": jar, "env": env, "port": port, "bind": site.bind,
                    "site": site_name, "base": base})
            if override:
                command += tuple(override.args)
            startsecs = site.startsecs if site.startsecs is not None else service.startsecs
            programs.append(ProgramPlan(
                name=name, role=role, port=port, health_path=service.health, command=command,
                startsecs=startsecs, startretries=site.startretries,
                stopwaitsecs=service.stopwaitsecs if not site.fake else 5,
                stdout_log=state_dir / "logs" / f"{name}.out.log",
                stderr_log=state_dir / "logs" / f"{name}.err.log",
                shim=env_dir / "shims" / f"{name}-{env}", venv=venv, install=install,
                health_bearer=service.health_auth == "bearer",
            ))
        name = f"supervisord-{role}"
        instances[role] = InstancePlan(
            role=role, name=name, port=ports[name], bind=site.bind, user=user,
            group=role_spec.group, become=_become(role_spec.become, user, current, site_name,
                                                  role),
            identifier=f"{name}-{site_name}-{env}", username=f"{role}-{env}",
            key_variable=key_variable(site_name, env, role),
            conf=directory / f"{name}.conf", key_file=directory / f"{name}.key",
            state_dir=state_dir, logfile=state_dir / "supervisord.log",
            pidfile=state_dir / "supervisord.pid", programs=tuple(programs),
        )
    return EnvironmentPlan(
        site=site_name, env=env, fake=site.fake, directory=directory, group=f"jaws-{env}",
        python=python, pythonpath=directory / "lib" if site.runtime == "copy" else None,
        marker=f"{site_name}/{env}:{directory}", token=token, instances=instances,
        env_dir=env_dir, runtime=site.runtime, python_load=site.python_load,
        venv=directory / "venv" if venv_runtime else None, deploying_user=current,
        port_table=ports,
    )


def install_commands(plan: EnvironmentPlan) -> list[Command]:
    """The install steps of the ``venv`` runtime, in order (empty for other runtimes).

    A bootstrap venv with supervisor in ``<dir>/venv``; for every program with an install
    spec, its own venv with the spec installed, or a check that its jar is in place. pip is the
    running interpreter's (``pip --python``), so the venvs need no pip of their own.
    """
    if plan.venv is None:
        return []
    def venv(path: Path, spec: str, why: str) -> list[Command]:
        create: tuple[str, ...] = (plan.python, "-m", "venv", "--without-pip", str(path))
        if plan.python_load:
            create = ("sh", "-c", f"{plan.python_load} && {shlex.join(create)}")
        no_deps = ("--no-deps",) if spec == fakes_spec() else ()  # the fakes need stdlib only
        pip = (sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"), "install",
               "--quiet", "--disable-pip-version-check", *no_deps, spec)
        return [Command(plan.deploying_user, create, f"create {why}", path / "bin" / "python"),
                Command(plan.deploying_user, pip, f"install {spec} into {why}",
                        path / ".jaws-installed")]

    steps = venv(plan.venv, SUPERVISOR_SPEC, "the bootstrap venv")
    for prog in plan.programs.values():
        if prog.venv is not None and prog.install:
            steps += venv(prog.venv, prog.install, f"the venv of {prog.name}")
        elif prog.install and prog.install.endswith(".jar"):
            steps.append(Command(plan.deploying_user, ("test", "-r", prog.install),
                                 f"check the jar of {prog.name} is in place", None))
    return steps
