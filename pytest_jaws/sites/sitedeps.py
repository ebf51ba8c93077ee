"""A site's dependencies in the sites.yaml model: MySQL, RabbitMQ, and the servers a run starts.

The endpoints, the databases and vhosts of each JAWS configuration file, and the loopback ports
of the run-started servers (pydantic models, strict: unknown keys are errors).
:mod:`pytest_jaws.sites.siteschema` builds the whole file from them.

Facts in the shipped ``sites.yaml`` come from the JAWS deployment docs (shared DESIGN.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .sitemodel import _Strict


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
#: Below Linux's ephemeral port range (32768-60999 by default) at every offset: an outgoing
#: connection that took such a port as its own leaves it in TIME_WAIT for 60 s after it closes,
#: and a server cannot bind it then, SO_REUSEADDR or not (seen as MariaDB's errno 98 and
#: RabbitMQ's ``dist_port_already_used``, 2026-12-07, at 33306, 35672 and 35692 + offset).
RUN_SERVER_PORTS: dict[str, int] = {"mysql": 23306, "rabbitmq": 25672, "rabbitmq-dist": 25692,
                                    "epmd": 24369}


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
