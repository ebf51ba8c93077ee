"""The values pytest was given for the ``--jaws-*`` options: command line, ini file, controller.

The command line wins over the ini file; an ini file's relative paths are relative to its
directory; a value set to nothing, or not text in this locale, is an error naming it; under
xdist a worker takes the controller's port offset. :mod:`pytest_jaws.plugin.options` resolves
and checks what this returns.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ..errors import OptionsError
from . import xdist
from .optiondefs import FLAGS, OPTIONS

#: The options whose values are paths: relative ones in an ini file are relative to its
#: directory (as pytest's own ``paths`` ini values), not to where pytest runs.
PATH_OPTIONS = ("jaws_sites_file", "jaws_basedir", "jaws_report", "jaws_plan_dir",
                "jaws_source", "jaws_cromwell_jar")


def _ini_value(config: pytest.Config, ini: str) -> str | None:
    """Return the ini file's value of ``ini`` (None when the file does not set it).

    :raises OptionsError: for a key set to nothing (``jaws_env =``), which would otherwise
        silently be the default; the same value on the command line is an error too.
    """
    # the raw ini values: pytest has no public handle that tells "set to nothing" from
    # "not set" (``config.inicfg`` is deprecated), as runstate reads _tmp_path_factory
    raw = getattr(config, "_inicfg", {}).get(ini)
    if raw is None or config.inipath is None:
        return config.getini(ini) or None
    text = raw if isinstance(raw, str) else str(getattr(raw, "value", raw))
    if not text.strip():
        raise OptionsError(f"{ini} is empty in {config.inipath} (an unset variable?); give a "
                           "value or remove the line")
    if ini in PATH_OPTIONS and not Path(text.strip()).is_absolute():
        return str(config.inipath.parent / text.strip())
    return text.strip()


def _check_text(ini: str, value: str | None) -> None:
    """Refuse a value that is not text in this locale (it is written into UTF-8 files).

    Under ``LC_ALL=C`` with ``PYTHONUTF8=0``, Python reads a non-ASCII argument as bytes it
    cannot encode back (surrogate escapes), and the first configuration written failed with a
    ``UnicodeEncodeError``.

    :raises OptionsError: naming the option, the locale and what to do.
    """
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(value).decode("ascii", "backslashreplace")
        raise OptionsError(
            f"{ini} {shown} is not text in this locale ({sys.getfilesystemencoding()}: "
            "LC_ALL=C or LANG=C without PYTHONUTF8=1?): run with a UTF-8 locale (LC_ALL=C.UTF-8) "
            "or PYTHONUTF8=1, or choose an ASCII value") from None


def option_values(config: pytest.Config) -> dict[str, str | None]:
    """Return every option's value: the command line's, else the ini file's (``{ini name: value}``).

    The flags are booleans; under xdist a worker takes the controller's port offset.

    :raises OptionsError: for an ini key set to nothing, or a value that is not text in this
        locale.
    """
    out = {}
    for _flag, ini, _default, _help in OPTIONS:
        value = config.getoption(ini)
        out[ini] = value if value is not None else _ini_value(config, ini)
        _check_text(ini, out[ini])
    for _flag, ini, _help in FLAGS:
        value = config.getoption(ini)
        out[ini] = bool(value if value is not None else config.getini(ini))
    handed = xdist.controller_values(config)
    if "jaws_port_offset" in handed:
        out["jaws_port_offset"] = handed["jaws_port_offset"]  # the controller's
    return out
