"""The parts of the sites.yaml model, from the port table to a site's dependencies.

The port table, instances, venvs, services, Cromwell, roles, programs, and a site's JAWS
configuration and dependencies (pydantic models, strict: unknown keys are errors).
:mod:`pytest_jaws.sites.sites` builds the whole file from them.

Facts in the shipped ``sites.yaml`` come from the JAWS deployment docs (shared DESIGN.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: The role names: ``jaws`` runs the JAWS services, ``jtm`` runs the user workloads.
ROLES: tuple[str, ...] = ("jaws", "jtm")
#: The supervisord instances an environment may have (``instances:`` in sites.yaml).
InstanceName = Literal["jaws", "jtm", "central"]
INSTANCES: tuple[InstanceName, ...] = ("jaws", "jtm", "central")
#: The columns of the documented port table, in DESIGN.md order.
PORT_NAMES: tuple[str, ...] = (
    "central-auth",
    "central-rest",
    "cromwell",
    "supervisord-jaws",
    "supervisord-jtm",
    "supervisord-central",
)
#: Loopback addresses, the only ones a fake site may listen on (and the only traffic targets).
LOOPBACK: tuple[str, ...] = ("127.0.0.1", "::1")
#: Bind addresses that mean "every interface" as written; any spelling of an unspecified
#: address counts too (see :func:`bind_scope`).
ALL_INTERFACES: tuple[str, ...] = ("0.0.0.0", "::", "*", "")  # noqa: S104 - to recognise

#: A portable Unix user or group name (useradd's default NAME_REGEX, POSIX portable set).
UNIX_NAME = r"^[a-z_][a-z0-9_-]*[$]?$"


class _Strict(BaseModel):
    """A frozen model that refuses unknown keys (the base of every part)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EnvironmentPorts(_Strict):
    """One environment's row of the port table (TCP ports, 1-65535)."""

    central_auth: int = Field(alias="central-auth", ge=1, le=65535, strict=True)
    central_rest: int = Field(alias="central-rest", ge=1, le=65535, strict=True)
    cromwell: int = Field(ge=1, le=65535, strict=True)
    supervisord_jaws: int = Field(alias="supervisord-jaws", ge=1, le=65535, strict=True)
    supervisord_jtm: int = Field(alias="supervisord-jtm", ge=1, le=65535, strict=True)
    supervisord_central: int = Field(alias="supervisord-central", ge=1, le=65535, strict=True)

    def by_name(self) -> dict[str, int]:
        """Return ``{port name: port}`` keyed by the port table's column names."""
        return self.model_dump(by_alias=True)


class Instance(_Strict):
    """One supervisord instance as JAWS lays it out (``instances:``).

    ``dir`` (relative to the install base), ``identifier``, ``group`` (the process group) and
    ``install`` (the directory of configs, shims and logs) are templates with ``{env}``;
    ``conf`` is the configuration's file name in ``dir``; ``role`` the role user it runs as;
    ``port`` a column of the port table.
    """

    role: Literal["jaws", "jtm"]
    port: Literal[PORT_NAMES]  # type: ignore[valid-type]
    dir: str
    conf: str = Field(pattern=r"^[A-Za-z0-9._-]+\.conf$")
    identifier: str
    group: str
    install: str


class Venv(_Strict):
    """A service venv: ``dir`` and the directories of a JAWS checkout built into it.

    ``dir`` is relative to the install base (``{env}`` template); the directories are in install
    order.
    """

    dir: str
    packages: list[Literal["rpc", "site", "central", "jtm"]]


class Service(_Strict):
    """One supervised program as JAWS defines it.

    ``command`` is what its shim ``exec``-s after activating ``venv`` (a template, see
    sites.yaml); ``port`` a column of the port table (None: no TCP port); ``health`` the HTTP
    path probed and ``health_status`` the status that means alive; ``startsecs`` and
    ``stopwaitsecs`` are seconds and ``priority`` supervisord's start order, as in JAWS's own
    configuration; ``environment`` extra variables of the program (templates); ``java``: the
    command starts with the site's java; ``workdir`` the directory it starts in; ``part``: what
    central's status calls it (``Site`` or ``Cromwell``); ``recovery``: the recovery check may
    SIGKILL it without disturbing service.
    """

    venv: Literal["site", "jtm", "central"]
    command: str
    port: Literal[PORT_NAMES] | None  # type: ignore[valid-type]
    health: str | None = Field(pattern=r"^/")
    health_status: int = Field(default=200, ge=100, le=599)
    startsecs: int = Field(default=3, ge=0)
    stopwaitsecs: int = Field(default=10, ge=1)
    priority: int = Field(default=999, ge=0)
    environment: dict[str, str] = {}
    java: bool = False
    workdir: str | None = None
    part: Literal["Site", "Cromwell"] | None = None
    recovery: bool = False


class Cromwell(_Strict):
    """The Cromwell release a site runs: ``version``, the jar's ``sha256`` and where it is published.

    ``sha256``: 64 hex digits; null: not pinned (the jar's digest is printed, to be pinned).
    ``url``: the release, fetched when no jar is in place (JAWS deploy-cromwell).
    """

    version: str
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    url: str | None = None


class Role(_Strict):
    """A role's Unix user and group and how to become that user.

    ``user: null`` means the user running pytest. ``become`` is a command prefix template
    with ``{user}`` (e.g. ``runuser -u {user} --``); null means no prefix is needed.
    ``start``: who starts the role's supervisord instances - ``harness`` (default), or
    ``operator``: a person starts it by hand as the role user (cori's jtm,
    start_supervisor_services/start_jtm_cori_services.sh); the harness then only verifies it
    and applies configuration changes over XML-RPC.
    """

    user: str | None = Field(pattern=UNIX_NAME, max_length=32)
    group: str | None = Field(pattern=UNIX_NAME, max_length=32)
    become: str | None
    start: Literal["harness", "operator"] = "harness"


class Roles(_Strict):
    """The two roles of a site."""

    jaws: Role
    jtm: Role


class InstancePrograms(_Strict):
    """Which programs each supervisord instance runs.

    An instance without a list does not exist at the site (cori has no central, central has
    only central).
    """

    jaws: list[str] | None = None
    jtm: list[str] | None = None
    central: list[str] | None = None

    def by_instance(self) -> dict[InstanceName, list[str]]:
        """``{instance: programs}`` for the instances the site has, in :data:`INSTANCES` order."""
        return {i: list(getattr(self, i)) for i in INSTANCES if getattr(self, i) is not None}

    def all(self) -> list[str]:
        """Every program of the site, in instance order."""
        return [p for programs in self.by_instance().values() for p in programs]


class ProgramOverride(_Strict):
    """Per-site changes to one program: extra arguments, or a whole command."""

    args: list[str] = []
    command: str | None = None


class Endpoint(_Strict):
    """A host and TCP port of a dependency (MySQL, RabbitMQ) and the user JAWS connects as."""

    host: str
    port: int = Field(ge=1, le=65535, strict=True)
    user: str = "jaws"


class RoleEndpoint(Endpoint):
    """An endpoint of the JAWS configuration files, where the jtm role may have a user of its own.

    ``jtm_user``: the user jtm and Cromwell (the jtm role's programs) connect as, with a
    password of their own (secret ``JTM_DB_PASSWORD`` or ``JTM_RMQ_PASSWORD``): jtm reads user
    and password from each of its ``[MYSQL]``, ``[RMQ]``, ``[SITE_RPC_CLIENT]`` and
    ``[JTM_RPC_SERVER]`` sections (jtm/jaws_jtm/lib/rabbitmqconnection.py, jtm_manager.py),
    Cromwell from its ``database.db``. Unset: JAWS's own layout (test/integration/
    generate-configs writes the one JAWS_DB_PW and <SITE>_RMQ_PW into every file), where the
    jtm role's files hold the jaws role's passwords; the privilege suite reports it.
    """

    jtm_user: str | None = None


#: JAWS's database names per configuration file (test/integration/generate-configs: [DB] db =
#: jaws_<site>_<env>, [MYSQL] db = jtm_<site>_<env>; deploy-cromwell: cromwell_<site>_<env>;
#: deploy-central: jaws_central_<env>). ``{site}`` is the site id in lower case.
ConfigKind = Literal["jaws-site", "jaws-jtm", "cromwell", "jaws-central"]
JAWS_DATABASES: dict[ConfigKind, str] = {
    "jaws-site": "jaws_{site}_{env}", "jaws-jtm": "jtm_{site}_{env}",
    "cromwell": "cromwell_{site}_{env}", "jaws-central": "jaws_central_{env}"}
#: JAWS's RabbitMQ vhosts (generate-configs: vhost = jaws_<env> for the RPC servers and
#: clients, jtm_<env> for jtm's [RMQ]); one user ``jaws`` on both.
VhostUse = Literal["jaws", "jtm"]
JAWS_VHOSTS: dict[VhostUse, str] = {"jaws": "jaws_{env}", "jtm": "jtm_{env}"}


class MySQLDependency(Endpoint):
    """The MySQL server of a site and the database of each JAWS configuration file.

    The server: ``JAWS_DB_HOST``, ``JAWS_DB_PORT``; user ``jaws``. The databases are templates
    with ``{site}`` (site id, lower case) and ``{env}``; what is not given follows
    :data:`JAWS_DATABASES`. The password is the secret ``DB_PASSWORD``
    (``JAWS_SECRET_<SITE>_<ENV>_DB_PASSWORD``).
    """

    databases: dict[ConfigKind, str] = Field(default_factory=lambda: dict(JAWS_DATABASES))


class RabbitMQDependency(Endpoint):
    """A RabbitMQ broker and its vhosts by use.

    The broker: ``JAWS_RMQ_HOST``/``<SITE>_RMQ_HOST`` and ports; user ``jaws``. Its vhosts by
    use (``jaws``: the RPC servers and clients, ``jtm``: jtm's queue) are templates with
    ``{env}``; what is not given follows :data:`JAWS_VHOSTS`.
    """

    vhosts: dict[VhostUse, str] = Field(default_factory=lambda: dict(JAWS_VHOSTS))


class Dependencies(_Strict):
    """What a site's services need outside supervisord: MySQL and RabbitMQ.

    ``mysql``, ``rabbitmq`` (central's broker: JAWS_RMQ_*, password ``RMQ_PASSWORD``) and
    ``site_rabbitmq`` (the site's broker: <SITE>_RMQ_*, password ``SITE_RMQ_PASSWORD``; default:
    the same as ``rabbitmq``). The JAWS configuration files take their [DB]/[MYSQL] and RPC
    settings from here, and the pre-flight (:mod:`pytest_jaws.probes.dependencies`) checks them before
    anything is started.
    """

    mysql: MySQLDependency
    rabbitmq: RabbitMQDependency
    site_rabbitmq: RabbitMQDependency | None = None
    #: The servers the harness starts on loopback for the run (:mod:`pytest_jaws.deploy.runservers`):
    #: ``start: true`` in sites.yaml starts each of MariaDB and RabbitMQ that is not given
    #: by address (``mysql:``, ``rabbitmq:``); given servers are used instead.
    start: list[Literal["mysql", "rabbitmq"]] = Field(default_factory=list)

    def site_broker(self) -> RabbitMQDependency:
        """Return the site's broker (``site_rabbitmq``, else ``rabbitmq``)."""
        return self.site_rabbitmq or self.rabbitmq


#: The loopback ports of the servers the harness starts (``dependencies: {start: true}``) at
#: port offset 0 in the first environment, shifted with the run's offset and the environment's
#: row (:func:`pytest_jaws.plan.serverplan.server_ports`). Outside every range the port table takes
#: at any offset (3001-4413, 5001-6413, 50101-51513, 64101-65533), and no two of them differ by
#: a multiple of the offset step (30) within reach, so runs at different offsets never collide.
RUN_SERVER_PORTS: dict[str, int] = {"mysql": 33306, "rabbitmq": 35672, "rabbitmq-dist": 35692,
                                    "epmd": 34369}


def start_dependencies(deps: object) -> object:
    """Fill a ``dependencies:`` mapping that asks for run-started servers (``start: true``).

    Each of ``mysql`` and ``rabbitmq`` not given gets a loopback endpoint at its
    :data:`RUN_SERVER_PORTS` port and is listed in ``start``; a server given by address is
    kept and not started. Anything else is returned as it is (pydantic then judges it).
    """
    if not isinstance(deps, dict) or deps.get("start") is not True:
        return deps
    out = dict(deps)
    out["start"] = [k for k in ("mysql", "rabbitmq") if k not in deps]
    for key in out["start"]:
        out[key] = {"host": "127.0.0.1", "port": RUN_SERVER_PORTS[key], "user": "jaws"}
    return out


class DeclaredBehaviour(_Strict):
    """Something the real JAWS code does that a check would otherwise fail, declared by a site.

    ``behaviour``: ``binds-all-interfaces`` (the ``programs`` listen on every interface, e.g.
    central's auth and rest: ``connex.run(host="0.0.0.0")`` in central/jaws_central/cli.py);
    ``source``: the JAWS file that does it (a path in the JAWS repository), so that the
    declaration can be checked against the code. A fake twin that runs the real code (a
    checkout) expects exactly the declared behaviour; anything undeclared still fails.
    """

    behaviour: Literal["binds-all-interfaces"]
    programs: list[str] = Field(min_length=1)
    source: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")


class Globus(_Strict):
    """Globus settings of a site.

    ``JAWS_GLOBUS_CLIENT_ID``, ``<SITE>_GLOBUS_EP``, ``<SITE>_GLOBUS_HOST_PATH`` in JAWS's
    .gitlab-ci.yml.
    """

    client_id: str
    endpoint: str
    host_path: str


class Cluster(_Strict):
    """Batch settings (``<SITE>_CLUSTER_QOS/PARTITION/ACCOUNT/CONSTRAINT``)."""

    qos: str = ""
    partition: str = ""
    account: str = ""
    constraint: str = ""


class Container(_Strict):
    """How a site runs a task's container (Cromwell's ``submit-docker``).

    ``type`` is ``<SITE>_CONTAINER_TYPE`` of JAWS's .gitlab-ci.yml (shifter, singularity or
    docker; test/integration/deploy-cromwell picks the wrapper script and image pull by it).
    ``ref_data`` (``<SITE>_REF_DATA_DIR``) and ``tmpdir`` (``<SITE>_CONTAINER_TMPDIR``) are
    paths (``{base}``: the install base); unset, they lie under the jtm scratch base directory
    (``refdata`` and the scratch base itself).
    """

    type: Literal["shifter", "singularity", "docker"] = "docker"
    ref_data: str | None = None
    tmpdir: str | None = None


class JawsConfig(_Strict):
    """Values of a site's JAWS configuration files.

    As test/integration/generate-configs, deploy-central, deploy-cromwell write them. ``scratch``
    and ``jtm_scratch`` are the scratch base directories (``{base}``: the install base),
    ``data_repo`` the base of the data repository (define-env SITE_DATA_REPO_BASEDIR; default:
    ``scratch``);
    ``db``/``rmq``/``site_rmq`` the MySQL server, central's broker and the site's broker (taken
    from the site's ``dependencies`` when it declares them, else placeholders the fakes never
    connect to; ``db`` and ``site_rmq`` may name the jtm role's own user: :class:`RoleEndpoint`);
    ``xmx`` Cromwell's Java heap; ``central_sites`` the site ids central serves (each must be a
    site of this file).
    """

    scratch: str
    jtm_scratch: str | None = None
    data_repo: str | None = None
    # required: Site's validator fills the three from the dependencies, else demands them
    db: RoleEndpoint
    rmq: Endpoint
    site_rmq: RoleEndpoint
    globus: Globus
    cluster: Cluster = Cluster()
    container: Container = Container()
    max_ram_gb: int = Field(default=0, ge=0)
    xmx: str = Field(default="5g", pattern=r"^[0-9]+[kmg]$")
    central_sites: list[str] = []
