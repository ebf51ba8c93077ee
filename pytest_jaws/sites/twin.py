"""The fake twin of a real site (``--jaws-fake``): the same topology, on this machine.

Only what cannot exist here is replaced - hosts, users, install paths, the real packages.

The twin keeps the site's name, programs per role, their supervisord settings (startsecs,
startretries, stopwaitsecs) and its directory layout; the services become the fakes on
127.0.0.1, the base directory a local one, the role users the local-privsep users when
pytest runs as root and they exist (one user for both roles where the real site has one),
else the current user.
"""

from __future__ import annotations

import os
import pwd

from .sitedeps import Dependencies, start_dependencies
from .sitemodel import Role, Roles
from .sites import Site, SitesFile

#: The local users that stand in for a real site's two role users (scripts/create-users.sh).
TWIN_USERS = {"jaws": "jaws", "jtm": "jaws_jtm"}
#: The jtm role's own database and broker user in a twin of a site that shares the jaws role's.
TWIN_JTM_DB_USER = "jaws_jtm"


def _jtm_user(endpoint, source_given: bool) -> str | None:
    return endpoint.jtm_user if source_given else endpoint.jtm_user or TWIN_JTM_DB_USER


def _local_users_available() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        for user in TWIN_USERS.values():
            pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def twin_users(site: Site) -> list[str]:
    """Return the local users that run a twin of ``site`` (none: the current user)."""
    if not _local_users_available():
        return []
    same_user = site.roles.jaws.user == site.roles.jtm.user
    return list(dict.fromkeys(TWIN_USERS["jaws" if same_user else r] for r in TWIN_USERS))


def fake_twin(model: SitesFile, site_name: str, source_given: bool = False,
              python: str | None = None,
              java: str = "fake-java") -> tuple[SitesFile, tuple[str, ...]]:
    """Return ``(model with the site replaced by its twin, what was replaced)``.

    ``replaced`` is a tuple of one-line descriptions for the report header. With
    ``source_given`` (``--jaws-source``) the twin runs the real code: it installs that
    checkout the real sites' way (``venv`` runtime: wheels and service venvs, built with
    ``python``, an interpreter of the site's version, :mod:`pytest_jaws.install.interp`) instead of
    the fake checkout's fast path, and its MySQL and RabbitMQ are real servers the run starts
    (:mod:`pytest_jaws.deploy.runservers`). ``java``: the twin's java command (``fake-java``, the
    Cromwell stand-in's launcher; ``java`` to run a real jar).
    """
    site = model.sites[site_name]
    real_python = python
    same_user = site.roles.jaws.user == site.roles.jtm.user
    if _local_users_available():
        users = {r: TWIN_USERS["jaws" if same_user else r] for r in TWIN_USERS}
        roles = Roles(**{r: Role(user=u, group=u, become="runuser -u {user} --",
                                 start=getattr(site.roles, r).start)
                         for r, u in users.items()})
        runtime, python, who = "copy", "/usr/bin/python3", ", ".join(
            f"{getattr(site.roles, r).user} -> {u}" for r, u in users.items())
    else:
        roles = Roles(**{r: Role(user=None, group=None, become=None,
                                 start=getattr(site.roles, r).start) for r in TWIN_USERS})
        users = {}
        runtime, python, who = "current", None, "both roles -> the current user"
    if source_given:
        runtime, python = "venv", real_python or "/usr/bin/python3"
    local = {"host": "127.0.0.1"}
    config = site.config.model_copy(update={
        "scratch": "{base}/scratch", "jtm_scratch": None, "data_repo": None, "xmx": "256m",
        # the site's reference data and container directories -> under the local scratch
        "container": site.config.container.model_copy(update={"ref_data": None, "tmpdir": None}),
        # the jtm role's own database and broker user (the fakes check no credentials; the real
        # code's run-started servers know the site's users only): its files then hold no
        # password of the jaws role, where the real site shares them
        "db": site.config.db.model_copy(
            update={**local, "jtm_user": _jtm_user(site.config.db, source_given)}),
        "rmq": site.config.rmq.model_copy(update=local),
        "site_rmq": site.config.site_rmq.model_copy(
            update={**local, "jtm_user": _jtm_user(site.config.site_rmq, source_given)})})
    dependencies = None
    if source_given:  # the real code needs real servers: the run starts its own
        deps = site.dependencies
        dependencies = Dependencies.model_validate(start_dependencies({"start": True}))
        if deps is not None:  # the site's names for databases and vhosts
            dependencies = dependencies.model_copy(update={
                "mysql": dependencies.mysql.model_copy(update={
                    "databases": deps.mysql.databases, "user": deps.mysql.user}),
                "rabbitmq": dependencies.rabbitmq.model_copy(update={
                    "vhosts": deps.rabbitmq.vhosts, "user": deps.rabbitmq.user})})
    twin = site.model_copy(update={
        "fake": True, "ci": False, "bind": "127.0.0.1", "bind_all_interfaces": False,
        # the real code does what the site declares (its JAWS file); the fakes bind loopback
        "public_services": [], "declared": site.declared if source_given else [],
        "roles": roles, "runtime": runtime, "python": python,
        "python_load": None, "java_load": None, "java": java, "locale": "C.UTF-8",
        "install_base": None, "supervisor_host": None, "config": config,
        "dependencies": dependencies,
        "description": f"fake twin of {site_name}: {site.description}"})
    sites = dict(model.sites)
    sites[site_name] = twin
    same_users = all(getattr(site.roles, r).user == u for r, u in users.items()) \
        if _local_users_available() else False
    replaced = tuple(line for line, changed in (
        (f"host {site.supervisor_host} -> this machine (127.0.0.1)",
         site.supervisor_host not in (None, "localhost")),
        (f"bind {site.bind} -> 127.0.0.1", site.bind != "127.0.0.1"),
        (f"users: {who}", not same_users),
        (f"install base {site.install_base} -> a local base directory", True),
        ("JAWS checkout -> the fake checkout (pytest_jaws/fakes/checkout)", not source_given),
        (f"Cromwell {model.cromwell_of(site_name).version} jar -> the Cromwell stand-in",
         java == "fake-java"),
        (f"MySQL {site.config.db.host}, RabbitMQ "
         f"{' and '.join(dict.fromkeys([site.config.rmq.host, site.config.site_rmq.host]))} "
         "-> " + ("MariaDB and RabbitMQ started by the run on 127.0.0.1" if source_given
                  else "the fake broker directory"), True),
        ("the jtm role's database and broker passwords: the jaws role's -> its own "
         f"(user {TWIN_JTM_DB_USER})",
         not source_given and not (site.config.db.jtm_user and site.config.site_rmq.jtm_user)),
        (f"public services {', '.join(site.public_services)} -> 127.0.0.1",
         bool(site.public_services) and not (source_given and site.declared)),
        (f"sites central serves ({', '.join(site.config.central_sites)}) -> stand-ins "
         "answering its RPC on the run's RabbitMQ (pytest_jaws/fakes/peers.py)",
         source_given and "central" in site.programs.by_instance()
         and any(s != site.site_id for s in site.config.central_sites)),
        ("declared JAWS behaviour kept (the real code does it): " + "; ".join(
            f"{', '.join(d.programs)} {d.behaviour} ({d.source})" for d in site.declared),
         source_given and bool(site.declared)),
        (f"python {site.python_load + ' / ' if site.python_load else ''}{site.python} -> "
         f"{python or 'the running interpreter'}", True),
        (f"java {site.java_load + ' / ' if site.java_load else ''}{site.java} -> {java}",
         True),
    ) if changed)
    return model.model_copy(update={"sites": sites}), replaced
