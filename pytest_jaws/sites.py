"""The sites.yaml model: the port table, the services and the sites, validated.

Every error is a :class:`SitesError` whose message names the file and the key path of the
problem (``sites.local.roles.jtm.usr``) and what was expected; the plugin turns it into a
``pytest.UsageError`` before anything is deployed.

Facts in the shipped ``sites.yaml`` come from the JAWS deployment docs (shared DESIGN.md).
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import SitesError

#: The role names: ``jaws`` runs the JAWS services, ``jtm`` runs the user workloads.
ROLES: tuple[str, ...] = ("jaws", "jtm")
#: The supervisord instances an environment may have (``instances:`` in sites.yaml).
INSTANCES: tuple[str, ...] = ("jaws", "jtm", "central")
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
ALL_INTERFACES: tuple[str, ...] = ("0.0.0.0", "::", "*", "")
#: The sites file shipped inside the package, used when the rootdir has none.
PACKAGED_SITES_FILE: Path = Path(__file__).with_name("sites.yaml")

#: A portable Unix user or group name (useradd's default NAME_REGEX, POSIX portable set).
UNIX_NAME = r"^[a-z_][a-z0-9_-]*[$]?$"


class _Strict(BaseModel):
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
    """A service venv: ``dir`` (relative to the install base, ``{env}`` template) and the
    directories of a JAWS checkout built into it, in install order."""

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
    """The Cromwell release a site runs: ``version``, the jar's ``sha256`` (64 hex digits;
    null: not known, which a real deployment refuses) and where it is published."""

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
    """Which programs each supervisord instance runs; an instance without a list does not
    exist at the site (cori has no central, central has only central)."""

    jaws: list[str] | None = None
    jtm: list[str] | None = None
    central: list[str] | None = None

    def by_instance(self) -> dict[str, list[str]]:
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


#: JAWS's database names per configuration file (test/integration/generate-configs: [DB] db =
#: jaws_<site>_<env>, [MYSQL] db = jtm_<site>_<env>; deploy-cromwell: cromwell_<site>_<env>;
#: deploy-central: jaws_central_<env>). ``{site}`` is the site id in lower case.
JAWS_DATABASES: dict[str, str] = {
    "jaws-site": "jaws_{site}_{env}", "jaws-jtm": "jtm_{site}_{env}",
    "cromwell": "cromwell_{site}_{env}", "jaws-central": "jaws_central_{env}"}
#: JAWS's RabbitMQ vhosts (generate-configs: vhost = jaws_<env> for the RPC servers and
#: clients, jtm_<env> for jtm's [RMQ]); one user ``jaws`` on both.
JAWS_VHOSTS: dict[str, str] = {"jaws": "jaws_{env}", "jtm": "jtm_{env}"}


class MySQLDependency(Endpoint):
    """The MySQL server of a site (``JAWS_DB_HOST``, ``JAWS_DB_PORT``; user ``jaws``) and the
    database of each JAWS configuration file, templates with ``{site}`` (site id, lower case)
    and ``{env}``; what is not given follows :data:`JAWS_DATABASES`. The password is the secret
    ``DB_PASSWORD`` (``JAWS_SECRET_<SITE>_<ENV>_DB_PASSWORD``)."""

    databases: dict[Literal["jaws-site", "jaws-jtm", "cromwell", "jaws-central"], str] = \
        Field(default_factory=lambda: dict(JAWS_DATABASES))


class RabbitMQDependency(Endpoint):
    """A RabbitMQ broker (``JAWS_RMQ_HOST``/``<SITE>_RMQ_HOST`` and ports; user ``jaws``) and
    its vhosts by use (``jaws``: the RPC servers and clients, ``jtm``: jtm's queue), templates
    with ``{env}``; what is not given follows :data:`JAWS_VHOSTS`."""

    vhosts: dict[Literal["jaws", "jtm"], str] = Field(default_factory=lambda: dict(JAWS_VHOSTS))


class Dependencies(_Strict):
    """What a site's services need outside supervisord: ``mysql``, ``rabbitmq`` (central's
    broker: JAWS_RMQ_*, password ``RMQ_PASSWORD``) and ``site_rabbitmq`` (the site's broker:
    <SITE>_RMQ_*, password ``SITE_RMQ_PASSWORD``; default: the same as ``rabbitmq``). The JAWS
    configuration files take their [DB]/[MYSQL] and RPC settings from here, and the pre-flight
    (:mod:`pytest_jaws.dependencies`) checks them before anything is started."""

    mysql: MySQLDependency
    rabbitmq: RabbitMQDependency
    site_rabbitmq: RabbitMQDependency | None = None

    def site_broker(self) -> RabbitMQDependency:
        """The site's broker (``site_rabbitmq``, else ``rabbitmq``)."""
        return self.site_rabbitmq or self.rabbitmq


class Globus(_Strict):
    """Globus settings of a site (``JAWS_GLOBUS_CLIENT_ID``, ``<SITE>_GLOBUS_EP``,
    ``<SITE>_GLOBUS_HOST_PATH`` in JAWS's .gitlab-ci.yml)."""

    client_id: str
    endpoint: str
    host_path: str


class Cluster(_Strict):
    """Batch settings (``<SITE>_CLUSTER_QOS/PARTITION/ACCOUNT/CONSTRAINT``)."""

    qos: str = ""
    partition: str = ""
    account: str = ""
    constraint: str = ""


class JawsConfig(_Strict):
    """Values of a site's JAWS configuration files (test/integration/generate-configs,
    deploy-central, deploy-cromwell). ``scratch`` and ``jtm_scratch`` are the scratch base
    directories (``{base}``: the install base); ``db``/``rmq``/``site_rmq`` the MySQL server,
    central's broker and the site's broker (taken from the site's ``dependencies`` when it
    declares them, else placeholders the fakes never connect to); ``xmx`` Cromwell's Java
    heap; ``central_sites`` the site ids central serves (each must be a site of this file)."""

    scratch: str
    jtm_scratch: str | None = None
    db: Endpoint | None = None
    rmq: Endpoint | None = None
    site_rmq: Endpoint | None = None
    globus: Globus
    cluster: Cluster = Cluster()
    max_ram_gb: int = Field(default=0, ge=0)
    xmx: str = Field(default="5g", pattern=r"^[0-9]+[kmg]$")
    central_sites: list[str] = []


class Site(_Strict):
    """One site: fake or real, its bind address, roles, programs and JAWS configuration.

    ``bind`` is the address supervisord and the services listen on; an all-interfaces
    address (0.0.0.0, ::, *) needs ``bind_all_interfaces: true``. ``public_services``: programs
    that listen on every interface by design (central's auth and rest); the port suite checks
    that exactly these do. ``python`` is the interpreter the role users run (null: the one
    running pytest), ``python_load``/``java_load`` the shell lines that make Python and java
    available (``module load ...``), ``java`` the java command. ``runtime`` says where
    supervisor and the services come from: ``current`` (the running interpreter), ``copy``
    (copied into the deployment, world-readable, for role users who cannot read the running
    interpreter) or ``venv`` (JAWS's own way: a bootstrap venv with supervisor and service venvs
    with wheels built from a JAWS checkout). ``site_id`` is the JAWS site id (at most 8
    characters, central/jaws_central/config.py). ``install_base`` is where a real site's
    environments live; ``supervisor_host`` the host supervisord runs on; ``ci`` marks the real
    sites that the GitLab integration matrix deploys, ``runner_tags`` the tags of the GitLab
    runner its jobs run on (one or two: .gitlab-ci.yml's matrix has ``RUNNER_TAG`` and
    ``RUNNER_TAG_2``; null: ``jaws-<site>``; see :meth:`SitesFile.runner_tags_of`).

    ``startsecs`` (seconds) overrides every service's value when set; ``startretries`` is
    supervisord's count of quick exits before FATAL.
    """

    fake: bool
    description: str = ""
    site_id: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,7}$")
    bind: str
    bind_all_interfaces: bool = False
    public_services: list[str] = []
    python: str | None = None
    python_load: str | None = None
    java_load: str | None = None
    java: str = "java"
    locale: str = "en_US.UTF-8"
    runtime: Literal["current", "copy", "venv"] = "current"
    install_base: str | None = None
    supervisor_host: str | None = None
    ci: bool = False
    runner_tags: list[str] | None = Field(default=None, min_length=1, max_length=2)
    startsecs: int | None = Field(default=None, ge=0)
    startretries: int = Field(default=10, ge=0)
    roles: Roles
    programs: InstancePrograms
    overrides: dict[str, ProgramOverride] = {}
    config: JawsConfig
    cromwell: Cromwell | None = None
    dependencies: Dependencies | None = None

    @model_validator(mode="before")
    @classmethod
    def _endpoints_from_dependencies(cls, data):
        """A site that declares ``dependencies`` gets its config's db/rmq/site_rmq from them
        (one source of truth); it may not also write them. Without dependencies all three
        are required in ``config``."""
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            return data
        config = dict(data["config"])
        deps = data.get("dependencies")
        keys = ("db", "rmq", "site_rmq")
        if isinstance(deps, dict):
            given = [k for k in keys if k in config]
            if given:
                raise ValueError(f"config.{given[0]}: the site declares dependencies, which "
                                 "are where its MySQL and RabbitMQ endpoints come from; remove "
                                 f"config.{given[0]}")
            def endpoint(value):
                if not isinstance(value, dict):
                    return value
                return {k: value[k] for k in ("host", "port", "user") if k in value}
            config["db"] = endpoint(deps.get("mysql"))
            config["rmq"] = endpoint(deps.get("rabbitmq"))
            config["site_rmq"] = endpoint(deps.get("site_rabbitmq") or deps.get("rabbitmq"))
        else:
            missing = [k for k in keys if k not in config]
            if missing:
                raise ValueError(f"config.{missing[0]}: required without dependencies (or "
                                 "declare the site's dependencies: mysql, rabbitmq)")
        return dict(data, config=config)


class SitesFile(_Strict):
    """The whole sites file: the port table, log levels, instances, venvs, services, the
    default Cromwell and the sites."""

    ports: dict[str, EnvironmentPorts]
    log_levels: dict[str, Literal["DEBUG", "INFO", "WARNING", "ERROR"]]
    instances: dict[Literal["jaws", "jtm", "central"], Instance]
    venvs: dict[Literal["site", "jtm", "central"], Venv]
    services: dict[str, Service]
    cromwell: Cromwell
    sites: dict[str, Site]

    def runner_tags_of(self, site: str) -> list[str]:
        """The GitLab runner tags of ``site``'s integration jobs: its ``runner_tags``, else
        ``["jaws-<site>"]``."""
        return list(self.sites[site].runner_tags or [f"jaws-{site}"])

    def cromwell_of(self, site: str) -> Cromwell:
        """The Cromwell release of ``site`` (its own, else the file's default)."""
        return self.sites[site].cromwell or self.cromwell


#: PyYAML's SafeLoader with libyaml's parser where PyYAML was built with it (several times
#: faster on sites.yaml; the same documents, the same marks), else the pure-Python one.
FAST_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(FAST_SAFE_LOADER):  # type: ignore[misc,valid-type]
    """SafeLoader that refuses a key repeated in one mapping (YAML would keep the last).

    Merge keys (``<<: *common``) work as in any YAML loader: the mapping's own keys override
    merged ones; only keys written twice in the same mapping are refused.
    """

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"key {key!r} repeats (first at line {seen[key].line + 1}); "
                    "YAML would silently keep only the last one", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _key_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)


def _describe(error: dict) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (a typo?); remove it or use one of the documented keys"
    if kind == "missing":
        return "required key is missing"
    if kind == "string_pattern_mismatch" and error["loc"][-1] in ("user", "group"):
        return (f"{error.get('input')!r} is not a valid Unix {error['loc'][-1]} name: use "
                "lower-case letters, digits, '_' and '-', starting with a letter or '_' "
                "(useradd's rule)")
    return f"{error['msg']} (got {error.get('input')!r})"


def bind_scope(bind: str) -> str:
    """What a bind address reaches: ``"all"`` (every interface), ``"loopback"`` or
    ``"specific"``.

    Parsed as the socket layer does (:mod:`ipaddress`, and :func:`socket.inet_aton` for the
    short IPv4 forms such as ``0`` or ``127.1``): any unspecified address (``0``, ``0.0``,
    ``::0``, ``0:0:0:0:0:0:0:0``, ``::ffff:0.0.0.0``), ``*`` and the empty string are
    ``"all"``; ``localhost`` is ``"loopback"``.

    :raises ValueError: for anything that is not an IP address (a host name could resolve to
        any address).
    """
    text = bind.strip()
    if text in ("*", ""):
        return "all"
    if text.lower() == "localhost":
        return "loopback"
    try:
        addr = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        try:
            addr = ipaddress.IPv4Address(socket.inet_aton(text))
        except (OSError, ValueError):
            raise ValueError(f"{bind!r} is not an IP address; write the address itself "
                             "(e.g. 127.0.0.1), not a host name") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_unspecified:
        return "all"
    return "loopback" if addr.is_loopback else "specific"


def _cross_check(model: SitesFile) -> list[str]:
    problems: list[str] = []
    owners: dict[int, str] = {}
    for env, row in model.ports.items():
        for name, port in row.by_name().items():
            here = f"ports.{env}.{name}"
            if port in owners:
                problems.append(
                    f"{here}: port {port} is already used by {owners[port]}; "
                    "every port of the table must be distinct"
                )
            else:
                owners[port] = here
    for env in model.ports:
        if env not in model.log_levels:
            problems.append(f"log_levels.{env}: missing; every environment of the port table "
                            "needs a log level (DEBUG, INFO, ...)")
    ids: dict[str, str] = {}
    for site_name, site in model.sites.items():
        ids.setdefault(site.site_id, site_name)
    for site_name, site in model.sites.items():
        for i, sid in enumerate(site.config.central_sites):
            if sid not in ids:
                problems.append(f"sites.{site_name}.config.central_sites.{i}: no site has "
                                f"site_id {sid!r}; known: {', '.join(sorted(ids))}")
        for i, name in enumerate(site.public_services):
            if name not in site.programs.all():
                problems.append(f"sites.{site_name}.public_services.{i}: {name!r} is not a "
                                "program of this site")
        if site.fake and site.dependencies is not None:
            for dep_name, dep in (("mysql", site.dependencies.mysql),
                                  ("rabbitmq", site.dependencies.rabbitmq),
                                  ("site_rabbitmq", site.dependencies.site_rabbitmq)):
                if dep is not None and dep.host not in LOOPBACK + ("localhost",):
                    problems.append(f"sites.{site_name}.dependencies.{dep_name}.host: a fake "
                                    f"site's dependencies are on loopback only "
                                    f"({', '.join(LOOPBACK)}), not {dep.host!r}")
        if not site.fake and not site.install_base:
            problems.append(f"sites.{site_name}.install_base: a real site needs its install "
                            "base directory")
    for site_name, site in model.sites.items():
        try:
            scope = bind_scope(site.bind)
        except ValueError as exc:
            problems.append(f"sites.{site_name}.bind: {exc}")
            scope = "specific"
        if site.fake and site.bind not in LOOPBACK and not (
                scope == "all" and site.bind_all_interfaces):
            problems.append(f"sites.{site_name}.bind: a fake site listens on loopback only "
                            f"({', '.join(LOOPBACK)}), not {site.bind!r}")
        if scope == "all" and not site.bind_all_interfaces:
            problems.append(
                f"sites.{site_name}.bind: {site.bind!r} listens on every interface; use a "
                "specific address, or say so explicitly with bind_all_interfaces: true")
        seen: dict[str, str] = {}
        for inst, names in site.programs.by_instance().items():
            for i, program in enumerate(names):
                here = f"sites.{site_name}.programs.{inst}.{i}"
                if program not in model.services:
                    problems.append(
                        f"{here}: unknown program {program!r}; "
                        f"known services: {', '.join(sorted(model.services))}"
                    )
                if program in seen:
                    problems.append(f"{here}: program {program!r} is also listed at {seen[program]}")
                seen[program] = here
        for program in site.overrides:
            if program not in seen:
                problems.append(
                    f"sites.{site_name}.overrides.{program}: not a program of this site "
                    f"({', '.join(seen)})"
                )
    return problems


def parse_sites(text: str, source: str = "<sites>") -> SitesFile:
    """Parse and validate sites YAML text.

    :param text: the YAML document.
    :param source: the file name used in error messages.
    :returns: the validated :class:`SitesFile`.
    :raises SitesError: on YAML syntax errors (file, line, column), schema errors (key path and
        what was expected), unknown program names, or repeated ports (both owners named).
    """
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise SitesError(f"{where}: YAML syntax error: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SitesError(f"{source}: YAML error: {exc}") from None
    return validate_sites(data, source)


def validate_sites(data: object, source: str = "<sites>") -> SitesFile:
    """Validate a sites file already read into plain data (what :func:`parse_sites` does after
    the YAML).

    :param data: the document: a mapping with ports, services and sites.
    :param source: the file name used in error messages.
    :raises SitesError: as :func:`parse_sites`, but for YAML syntax.
    """
    if not isinstance(data, dict):
        raise SitesError(f"{source}: expected a mapping with ports, services and sites")
    try:
        model = SitesFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_key_path(e['loc'])}: {_describe(e)}" for e in exc.errors()]
        raise SitesError(f"{source}: invalid sites file:\n  " + "\n  ".join(lines)) from None
    problems = _cross_check(model)
    if problems:
        raise SitesError(f"{source}: invalid sites file:\n  " + "\n  ".join(problems))
    return model


def find_sites_file(explicit: str | None, rootdir: Path) -> Path:
    """Choose the sites file: the explicit one, else ``<rootdir>/sites.yaml``, else the packaged.

    :raises SitesError: when the explicit file does not exist (naming every path looked at).
    """
    if explicit:
        path = Path(explicit)
        if not path.is_absolute():
            path = (Path.cwd() / path) if (Path.cwd() / path).exists() else rootdir / path
        if not path.is_file():
            looked = dict.fromkeys([str(Path(explicit)) if Path(explicit).is_absolute() else
                                    str(Path.cwd() / explicit), str(rootdir / explicit)])
            raise SitesError(
                f"sites file {explicit!r} not found (looked at {' and '.join(looked)}); "
                "pass an existing file to --jaws-sites-file")
        return path
    candidate = rootdir / "sites.yaml"
    return candidate if candidate.is_file() else PACKAGED_SITES_FILE


def load_sites(path: Path) -> SitesFile:
    """Read and validate a sites file. :raises SitesError: as :func:`parse_sites`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SitesError(f"cannot read sites file {path}: {exc.strerror}") from None
    return parse_sites(text, str(path))


def select_environments(model: SitesFile, spec: str) -> list[str]:
    """Turn ``--jaws-env`` (``dev``, ``dev,prod`` or ``all``) into environment names.

    :returns: names in port-table order, without repeats.
    :raises SitesError: naming an unknown environment and listing the valid ones.
    """
    known = list(model.ports)
    if spec.strip() == "all":
        return known
    parts = [part.strip() for part in spec.split(",")]
    if len(parts) > 1 and not all(parts):
        raise SitesError(f"--jaws-env {spec!r} has an empty entry (an unset CI variable?); "
                         f"give {', '.join(model.ports)}, a comma list of them, or all")
    wanted = [part for part in parts if part]
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        raise SitesError(
            f"unknown environment {', '.join(unknown) or repr(spec)} for --jaws-env; "
            f"valid: {', '.join(known)}, a comma list of them, or all"
        )
    return [name for name in known if name in wanted]


def select_site(model: SitesFile, name: str) -> Site:
    """Return the named site. :raises SitesError: listing the valid site names."""
    try:
        return model.sites[name]
    except KeyError:
        raise SitesError(
            f"unknown site {name!r} for --jaws-site; valid: {', '.join(model.sites)}"
        ) from None
