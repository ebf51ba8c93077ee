"""The top of the sites.yaml model: :class:`SitesFile` (the whole file) and :class:`Site`.

Built from the parts in :mod:`pytest_jaws.sites.sitemodel`, :mod:`pytest_jaws.sites.sitedeps` and
:mod:`pytest_jaws.sites.siteconf`; :mod:`pytest_jaws.sites.sites` reads and
validates a file into them, :mod:`pytest_jaws.sites.sitecheck` checks across their keys.

Facts in the shipped ``sites.yaml`` come from the JAWS deployment docs (shared DESIGN.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .siteconf import JawsConfig
from .sitedeps import Dependencies, start_dependencies
from .sitemodel import (
    Cromwell,
    DeclaredBehaviour,
    EnvironmentPorts,
    Instance,
    InstancePrograms,
    ProgramOverride,
    Roles,
    Service,
    Venv,
    _Strict,
)


class Site(_Strict):
    """One site: fake or real, its bind address, roles, programs and JAWS configuration.

    ``bind`` is the address supervisord and the services listen on; an all-interfaces
    address (0.0.0.0, ::, *) needs ``bind_all_interfaces: true``. ``public_services``: programs
    that listen on every interface by design (central's auth and rest); the port suite checks
    that exactly these do. ``declared``: real JAWS behaviour a check would otherwise fail, each
    with the JAWS file that does it (:class:`pytest_jaws.sites.sitemodel.DeclaredBehaviour`); its
    ``binds-all-interfaces`` programs are expected on every interface. ``python`` is the
    interpreter the role users run (null: the one
    running pytest), ``python_version`` the Python version the site's service venvs run (a fake
    twin that runs the real code uses an interpreter of it, :mod:`pytest_jaws.install.interp`),
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
    supervisord's count of quick exits before FATAL. ``watchsecs`` (seconds) is how long after
    the deployment settled the health suite's stability check watches the programs before it
    judges them (:mod:`pytest_jaws.deploy.stability`): a crash loop whose lives are shorter shows an
    exit. 10 s by default (JAWS's real central-rpc and jtm-rpc, crash-looping, lived about 8 s);
    the embedded fake sites, whose programs are pytest-jaws's own, set less.

    ``readysecs`` (seconds, fractions allowed) is the harness's own start check for programs
    whose ``startsecs`` is 0: supervisord counts ``startsecs`` in whole seconds, so a program
    that is ready in a fraction of one (the fakes: about 0.1 s) either waits a full second or
    goes RUNNING at its spawn, when an exit during its start-up is no longer "too quick" and is
    restarted forever instead of ending FATAL. With ``readysecs`` the deployment waits until
    each such program has been RUNNING under one PID for that long; an exit or a new PID before
    then fails the deployment naming the program (:func:`pytest_jaws.deploy.waits.wait_programs`).
    Null (the default, and every real site): supervisord's ``startsecs`` alone.
    """

    fake: bool
    description: str = ""
    site_id: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,7}$")
    bind: str
    bind_all_interfaces: bool = False
    public_services: list[str] = Field(default_factory=list)
    declared: list[DeclaredBehaviour] = Field(default_factory=list)
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
    watchsecs: float = Field(default=10.0, ge=0)
    readysecs: float | None = Field(default=None, gt=0, le=60)
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
