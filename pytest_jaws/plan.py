"""The deployment plan of one environment: every path, port, user and command, as plain data.

A plan is computed from the validated site model (:mod:`pytest_jaws.sites`) without touching
the machine, except to look up the current user name. It follows JAWS's own layout
(JGI-Bioinformatics/jaws ``test/integration/define-env``): per environment, under the install
base, ``jaws-supervisord-<env>/`` (the jaws and jtm supervisords), ``jaws-<env>/{configs,shims,
logs,site,jtm}`` and ``cromwell.jar``, and for central ``jaws-central-supervisord-<env>/`` and
``jaws-central-<env>/{configs,shims,logs,central}``. :mod:`pytest_jaws.render` turns a plan
into file contents; :mod:`pytest_jaws.deploy` applies it.
"""

from __future__ import annotations

import getpass
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PlanError
from .sites import Site, SitesFile

#: Environment variable set in every process a deployment starts (supervisord and, through
#: its ``environment=``, every program), so leftovers can be found again by PID.
MARKER_VARIABLE = "JAWS_DEPLOYMENT"
#: PATH of every process started as a role user (the caller's PATH is never passed on).
ROLE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Environment variable naming the fake broker directory (fake sites only): the fake checkout's
#: RPC servers and clients meet there instead of on RabbitMQ.
FAKE_BROKER_VARIABLE = "JAWS_FAKE_BROKER"
#: The fake JAWS checkout shipped with pytest-jaws: the same package directories, distribution
#: names and console scripts as JAWS (rpc/, site/, central/, jtm/), plus the Cromwell stand-in.
FAKE_CHECKOUT = Path(__file__).with_name("fakes") / "checkout"
#: The checkout directories a JAWS source must have (Makefile pkg-*).
CHECKOUT_PACKAGES = ("rpc", "site", "central", "jtm")


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
    """One supervised program, as JAWS names and runs it.

    ``instance`` is the supervisord instance (jaws, jtm, central) and ``role`` its role user;
    ``port`` a TCP port or None; ``health_path``/``health_status`` the HTTP probe and the
    status that means alive; ``command`` the argv its ``shim`` (``<install>/shims/<name>-<env>``)
    ``exec``-s after activating ``venv``; ``environment`` what the shim exports; ``workdir``
    where it starts; times are seconds. ``part`` is what central's status calls it and
    ``recovery`` marks the program the recovery check may kill.
    """

    name: str
    instance: str
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
    venv: Path
    priority: int = 999
    health_status: int = 200
    environment: tuple[tuple[str, str], ...] = ()
    workdir: Path | None = None
    java_load: str | None = None
    part: str | None = None
    recovery: bool = False
    public: bool = False

    @property
    def url(self) -> str | None:
        """``http://127.0.0.1:<port>`` for a program with a port, else None (loopback only)."""
        return None if self.port is None else f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class InstancePlan:
    """One supervisord instance (``supervisord-jaws``, ``supervisord-jtm`` or
    ``supervisord-central``).

    ``key`` is its name in sites.yaml (jaws, jtm, central); ``role`` the role whose user runs
    it (``user``, Unix ``group``; ``become`` the argv prefix that runs a command as that user,
    empty for the current user); ``port`` its inet_http_server TCP port; ``process_group`` the
    group of its programs (``jaws-<env>``, ``jaws-central-<env>``); ``directory`` holds its
    configuration ``conf``, ``key_file`` and ``bin/``; ``install_dir`` its programs' configs,
    shims and logs; ``state_dir`` (``<directory>/<key>/``, owned by the role user) its log,
    pidfile and program logs; ``start`` who starts it: ``harness``, or ``operator`` (a person,
    as the role user; the harness never does).
    """

    key: str
    role: str
    name: str
    env: str
    port: int
    bind: str
    user: str
    group: str | None
    become: tuple[str, ...]
    identifier: str
    process_group: str
    username: str
    key_variable: str
    directory: Path
    install_dir: Path
    conf: Path
    key_file: Path
    state_dir: Path
    logfile: Path
    pidfile: Path
    programs: tuple[ProgramPlan, ...]
    start: str = "harness"

    @property
    def serverurl(self) -> str:
        """The XML-RPC server URL, ``http://127.0.0.1:<port>`` (loopback only)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def where(self) -> str:
        """``supervisord-jaws (environment dev, port 64101)``: how messages name it."""
        return f"{self.name} (environment {self.env}, port {self.port})"


@dataclass(frozen=True)
class ConfigPlan:
    """A JAWS configuration file: its ``kind`` (jaws-site, jaws-jtm, cromwell, jaws-central),
    ``path`` and the ``role`` that owns it (only that role can read it: it holds secrets)."""

    kind: str
    path: Path
    role: str


@dataclass(frozen=True)
class VenvPlan:
    """A service venv: ``path``, the checkout directories installed into it (jaws_rpc first)
    and the ``role`` whose programs use it."""

    name: str
    path: Path
    packages: tuple[str, ...]
    role: str


@dataclass(frozen=True)
class CromwellPlan:
    """Cromwell's jar: ``jar`` (where JAWS runs it from, ``jaws-<env>/cromwell.jar``),
    ``source`` (a file copied there, None: use what is there), the ``version`` and the
    expected ``sha256`` (None: not checked, fake stand-in). ``standin``: build the stand-in jar
    from the fake checkout."""

    jar: Path
    source: Path | None
    version: str
    sha256: str | None
    standin: bool


@dataclass(frozen=True)
class EnvironmentPlan:
    """Everything about one environment of one site under one install base.

    ``python`` is the interpreter of supervisord and the light runtimes; ``marker`` the value
    of :data:`MARKER_VARIABLE` in every process of the deployment; ``port_table`` the
    environment's whole row of the port table (shifted by any offset), ``ports`` only what
    this site listens on. ``source`` is the JAWS checkout the services come from (the fake
    checkout on fake sites unless ``--jaws-source`` says otherwise); ``configs``, ``venvs``,
    ``cromwell``, ``secrets`` (``{name: variable}``) and ``scratch_dirs`` are JAWS's files;
    ``broker`` the fake broker directory (fake sites); ``log_dirs`` the programs' ``--log``
    directories with the role that writes each; ``spec`` the site's model (the values of its
    JAWS configuration) and ``peers`` the sites central serves, by site id. ``dependencies``
    are the MySQL and RabbitMQ checks of the pre-flight
    (:class:`pytest_jaws.dependencies.DependencyCheck`; empty when the site declares none).
    """

    site: str
    site_id: str
    env: str
    fake: bool
    base: Path
    directory: Path
    python: str
    marker: str
    log_level: str
    instances: dict[str, InstancePlan] = field(default_factory=dict)
    runtime: str = "current"
    python_load: str | None = None
    deploying_user: str = ""
    port_table: dict[str, int] = field(default_factory=dict)
    source: Path = FAKE_CHECKOUT
    configs: tuple[ConfigPlan, ...] = ()
    venvs: dict[str, VenvPlan] = field(default_factory=dict)
    cromwell: CromwellPlan | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    scratch_dirs: tuple[tuple[Path, str], ...] = ()
    broker: Path | None = None
    locale: str = "en_US.UTF-8"
    log_dirs: tuple[tuple[Path, str], ...] = ()
    spec: Site | None = None
    peers: dict[str, Site] = field(default_factory=dict)
    dependencies: tuple = ()

    @property
    def programs(self) -> dict[str, ProgramPlan]:
        """Every program of every instance, by name."""
        return {p.name: p for inst in self.instances.values() for p in inst.programs}

    @property
    def ports(self) -> dict[str, int]:
        """``{service or instance name: port}`` for everything that listens."""
        out = {i.name: i.port for i in self.instances.values()}
        out.update({p.name: p.port for p in self.programs.values() if p.port is not None})
        return out

    @property
    def directories(self) -> list[Path]:
        """The supervisor directories of the instances (one or two), without repeats."""
        return list(dict.fromkeys(i.directory for i in self.instances.values()))

    @property
    def bootstrap_venv(self) -> Path | None:
        """The bootstrap venv with supervisor (``venv`` runtime), else None."""
        return self.directory / "venv" if self.runtime == "venv" else None

    @property
    def libdir(self) -> Path | None:
        """Where the ``copy`` runtime puts supervisor (world-readable), else None."""
        return self.directory / "lib" if self.runtime == "copy" else None


def key_variable(site: str, env: str, instance: str) -> str:
    """Name of the environment variable that may hold a supervisord key.

    ``JAWS_SUPERVISOR_KEY_<SITE>_<ENV>_<INSTANCE>``, upper case, ``-`` as ``_``
    (e.g. ``JAWS_SUPERVISOR_KEY_CORI_DEV_JTM``, ``JAWS_SUPERVISOR_KEY_CENTRAL_PROD_CENTRAL``).
    """
    return "_".join(["JAWS_SUPERVISOR_KEY", site, env, instance]).upper().replace("-", "_")


def secret_variable(site: str, env: str, name: str) -> str:
    """Name of the environment variable holding one secret of the JAWS configuration files.

    ``JAWS_SECRET_<SITE>_<ENV>_<NAME>``, upper case, ``-`` as ``_`` (e.g.
    ``JAWS_SECRET_CORI_DEV_DB_PASSWORD``); the names are those of
    :data:`pytest_jaws.jawsconf.SECRETS`.
    """
    return "_".join(["JAWS_SECRET", site, env, name]).upper().replace("-", "_")


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


def _fill(template: str, values: dict, where: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise PlanError(f"{where}: unknown template variable {exc} in {template!r}; known: "
                        f"{', '.join('{' + k + '}' for k in values)}") from None


def _shim_name(program: str, instance: str, env: str) -> str:
    # JAWS names shims <program>-<env> (generate-shims) and central's jaws-central-<program>-<env>
    # (deploy-central), its programs being auth, rest and rpc.
    return f"{program}-{env}" if program.startswith("jaws-") else f"jaws-{instance}-{program}-{env}"


def make_plan(
    model: SitesFile,
    site_name: str,
    env: str,
    basedir: Path,
    *,
    port_offset: int = 0,
    python: str | None = None,
    current_user: str | None = None,
    source: Path | None = None,
    cromwell_jar: Path | None = None,
) -> EnvironmentPlan:
    """Compute the plan of one environment.

    :param basedir: the install base, the directories of sites.yaml's ``instances`` and
        ``venvs`` are created in it.
    :param port_offset: added to every port (fake sites only; the caller checks).
    :param python: interpreter for supervisord (default: the site's, else the running one).
    :param source: the JAWS checkout to build from (``--jaws-source``; default: the fake
        checkout on fake sites, the current directory, a CI checkout, on real ones).
    :param cromwell_jar: a Cromwell jar to put in place (``--jaws-cromwell-jar``).
    :raises PlanError: when the plan cannot be made (names the sites.yaml key).
    """
    site = model.sites[site_name]
    current = current_user or getpass.getuser()
    python = python or site.python or sys.executable
    ports = shifted_ports(model, env, port_offset)
    base = Path(basedir).absolute()
    if source is None:
        source = FAKE_CHECKOUT if site.fake else Path.cwd()
    scratch = _fill(site.config.scratch, {"base": base}, f"sites.{site_name}.config.scratch")
    jtm_scratch = _fill(site.config.jtm_scratch or site.config.scratch, {"base": base},
                        f"sites.{site_name}.config.jtm_scratch")
    jaws_scratch_dir = Path(scratch) / f"jaws-{env}"            # define-env SITE_JAWS_SCRATCH_DIR
    jtm_scratch_dir = Path(jtm_scratch) / f"jaws-{env}"         # define-env SITE_JTM_SCRATCH_DIR
    site_install = base / f"jaws-{env}"
    cromwell = model.cromwell_of(site_name)
    public = set(site.public_services)
    values = {
        "log_level": model.log_levels[env], "java": site.java, "xmx": site.config.xmx,
        "cromwell_jar": site_install / "cromwell.jar",
        "cromwell_tmpdir": jtm_scratch_dir / "cromwell-tmp",   # define-env SITE_CROMWELL_TMPDIR
        "jtm_scratch": jtm_scratch_dir,
    }
    venvs = {}
    for name, spec in model.venvs.items():
        role = "jtm" if name == "jtm" else "jaws"
        venvs[name] = VenvPlan(name, base / _fill(spec.dir, {"env": env}, f"venvs.{name}.dir"),
                               tuple(spec.packages), role)
    instances: dict[str, InstancePlan] = {}
    log_dirs: dict[Path, str] = {}
    used_venvs: set[str] = set()
    for key, names in site.programs.by_instance().items():
        ispec = model.instances[key]
        role_spec = getattr(site.roles, ispec.role)
        user = role_spec.user or current
        directory = base / ispec.dir.format(env=env)
        install_dir = base / ispec.install.format(env=env)
        state_dir = directory / key
        # the jtm role writes its logs into a directory of its own (JAWS: one group-writable logs/)
        logs = install_dir / "logs" / ("jtm" if ispec.role == "jtm" else "")
        log_dirs.setdefault(Path(str(logs).rstrip("/")), ispec.role)
        here = dict(values, logs=Path(str(logs).rstrip("/")), configs=install_dir / "configs",
                    install=install_dir)
        programs = []
        for name in names:
            service = model.services[name]
            where = f"services.{name}"
            # split first, then fill: a path with spaces or quotes stays one argument
            command = tuple(_fill(token, here, f"{where}.command")
                            for token in shlex.split(service.command))
            override = site.overrides.get(name)
            if override and override.command:
                command = tuple(shlex.split(override.command))
            if override:
                command += tuple(override.args)
            startsecs = site.startsecs if site.startsecs is not None else service.startsecs
            used_venvs.add(service.venv)
            programs.append(ProgramPlan(
                name=name, instance=key, role=ispec.role,
                port=ports[service.port] if service.port else None,
                health_path=service.health, health_status=service.health_status,
                command=command, startsecs=startsecs, startretries=site.startretries,
                stopwaitsecs=service.stopwaitsecs if not site.fake else 5,
                priority=service.priority,
                stdout_log=state_dir / "logs" / f"{name}.out.log",
                stderr_log=state_dir / "logs" / f"{name}.err.log",
                shim=install_dir / "shims" / _shim_name(name, key, env),
                venv=venvs[service.venv].path,
                environment=tuple((k, _fill(v, here, f"{where}.environment.{k}"))
                                  for k, v in service.environment.items()),
                workdir=Path(_fill(service.workdir, here, f"{where}.workdir"))
                if service.workdir else None,
                java_load=site.java_load if service.java else None,
                part=service.part, recovery=service.recovery, public=name in public,
            ))
        iname = f"supervisord-{key}"
        instances[key] = InstancePlan(
            key=key, role=ispec.role, name=iname, env=env, port=ports[ispec.port],
            bind=site.bind, user=user, group=role_spec.group,
            become=_become(role_spec.become, user, current, site_name, ispec.role),
            identifier=ispec.identifier.format(env=env),
            process_group=ispec.group.format(env=env), username=f"{key}-{env}",
            key_variable=key_variable(site_name, env, key), directory=directory,
            install_dir=install_dir, conf=directory / ispec.conf,
            key_file=directory / f"{iname}.key", state_dir=state_dir,
            logfile=state_dir / "supervisord.log", pidfile=state_dir / "supervisord.pid",
            programs=tuple(programs), start=role_spec.start,
        )
    configs = []
    if "jaws" in instances:
        configs.append(ConfigPlan("jaws-site", site_install / "configs" / "jaws-site.conf", "jaws"))
    if "jtm" in instances:
        configs.append(ConfigPlan("jaws-jtm", site_install / "configs" / "jaws-jtm.conf", "jtm"))
        configs.append(ConfigPlan("cromwell", site_install / "configs" / "cromwell.conf", "jtm"))
    if "central" in instances:
        configs.append(ConfigPlan("jaws-central", instances["central"].install_dir / "configs"
                                  / "jaws-central.conf", "jaws"))
    from .dependencies import plan_checks
    from .jawsconf import secrets_needed  # the config module knows which secrets it writes
    kinds = [c.kind for c in configs]
    secrets = {name: secret_variable(site_name, env, name) for name in secrets_needed(kinds)}
    needs_cromwell = any(p.name == "jaws-cromwell" for i in instances.values() for p in i.programs)
    cromwell_plan = None
    if needs_cromwell:
        cromwell_plan = CromwellPlan(
            jar=site_install / "cromwell.jar", source=cromwell_jar, version=cromwell.version,
            sha256=cromwell.sha256, standin=site.fake and cromwell_jar is None)
    scratch_dirs = []
    if "jaws" in instances or "jtm" in instances:
        scratch_dirs = [(jaws_scratch_dir, "jaws"), (jtm_scratch_dir, "jtm"),
                        (jtm_scratch_dir / "cromwell-tmp", "jtm")]
    first = next(iter(instances.values()))
    return EnvironmentPlan(
        site=site_name, site_id=site.site_id, env=env, fake=site.fake, base=base,
        directory=first.directory, python=python,
        marker=f"{site_name}/{env}:{base}", log_level=model.log_levels[env],
        instances=instances, runtime=site.runtime, python_load=site.python_load,
        deploying_user=current, port_table=ports, source=Path(source).absolute(),
        configs=tuple(configs),
        venvs={n: v for n, v in venvs.items() if n in used_venvs},
        cromwell=cromwell_plan, secrets=secrets,
        # one owner per directory: where JAWS's two scratch dirs coincide, the workload's (jtm)
        scratch_dirs=tuple(dict(scratch_dirs).items()),
        # a fake site with real dependencies does its RPC over the real broker
        broker=base / f"fake-broker-{env}" if site.fake and site.dependencies is None else None,
        locale=site.locale, dependencies=plan_checks(site, kinds, env),
        log_dirs=tuple(sorted(log_dirs.items())), spec=site,
        peers={s.site_id: (site if s.site_id == site.site_id else s) for s in model.sites.values()
               if s.site_id in site.config.central_sites},
    )
