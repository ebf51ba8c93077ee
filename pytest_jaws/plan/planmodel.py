"""The shapes of a deployment plan, as plain frozen data.

Programs, supervisord instances, JAWS configuration files and the whole environment.
:func:`pytest_jaws.plan.plan.make_plan` fills them from the site model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..sites.sites import Site
from .installspec import FAKE_CHECKOUT, CromwellPlan, VenvPlan

if TYPE_CHECKING:
    from .serverplan import ServersPlan


@dataclass(frozen=True)
class ProgramPlan:
    """One supervised program, as JAWS names and runs it.

    ``instance`` is the supervisord instance (jaws, jtm, central) and ``role`` its role user;
    ``port`` a TCP port or None; ``health_path``/``health_status`` the HTTP probe and the
    status that means alive; ``command`` the argv its ``shim`` (``<install>/shims/<name>-<env>``)
    ``exec``-s after activating ``venv``; ``environment`` what the shim exports; ``workdir``
    where it starts; times are seconds. ``part`` is what central's status calls it and
    ``recovery`` marks the program the recovery check may kill. ``java``: a Java program
    (Cromwell), which loads none of the venv's Python packages.
    """

    name: str
    instance: str
    role: str
    port: int | None
    health_path: str | None
    command: tuple[str, ...]
    startsecs: int
    startretries: int
    #: seconds the program must stay RUNNING under one PID before it counts as started (the
    #: harness's sub-second start check, sites.yaml ``readysecs``); 0: supervisord's alone
    readysecs: float
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
    java: bool = False
    #: The JAWS file that makes the program listen on every interface, when the site declares
    #: it (sites.yaml ``declared``), else None.
    declared: str | None = None

    @property
    def url(self) -> str | None:
        """``http://127.0.0.1:<port>`` for a program with a port, else None (loopback only)."""
        return None if self.port is None else f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class InstancePlan:
    """One supervisord instance (``supervisord-jaws``, ``supervisord-jtm`` or ``supervisord-central``).

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
    """A JAWS configuration file: its ``kind``, ``path`` and the ``role`` that owns it.

    ``kind``: jaws-site, jaws-jtm, cromwell, jaws-central. Only the owning role can read it: it
    holds secrets.
    """

    kind: str
    path: Path
    role: str


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
    (:class:`pytest_jaws.plan.depplan.DependencyCheck`; empty when the site declares none).
    ``play_operator``: the run plays the operator of the instances sites.yaml marks
    ``start: operator`` (``--jaws-play-operator``, twins only): it starts one that is down with
    the operator's command, as its role user, and ends it at teardown like its own.
    ``port_offset``: what every port of the table was shifted by (fake sites).
    ``data_dirs``: JAWS's working directories (define-env) as ``(path, owner role, reader
    role, mode as root, what JAWS makes of it)``, parents first (:func:`pytest_jaws.host.perms.data_dir`).
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
    play_operator: bool = False
    port_offset: int = 0
    data_dirs: tuple[tuple[Path, str, str, int, str], ...] = ()
    #: The MariaDB and RabbitMQ the harness starts for this environment
    #: (:class:`pytest_jaws.plan.serverplan.ServersPlan`), None when it starts none.
    servers: ServersPlan | None = None

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
