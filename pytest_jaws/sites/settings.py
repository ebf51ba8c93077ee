"""The settings of a run: the validated site model and what the options chose from it.

Plain data, made only by :func:`pytest_jaws.plugin.options.resolve` (which checks every value first),
read by every later stage: the plan, the deployment, the printed commands and the report.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from pathlib import Path

from .siteschema import SitesFile


@dataclass(frozen=True)
class Settings:
    """Resolved options: the validated ``model``, the ``site`` and everything the run needs.

    The validated ``model``, the ``site`` name, the ``envs`` in table order, the ``sites_file``
    used, the ``basedir`` (None: pytest's temporary directory) and the ``port_offset`` (ports),
    the ``teardown`` policy, the ``report`` path (JSON), for a fake twin (``--jaws-fake``) what
    was ``replaced``, the JAWS checkout ``source`` (None: the site's default), the Cromwell jar
    to put in place (``cromwell_jar``), whether checks that disturb service run on a real site
    (``allow_destructive``) and, for ``--jaws-port-offset=auto``, the lock that holds the chosen
    offset for the run; ``play_operator``: a twin's run starts the operator's instances itself
    (``--jaws-play-operator``).
    """

    model: SitesFile
    site: str
    envs: tuple[str, ...]
    sites_file: Path
    basedir: Path | None
    port_offset: int
    teardown: str = "always"
    report: Path | None = None
    replaced: tuple[str, ...] = ()
    source: Path | None = None
    cromwell_jar: Path | None = None
    allow_destructive: bool = False
    offset_lock: object = field(default=None, compare=False, repr=False)
    play_operator: bool = False

    @property
    def separate_users(self) -> bool:
        """True when some role runs as a user other than the one running pytest."""
        current = getpass.getuser()
        roles = self.model.sites[self.site].roles
        return any(r.user and r.user != current for r in (roles.jaws, roles.jtm))

    @property
    def fake(self) -> bool:
        """True for a site whose services are the fakes."""
        return self.model.sites[self.site].fake
