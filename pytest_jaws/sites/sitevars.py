"""Facts of the site model that several stages need, so that none reaches into a later one.

The names of the environment variables that hold supervisord keys (:func:`key_variable`) and
the secrets of the JAWS configuration files (:func:`secret_variable`), which secrets each file
needs (:data:`SECRETS`, :func:`config_kinds`, :func:`secrets_needed`) and what a secret's value
must be (:func:`check_secret`), and the port table shifted by an offset (:func:`shifted_ports`).
Options check them, the plan names them, the configuration files are written from them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import PlanError
from ..keys import MIN_KEY_LENGTH

if TYPE_CHECKING:
    from .siteschema import Site, SitesFile

#: The secrets of the JAWS configuration files, by file kind. JAWS's CI variables:
#: JAWS_DB_PW, JAWS_RMQ_PW (central's broker), <SITE>_RMQ_PW (the site's broker),
#: JAWS_GLOBUS_CLIENT_SECRET, JAWS_EMAIL_PW (generate-configs, deploy-central).
SECRETS: dict[str, tuple[str, ...]] = {
    "jaws-site": ("DB_PASSWORD", "RMQ_PASSWORD", "SITE_RMQ_PASSWORD", "GLOBUS_CLIENT_SECRET"),
    "jaws-jtm": ("DB_PASSWORD", "SITE_RMQ_PASSWORD"),
    "cromwell": ("DB_PASSWORD",),
    "jaws-central": ("DB_PASSWORD", "RMQ_PASSWORD", "GLOBUS_CLIENT_SECRET", "EMAIL_PASSWORD"),
}


def key_variable(site: str, env: str, instance: str) -> str:
    """Name of the environment variable that may hold a supervisord key.

    ``JAWS_SUPERVISOR_KEY_<SITE>_<ENV>_<INSTANCE>``, upper case, ``-`` as ``_``
    (e.g. ``JAWS_SUPERVISOR_KEY_CORI_DEV_JTM``, ``JAWS_SUPERVISOR_KEY_CENTRAL_PROD_CENTRAL``).
    """
    return "_".join(["JAWS_SUPERVISOR_KEY", site, env, instance]).upper().replace("-", "_")


def secret_variable(site: str, env: str, name: str) -> str:
    """Name of the environment variable holding one secret of the JAWS configuration files.

    ``JAWS_SECRET_<SITE>_<ENV>_<NAME>``, upper case, ``-`` as ``_`` (e.g.
    ``JAWS_SECRET_CORI_DEV_DB_PASSWORD``); the names are those of
    :data:`SECRETS`.
    """
    return "_".join(["JAWS_SECRET", site, env, name]).upper().replace("-", "_")


def shifted_ports(model: SitesFile, env: str, offset: int) -> dict[str, int]:
    """Return the environment's port row shifted by ``offset``.

    :raises PlanError: when a shifted port leaves 1-65535 (naming the port and the offset).
    """
    out = {}
    for name, port in model.ports[env].by_name().items():
        moved = port + offset
        if not 1 <= moved <= 65535:
            raise PlanError(
                f"--jaws-port-offset {offset} moves ports.{env}.{name} ({port}) to {moved}, "
                "outside 1-65535; choose an offset that keeps every port of the table inside it"
            )
        out[name] = moved
    return out


def config_kinds(site: Site) -> list[str]:
    """Return the configuration files a site's instances need.

    jaws -> jaws-site, jtm -> jaws-jtm and cromwell, central -> jaws-central.
    """
    have = site.programs.by_instance()
    return ((["jaws-site"] if "jaws" in have else []) + (["jaws-jtm", "cromwell"] if "jtm" in have
            else []) + (["jaws-central"] if "central" in have else []))


#: The configuration files the jtm role's programs read (jtm, Cromwell).
JTM_KINDS = ("jaws-jtm", "cromwell")
#: The jtm role's own secrets, by the shared one they replace, when the site names the jtm
#: role's user (:class:`pytest_jaws.sites.sitedeps.RoleEndpoint`, ``jtm_user``): by endpoint.
JTM_SECRETS = {"db": ("DB_PASSWORD", "JTM_DB_PASSWORD"),
               "site_rmq": ("SITE_RMQ_PASSWORD", "JTM_RMQ_PASSWORD")}


def jtm_credentials(site: Site, endpoint: str) -> tuple[str, str]:
    """Return ``(user, secret name)`` the jtm role's programs connect with to ``endpoint``.

    ``endpoint`` is ``db`` or ``site_rmq``. The jtm role's own user and secret
    (``JTM_DB_PASSWORD``, ``JTM_RMQ_PASSWORD``) when the site names it (``config.<endpoint>.
    jtm_user``), else the jaws role's, as JAWS's generate-configs writes them.
    """
    ep = getattr(site.config, endpoint)
    shared, own = JTM_SECRETS[endpoint]
    return (ep.jtm_user, own) if getattr(ep, "jtm_user", None) else (ep.user, shared)


def _secret_of(kind: str, name: str, site: Site | None) -> str:
    if site is None or kind not in JTM_KINDS:
        return name
    for endpoint, (shared, _own) in JTM_SECRETS.items():
        if name == shared:
            return jtm_credentials(site, endpoint)[1]
    return name


def secrets_needed(kinds: list[str], site: Site | None = None) -> list[str]:
    """Return the secret names the given config kinds need, without repeats, in a stable order.

    With ``site``, the jtm role's files take its own secrets where the site names its user
    (:func:`jtm_credentials`).
    """
    return list(dict.fromkeys(_secret_of(kind, name, site) for kind in kinds
                              for name in SECRETS[kind]))


def role_secrets(site: Site, kinds: list[str]) -> dict[str, set[str]]:
    """Return ``{role: secret names its configuration files hold}`` (jtm: jaws-jtm, cromwell).

    The jaws role's: jaws-site's and jaws-central's. A name in both is a secret the jtm role
    holds of the jaws role's (JAWS's own layout, where the site names no jtm user).
    """
    out: dict[str, set[str]] = {"jaws": set(), "jtm": set()}
    for kind in kinds:
        role = "jtm" if kind in JTM_KINDS else "jaws"
        out[role] |= {_secret_of(kind, name, site) for name in SECRETS[kind]}
    return out


def check_secret(value: str, origin: str) -> str:
    """Return ``value`` when it can be written into every JAWS config file and masked.

    :raises ValueError: for an empty value or one with whitespace (configparser strips it,
        a line break ends it), or one shorter than :data:`pytest_jaws.keys.MIN_KEY_LENGTH`
        (too short to be masked reliably in output), naming ``origin``, never the value.
    """
    if not value or re.search(r"\s", value):
        raise ValueError(f"secret from {origin} is empty or contains whitespace, which the JAWS "
                         "config files cannot keep; set a value without spaces or line breaks")
    if len(value) < MIN_KEY_LENGTH:
        raise ValueError(f"secret from {origin} is shorter than {MIN_KEY_LENGTH} characters, "
                         "too short for pytest-jaws to mask it in every output; use a longer one")
    return value
