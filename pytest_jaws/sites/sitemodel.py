"""The parts of the sites.yaml model that lay a site out, from the port table to its programs.

The port table, instances, venvs, services, Cromwell, roles, programs and the behaviours a site
declares (pydantic models, strict: unknown keys are errors), and the strict base of every part.
A site's dependencies are in :mod:`pytest_jaws.sites.sitedeps`, its JAWS configuration in
:mod:`pytest_jaws.sites.siteconf`; :mod:`pytest_jaws.sites.siteschema` builds the whole file
from them.

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

