"""Where a run's environments go (the base directory), by the rules a user expects.

1. ``--jaws-basedir`` when given;
2. a real site's install base (there the deployment is the product);
3. a deployment that may be left up (``--jaws-teardown`` never / on-success): a stable
   ``<tmp>/pytest-jaws-<user>/<site>[+<offset>]``, not pytest's temporary directory, which
   pytest rotates away, so that the next run finds and reuses it;
4. role users other than the current one: a fresh world-traversable ``<tmp>/pytest-jaws-*``
   (pytest's own temporary root is private, 0700), removed at the end of the run;
5. otherwise ``<pytest's temporary root>/jaws``.
"""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path

from .options import Settings


def choose_basedir(settings: Settings, pytest_root: Path) -> tuple[Path, bool]:
    """Return ``(base directory, owned)``; ``owned`` means the run created it and removes it
    when its deployments are down. Creates the directory (mode 0755) when the rules say so."""
    site = settings.model.sites[settings.site]
    if settings.basedir:
        return settings.basedir, False
    if site.install_base:
        return Path(site.install_base), False
    if settings.teardown != "always":
        stable = Path(tempfile.gettempdir()) / f"pytest-jaws-{getpass.getuser()}"
        stable.mkdir(mode=0o755, exist_ok=True)
        suffix = f"+{settings.port_offset}" if settings.port_offset else ""
        stable = stable / f"{settings.site}{suffix}"
        stable.mkdir(mode=0o755, exist_ok=True)
        return stable, False
    if settings.separate_users:
        fresh = Path(tempfile.mkdtemp(prefix="pytest-jaws-"))
        fresh.chmod(0o755)
        return fresh, True
    return pytest_root / "jaws", False


def plan_basedir(settings: Settings) -> Path:
    """The base directory a ``--jaws-plan`` is shown for (nothing is created): as
    :func:`choose_basedir`, with ``<pytest temporary root>`` standing for pytest's."""
    site = settings.model.sites[settings.site]
    if settings.basedir:
        return settings.basedir
    if site.install_base:
        return Path(site.install_base)
    return Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}" / "pytest-N" / "jaws"
