"""Checks of a whole sites file that no single key can make, and the choice of site and envs.

Ports distinct, programs known, addresses a fake site may bind...; and picking the site and
environments that options name.

Every problem is named by its key path (``sites.local.bind``) and says what was expected.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING

from ..errors import SitesError
from .sitemodel import LOOPBACK

if TYPE_CHECKING:
    from .siteschema import Site, SitesFile


#: Bytes a program (service) name may have: it names files (``<name>.out.log``, the shim, and
#: their temporary ``.<name>.<pid>.<random>.tmp`` while written), and a file name may have at
#: most 255 bytes (NAME_MAX on Linux).
MAX_PROGRAM_NAME = 128


def bind_scope(bind: str) -> str:
    """Return what a bind address reaches: ``"all"``, ``"loopback"`` or ``"specific"``.

    ``"all"`` is every interface. Parsed as the socket layer does (:mod:`ipaddress`, and
    :func:`socket.inet_aton` for the short IPv4 forms such as ``0`` or ``127.1``): any
    unspecified address (``0``, ``0.0``, ``::0``, ``0:0:0:0:0:0:0:0``, ``::ffff:0.0.0.0``), ``*``
    and the empty string are ``"all"``; ``localhost`` is ``"loopback"``.

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


def cross_check(model: SitesFile) -> list[str]:
    """Return every problem of ``model`` that no single key shows, as ``key.path: what`` lines.

    Empty: none.
    """
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
    for name in model.services:
        if len(name.encode()) > MAX_PROGRAM_NAME:
            problems.append(
                f"services.{name[:40]}...: a program name of {len(name.encode())} bytes; at most "
                f"{MAX_PROGRAM_NAME}: it names the program's shim, logs and their temporary "
                "files, and a file name may have at most 255 bytes; use a shorter name")
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
        for i, decl in enumerate(site.declared):
            for j, name in enumerate(decl.programs):
                if name not in site.programs.all():
                    problems.append(f"sites.{site_name}.declared.{i}.programs.{j}: {name!r} is "
                                    "not a program of this site")
        for i, name in enumerate(site.public_services):
            if name not in site.programs.all():
                problems.append(f"sites.{site_name}.public_services.{i}: {name!r} is not a "
                                "program of this site")
        if site.fake and site.dependencies is not None:
            for dep_name, dep in (("mysql", site.dependencies.mysql),
                                  ("rabbitmq", site.dependencies.rabbitmq),
                                  ("site_rabbitmq", site.dependencies.site_rabbitmq)):
                if dep is not None and dep.host not in (*LOOPBACK, "localhost"):
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
    if "all" in wanted and "all" not in known:
        raise SitesError(f"--jaws-env {spec!r}: all already means every environment "
                         f"({', '.join(known)}) and cannot be combined with others; give all, "
                         "or a comma list of environments")
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        raise SitesError(
            f"unknown environment {', '.join(map(repr, unknown)) or repr(spec)} for --jaws-env; "
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
