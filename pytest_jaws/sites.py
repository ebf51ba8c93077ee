"""The sites.yaml model: the port table, the services and the sites, validated.

Every error is a :class:`SitesError` whose message names the file and the key path of the
problem (``sites.local.roles.jtm.usr``) and what was expected; the plugin turns it into a
``pytest.UsageError`` before anything is deployed.

Facts in the shipped ``sites.yaml`` come from the JAWS deployment docs (shared DESIGN.md).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import pkgutil
import socket
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: The role names: ``jaws`` runs the JAWS services, ``jtm`` runs the user workloads.
ROLES: tuple[str, ...] = ("jaws", "jtm")
#: The columns of the documented port table, in DESIGN.md order.
PORT_NAMES: tuple[str, ...] = (
    "central-auth",
    "central-rest",
    "cromwell",
    "supervisord-jaws",
    "supervisord-jtm",
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


class SitesError(ValueError):
    """A sites file that cannot be used: missing, not YAML, or not valid against the model.

    The message names the file, the key path or line/column, and what was expected.
    """


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EnvironmentPorts(_Strict):
    """One environment's row of the port table (TCP ports, 1-65535)."""

    central_auth: int = Field(alias="central-auth", ge=1, le=65535, strict=True)
    central_rest: int = Field(alias="central-rest", ge=1, le=65535, strict=True)
    cromwell: int = Field(ge=1, le=65535, strict=True)
    supervisord_jaws: int = Field(alias="supervisord-jaws", ge=1, le=65535, strict=True)
    supervisord_jtm: int = Field(alias="supervisord-jtm", ge=1, le=65535, strict=True)

    def by_name(self) -> dict[str, int]:
        """Return ``{port name: port}`` keyed by the port table's column names."""
        return self.model_dump(by_alias=True)


class Service(_Strict):
    """What a supervised program is: its port column, health path, fake module, timings.

    ``startsecs`` and ``stopwaitsecs`` are seconds, as in supervisord's program section.
    """

    port: Literal[PORT_NAMES] | None  # type: ignore[valid-type]
    health: str | None = Field(pattern=r"^/")
    health_auth: Literal["bearer"] | None = None
    fake: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    startsecs: int = Field(default=3, ge=0)
    stopwaitsecs: int = Field(default=10, ge=1)
    install: Install | None = None


class Install(_Strict):
    """How a real site installs and starts a service (JAWS's own deployment).

    ``venv``: a pip requirement installed into the service's venv
    ``<install base>/jaws-<env>/venvs/<program>``; ``jar``: a jar file name under
    ``<install base>/jaws-<env>/jars/``; ``command``: what the program's shim ``exec``-s, a
    template with ``{venv}``, ``{jar}``, ``{env}``, ``{port}``, ``{bind}``, ``{site}``.
    """

    venv: str | None = None
    jar: str | None = None
    command: str


class Role(_Strict):
    """A role's Unix user and group and how to become that user.

    ``user: null`` means the user running pytest. ``become`` is a command prefix template
    with ``{user}`` (e.g. ``runuser -u {user} --``); null means no prefix is needed.
    """

    user: str | None = Field(pattern=UNIX_NAME, max_length=32)
    group: str | None = Field(pattern=UNIX_NAME, max_length=32)
    become: str | None


class Roles(_Strict):
    """The two roles of a site."""

    jaws: Role
    jtm: Role


class RolePrograms(_Strict):
    """Which programs each role's supervisord runs."""

    jaws: list[str]
    jtm: list[str]


class ProgramOverride(_Strict):
    """Per-site changes to one program: extra arguments for the fake, or a whole command."""

    args: list[str] = []
    command: str | None = None


class Site(_Strict):
    """One site: fake or real, its bind address, roles and programs.

    ``bind`` is the address supervisord and the services listen on; an all-interfaces
    address (0.0.0.0, ::, *) needs ``bind_all_interfaces: true``. ``python`` is the
    interpreter the role users run (null: the one running pytest) and ``python_load`` the
    shell line that makes it available (e.g. ``module load python``). ``runtime`` says where
    supervisor and the services come from: ``current`` (the running interpreter's packages),
    ``copy`` (copied into ``<dir>/lib``, world-readable, for role users who cannot read the
    running interpreter's site-packages) or ``venv`` (JAWS's bootstrap: a venv with supervisor
    in ``<dir>/venv`` and one venv per service). ``install_base`` is where a real site's
    environments live; ``supervisor_host`` the host supervisord runs on; ``ci`` marks the real
    sites that the GitLab integration matrix deploys.

    ``startsecs`` (seconds) overrides every service's value when set; ``startretries`` is
    supervisord's count of quick exits before FATAL.
    """

    fake: bool
    description: str = ""
    bind: str
    bind_all_interfaces: bool = False
    python: str | None = None
    python_load: str | None = None
    runtime: Literal["current", "copy", "venv"] = "current"
    install_base: str | None = None
    supervisor_host: str | None = None
    ci: bool = False
    startsecs: int | None = Field(default=None, ge=0)
    startretries: int = Field(default=10, ge=0)
    roles: Roles
    programs: RolePrograms
    overrides: dict[str, ProgramOverride] = {}


class SitesFile(_Strict):
    """The whole sites file: ``ports`` (env -> row), ``services`` and ``sites``."""

    ports: dict[str, EnvironmentPorts]
    services: dict[str, Service]
    sites: dict[str, Site]


def _fake_modules() -> list[str]:
    import pytest_jaws.fakes as fakes
    return sorted(m.name for m in pkgutil.iter_modules(fakes.__path__) if m.name != "common")


class _UniqueKeyLoader(yaml.SafeLoader):
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
    for name, service in model.services.items():
        if importlib.util.find_spec(f"pytest_jaws.fakes.{service.fake}") is None:
            problems.append(f"services.{name}.fake: no module pytest_jaws.fakes.{service.fake}; "
                            f"known: {', '.join(_fake_modules())}")
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
        for role in ROLES:
            for i, program in enumerate(getattr(site.programs, role)):
                here = f"sites.{site_name}.programs.{role}.{i}"
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
    wanted = [part.strip() for part in spec.split(",") if part.strip()]
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
