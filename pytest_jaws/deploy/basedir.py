"""Where a run's environments go (the base directory), by the rules a user expects.

1. ``--jaws-basedir`` when given;
2. a real site's install base (there the deployment is the product);
3. a deployment that may be left up (``--jaws-teardown`` never / on-success), or one an
   operator completes (a twin of a site with a ``start: operator`` role, unless the run plays
   the operator): a stable ``<tmp>/pytest-jaws-<user>/<site>[+<offset>]``, not pytest's
   temporary directory, which pytest rotates away, so that the next run finds and reuses it
   (and the operator's instance started from it);
4. role users other than the current one: a fresh world-traversable ``<tmp>/pytest-jaws-*``
   (pytest's own temporary root is private, 0700), removed at the end of the run;
5. otherwise ``<pytest's temporary root>/jaws``.

A base directory that exists already is reused only when it is the invoking user's and not
writable by others, under parents that belong to root or the invoking user
(:func:`pytest_jaws.host.safedirs.check_base`): another local user could otherwise prepare it, with
keys and shims of their choosing.
"""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path

from ..host import filesystem, safedirs
from ..sites.settings import Settings


def choose_basedir(settings: Settings, pytest_root: Path) -> tuple[Path, bool]:
    """Return ``(base directory, owned)``; create the directory (mode 0755) when the rules say so.

    ``owned`` means the run created it and removes it when its deployments are down.

    :raises pytest_jaws.errors.UnsafePathError: for an existing base directory (or parent)
        that another user owns or may write, naming it and its owner.
    """
    site = settings.model.sites[settings.site]
    if settings.basedir:
        _check_if_present(settings.basedir)
        return settings.basedir, False
    if site.install_base:
        _check_if_present(Path(site.install_base))
        return Path(site.install_base), False
    if keeps_stable(settings):
        stable = stable_basedir(settings)
        safedirs.check_base(stable.parent, create=True)
        safedirs.check_base(stable, create=True)
        return stable, False
    if settings.separate_users:
        fresh = Path(tempfile.mkdtemp(prefix="pytest-jaws-"))
        fresh.chmod(0o755)
        return fresh, True
    return pytest_root / "jaws", False


def keeps_stable(settings: Settings) -> bool:
    """Tell whether the run's deployment goes to the stable base directory (rule 3).

    Left up (``--jaws-teardown`` never / on-success), or completed by an operator: a role of
    the site is ``start: operator`` and the run does not play the operator.
    """
    roles = settings.model.sites[settings.site].roles
    operator = any(r.start == "operator" for r in (roles.jaws, roles.jtm))
    return settings.teardown != "always" or (operator and not settings.play_operator)


def stable_basedir(settings: Settings) -> Path:
    """``<tmp>/pytest-jaws-<user>/<site>[+<offset>]``: rule 3's base directory."""
    suffix = f"+{settings.port_offset}" if settings.port_offset else ""
    return (Path(tempfile.gettempdir()) / f"pytest-jaws-{getpass.getuser()}"
            / f"{settings.site}{suffix}")


def _check_if_present(path: Path, envs: int = 1) -> None:
    filesystem.check_names(path, "base directory")
    if path.is_symlink():
        safedirs.check_base(path)  # refused, naming the link: never followed
    # a read-only file system first: the advice for a directory others may write (chmod go-w)
    # cannot be followed there
    filesystem.check_writable(path, "base directory")
    if path.exists():
        safedirs.check_base(path)
    filesystem.check_room(path, "base directory", envs)


def check_existing(settings: Settings) -> None:
    """Before anything runs, check the base directory the rules would reuse, if it exists already.

    Nothing is created. It must also be writable and have room for the environments
    (:mod:`pytest_jaws.host.filesystem`).

    :raises pytest_jaws.errors.UnsafePathError: as :func:`choose_basedir`; on a read-only
        file system; with less room than the environments need.
    """
    site = settings.model.sites[settings.site]
    envs = len(settings.envs)
    if settings.basedir:
        _check_if_present(settings.basedir, envs)
    elif site.install_base:
        _check_if_present(Path(site.install_base), envs)
    elif keeps_stable(settings):
        for path in (stable_basedir(settings).parent, stable_basedir(settings)):
            _check_if_present(path, envs)


def plan_basedir(settings: Settings) -> Path:
    """Return the base directory a ``--jaws-plan`` is shown for (nothing is created).

    As :func:`choose_basedir`, with ``<pytest temporary root>`` standing for pytest's.
    """
    site = settings.model.sites[settings.site]
    if settings.basedir:
        return settings.basedir
    if site.install_base:
        return Path(site.install_base)
    return Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}" / "pytest-N" / "jaws"
