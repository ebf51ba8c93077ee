"""The plan of the servers a run starts (MariaDB, RabbitMQ): ports, data directory, what to create.

Plain data and pure functions, for the plan (:mod:`pytest_jaws.plan.plan`) and the port offset
(:mod:`pytest_jaws.host.portoffset`); :mod:`pytest_jaws.deploy.runservers` starts and stops the servers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..sites.sitedeps import RUN_SERVER_PORTS

if TYPE_CHECKING:
    from ..sites.sites import Site


@dataclass(frozen=True)
class ServersPlan:
    """The servers of one environment: which to start, where, and what to create in them.

    ``start`` (``mysql``, ``rabbitmq``), ``directory`` (the data directory), ``marker``,
    ``ports`` (``{mysql, rabbitmq, rabbitmq-dist, epmd: TCP port}``), the MySQL ``databases``
    and RabbitMQ ``vhosts`` to create for ``user``, and the secret names of the passwords
    (``db_secret``, ``rmq_secrets``) and the ``peers``' queues.
    """

    start: tuple[str, ...]
    directory: Path
    marker: str
    ports: dict[str, int]
    databases: tuple[str, ...] = ()
    vhosts: tuple[str, ...] = ()
    user: str = "jaws"
    db_secret: str = "DB_PASSWORD"  # noqa: S105 - the name of a secret, not one
    rmq_secrets: tuple[str, ...] = ("RMQ_PASSWORD", "SITE_RMQ_PASSWORD")
    #: Queues of the sites central serves that this deployment does not run (``JAWS_<SITE>``):
    #: stand-ins answer central's RPC there (:mod:`pytest_jaws.fakes.peers`).
    peers: tuple[str, ...] = ()


def server_ports(env_index: int, offset: int) -> dict[str, int]:
    """Return the servers' ports in the environment of row ``env_index`` at ``offset``.

    :data:`pytest_jaws.sites.sitedeps.RUN_SERVER_PORTS` plus the offset plus the row (dev 0,
    staging 1, prod 2), as the port table's rows differ.
    """
    return {name: port + offset + env_index for name, port in RUN_SERVER_PORTS.items()}


def run_site(site: Site, env_index: int, offset: int, env: str, base: Path,
             marker: str) -> tuple[Site, ServersPlan]:
    """Return ``site`` with its run-started servers at this run's ports, and their plan.

    The dependencies and the JAWS configuration's endpoints (``config.db``, ``rmq``,
    ``site_rmq``) of each started server move to :func:`server_ports`; a server given by
    address is left as given.
    """
    from ..sites.sitevars import config_kinds
    from .depplan import database_name, vhost_name

    deps = site.dependencies
    assert deps is not None  # noqa: S101 - the caller asks only for sites with dependencies
    ports = server_ports(env_index, offset)
    deps_update: dict = {}
    config_update: dict = {}
    if "mysql" in deps.start:
        deps_update["mysql"] = deps.mysql.model_copy(update={"port": ports["mysql"]})
        config_update["db"] = site.config.db.model_copy(update={"port": ports["mysql"]})
    if "rabbitmq" in deps.start:
        deps_update["rabbitmq"] = deps.rabbitmq.model_copy(update={"port": ports["rabbitmq"]})
        config_update["rmq"] = site.config.rmq.model_copy(update={"port": ports["rabbitmq"]})
        if deps.site_rabbitmq is None:
            config_update["site_rmq"] = site.config.site_rmq.model_copy(
                update={"port": ports["rabbitmq"]})
    moved = site.model_copy(update={
        "dependencies": deps.model_copy(update=deps_update),
        "config": site.config.model_copy(update=config_update)})
    kinds = config_kinds(moved)
    # a central without its sites (a twin of central): stand-ins answer for them
    peers = tuple(f"JAWS_{sid}" for sid in moved.config.central_sites if sid != moved.site_id) \
        if moved.fake and "central" in moved.programs.by_instance() \
        and "rabbitmq" in deps.start else ()
    plan = ServersPlan(
        start=tuple(deps.start), directory=base / f"jaws-servers-{env}", marker=marker,
        ports=ports, databases=tuple(database_name(moved, k, env) for k in kinds),
        vhosts=tuple(dict.fromkeys(vhost_name(moved, u, env) for u in ("jaws", "jtm"))),
        user=deps.mysql.user, peers=peers)
    return moved, plan
