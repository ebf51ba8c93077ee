"""The sites file: its model (:class:`SitesFile`, :class:`Site`), read and validated.

Every error is a :class:`SitesError` whose message names the file and the key path of the
problem (``sites.local.roles.jtm.usr``) and what was expected; the plugin turns it into a
``pytest.UsageError`` before anything is deployed. The parts of the model are in
:mod:`pytest_jaws.sitemodel`, the checks across keys in :mod:`pytest_jaws.sitecheck`.

Facts in the shipped ``sites.yaml`` come from the JAWS deployment docs (shared DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from .errors import SitesError
from .sitecheck import cross_check
from .sitemodel import (
    Cromwell,
    Dependencies,
    EnvironmentPorts,
    Instance,
    InstancePrograms,
    JawsConfig,
    ProgramOverride,
    Roles,
    Service,
    Venv,
    _Strict,
    start_dependencies,
)

#: The sites file shipped inside the package, used when the rootdir has none.
PACKAGED_SITES_FILE: Path = Path(__file__).with_name("sites.yaml")


class Site(_Strict):
    """One site: fake or real, its bind address, roles, programs and JAWS configuration.

    ``bind`` is the address supervisord and the services listen on; an all-interfaces
    address (0.0.0.0, ::, *) needs ``bind_all_interfaces: true``. ``public_services``: programs
    that listen on every interface by design (central's auth and rest); the port suite checks
    that exactly these do. ``python`` is the interpreter the role users run (null: the one
    running pytest), ``python_version`` the Python version the site's service venvs run (a fake
    twin that runs the real code uses an interpreter of it, :mod:`pytest_jaws.interp`),
    ``python_load``/``java_load`` the shell lines that make Python and java
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
    public_services: list[str] = Field(default_factory=list)
    python: str | None = None
    python_version: str | None = Field(default=None, pattern=r"^3\.[0-9]+$")
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
    overrides: dict[str, ProgramOverride] = Field(default_factory=dict)
    config: JawsConfig
    cromwell: Cromwell | None = None
    dependencies: Dependencies | None = None

    @model_validator(mode="before")
    @classmethod
    def _endpoints_from_dependencies(cls, data):
        """Give a site that declares ``dependencies`` its config's db/rmq/site_rmq from them.

        One source of truth: it may not also write them. Without dependencies all three are required
        in ``config``.
        """
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            return data
        config = dict(data["config"])
        deps = start_dependencies(data.get("dependencies"))
        if deps is not data.get("dependencies"):
            data = dict(data, dependencies=deps)
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
    """The whole sites file.

    The port table, log levels, instances, venvs, services, the default Cromwell and the sites.
    """

    ports: dict[str, EnvironmentPorts]
    log_levels: dict[str, Literal["DEBUG", "INFO", "WARNING", "ERROR"]]
    instances: dict[Literal["jaws", "jtm", "central"], Instance]
    venvs: dict[Literal["site", "jtm", "central"], Venv]
    services: dict[str, Service]
    cromwell: Cromwell
    sites: dict[str, Site]

    def runner_tags_of(self, site: str) -> list[str]:
        """Return the GitLab runner tags of ``site``'s integration jobs.

        Its ``runner_tags``, else ``["jaws-<site>"]``.
        """
        return list(self.sites[site].runner_tags or [f"jaws-{site}"])

    def cromwell_of(self, site: str) -> Cromwell:
        """Return the Cromwell release of ``site`` (its own, else the file's default)."""
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


def _describe(error: Mapping[str, Any]) -> str:
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
    """Validate a sites file already read into plain data (what :func:`parse_sites` does after YAML).

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
    problems = cross_check(model)
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
