"""What a JAWS package reads of its configuration: one read, and all reads of a package.

:class:`Read` is one read of a key (or of a whole section); :class:`PackageReads` holds a
package's reads with the defaults it gives itself and its parser's interpolation, and says
which keys a configuration file must hold. :data:`SECTION` and :data:`KEY` are the shapes
of the names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: What a configuration section name looks like in JAWS (``JTM``, ``SITE_RPC_CLIENT``,
#: ``SITE:CORI``); other upper-case subscripts (``os.environ["HOME"]``) are excluded by name.
SECTION = re.compile(r"^[A-Z][A-Z0-9_]*(:[A-Za-z0-9_*]*)?$")
#: What a key looks like (``jtm_task_request_q``).
KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, order=True)
class Read:
    """One read of a configuration value (or of a whole section, ``key`` None).

    ``type``: ``str``/``int``/``float``/``boolean`` (the getter), ``section`` for a whole
    section; ``optional``: the code has a fallback or checks first; ``where``:
    ``<file relative to the package>:<line>``.
    """

    section: str
    key: str | None
    type: str
    optional: bool
    where: str


@dataclass
class PackageReads:
    """What one package reads: its reads, defaults (``{section: {keys}}``) and interpolation.

    ``interpolation`` is ``extended``, ``basic`` or ``None`` (the package makes no parser).
    ``consumers`` maps a class name to the keys its ``__init__`` demands of its first argument.
    """

    reads: list[Read] = field(default_factory=list)
    defaults: dict[str, set[str]] = field(default_factory=dict)
    interpolation: str | None = None
    consumers: dict[str, set[str]] = field(default_factory=dict)

    def required(self) -> dict[str, dict[str, str]]:
        """Return ``{section: {key: type}}`` that a file must hold (``""``: the section only).

        Reads without a fallback and not covered by :attr:`defaults`; a whole-section read
        of a section without defaults adds the section with no key.
        """
        out: dict[str, dict[str, str]] = {}
        for read in sorted(self.reads, key=lambda r: (r.section, r.key or "", r.where)):
            if read.optional or read.key in self.defaults.get(read.section, set()):
                continue
            if read.key is None:
                if read.section not in self.defaults:
                    out.setdefault(read.section, {})
                continue
            keys = out.setdefault(read.section, {})
            if keys.get(read.key, "str") == "str":  # a typed read is the stricter one
                keys[read.key] = read.type
        return out

