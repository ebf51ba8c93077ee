"""What the pre-flight checks of MySQL and RabbitMQ: one :class:`DependencyCheck` per server.

Made from the site model when the plan is made; :mod:`pytest_jaws.probes.dependencies` runs them.
Database and vhost names follow JAWS's test/integration/generate-configs, deploy-central and
deploy-cromwell (``databases:``/``vhosts:`` in sites.yaml override them).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sites.sitedeps import JAWS_DATABASES, JAWS_VHOSTS
from ..sites.sites import Site

#: The secret holding each dependency's password (pytest_jaws.sites.sitevars.SECRETS names).
SECRETS = {"mysql": "DB_PASSWORD", "rabbitmq": "RMQ_PASSWORD", "site_rabbitmq": "SITE_RMQ_PASSWORD"}


@dataclass(frozen=True)
class DependencyCheck:
    """One server to check, with the ``targets`` (databases, or vhosts) that must be usable.

    ``key`` (mysql, rabbitmq, site_rabbitmq), ``kind`` (mysql or rabbitmq), a ``label`` for
    messages, ``host``, TCP ``port``, ``user`` and the ``secret`` name of the password.
    """

    key: str
    kind: str
    label: str
    host: str
    port: int
    user: str
    secret: str
    targets: tuple[str, ...]

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def what(self) -> str:
        """What is checked, in words (for the plan and the summary)."""
        noun = "database" if self.kind == "mysql" else "vhost"
        action = ("exists and the user can use it" if self.kind == "mysql"
                  else "exists and a channel opens on it")
        return (f"login as {self.user}; {noun}{'s' if len(self.targets) > 1 else ''} "
                f"{', '.join(self.targets)}: {action}")

    def describe(self) -> str:
        """``MySQL 127.0.0.1:3306: login as jaws; databases ...: ...``."""
        return f"{self.label} {self.address}: {self.what}"


def database_name(site: Site, kind: str, env: str) -> str:
    """Return the database of config file ``kind`` (jaws-site, jaws-jtm, cromwell, jaws-central).

    In ``env``: the site's ``dependencies.mysql.databases``, else JAWS's naming.
    """
    names: dict[str, str] = dict(JAWS_DATABASES.items())
    if site.dependencies:
        names.update(site.dependencies.mysql.databases.items())
    return names[kind].format(site=site.site_id.lower(), env=env)


def vhost_name(site: Site, use: str, env: str, broker: str = "rabbitmq") -> str:
    """Return the vhost of ``use`` (jaws: RPC, jtm: jtm's queue) on ``broker`` in ``env``.

    ``broker`` is rabbitmq (central's) or site_rabbitmq (the site's); the vhost is the site's
    declared one or JAWS's naming.
    """
    names: dict[str, str] = dict(JAWS_VHOSTS.items())
    if site.dependencies is not None:
        dep = site.dependencies.site_broker() if broker == "site_rabbitmq" \
            else site.dependencies.rabbitmq
        names.update(dep.vhosts.items())
    return names[use].format(env=env)


def plan_checks(site: Site, kinds: list[str], env: str) -> tuple[DependencyCheck, ...]:
    """Return the checks of one environment of ``site`` whose configuration files are ``kinds``.

    ``kinds`` as :func:`pytest_jaws.sites.sitevars.config_kinds` gives them; empty when the site
    declares no dependencies.

    Which programs use what (generate-configs): jaws-site uses central's broker (vhost jaws)
    and the site's broker (jaws); jtm the site's broker (jtm and jaws); central its broker
    (jaws); each config file its own database.
    """
    deps = site.dependencies
    if deps is None:
        return ()
    central_uses, site_uses = [], []
    if "jaws-site" in kinds:
        central_uses.append("jaws")
        site_uses.append("jaws")
    if "jaws-jtm" in kinds:
        site_uses += ["jaws", "jtm"]
    if "jaws-central" in kinds:
        central_uses.append("jaws")
    out = [DependencyCheck(
        "mysql", "mysql", "MySQL", deps.mysql.host, deps.mysql.port, deps.mysql.user,
        SECRETS["mysql"], tuple(database_name(site, k, env) for k in kinds))]
    brokers = [("rabbitmq", "RabbitMQ (central's broker)", deps.rabbitmq, central_uses),
               ("site_rabbitmq", "RabbitMQ (site's broker)", deps.site_broker(), site_uses)]
    for key, label, dep, uses in brokers:
        vhosts = tuple(dict.fromkeys(vhost_name(site, u, env, key) for u in uses))
        if vhosts:
            out.append(DependencyCheck(key, "rabbitmq", label, dep.host, dep.port, dep.user,
                                       SECRETS[key], vhosts))
    return tuple(out)
