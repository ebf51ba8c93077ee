"""Values written into a supervisord configuration, read back with supervisor's own parser.

Values are escaped, then read back; a value that would not come back unchanged is refused,
naming it.

supervisord reads its configuration with :class:`supervisor.options.UnhosedConfigParser`
(``;`` and ``#`` after whitespace start an inline comment, surrounding whitespace is
stripped, a line break ends the value), ``%``-expands every value (``environment=`` of
``[supervisord]`` twice) after replacing ``%(here)s``, splits ``command=`` with
:func:`shlex.split` and ``environment=`` with :func:`supervisor.datatypes.dict_of_key_value_pairs`.
Every function here applies exactly those steps to the text it is about to return, so what
the harness writes is what supervisord will use, or :class:`UnsafeValueError` says why not.
"""

from __future__ import annotations

import io
import re
import shlex

from supervisor.datatypes import dict_of_key_value_pairs
from supervisor.options import UnhosedConfigParser, expand

from ..errors import UnsafeValueError

#: A name used as (part of) a section name, process name or group name.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
#: A variable name in ``environment=``.
VARIABLE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: What ``%(here)s`` is replaced with while reading back (any absolute path will do).
_HERE = "/supervisord-config-dir"


def _reason(value: str) -> str:
    if "\n" in value or "\r" in value:
        return "a line break ends a value in supervisord's configuration"
    if re.search(r"\s[;#]", value):
        return "';' or '#' after whitespace starts a comment in supervisord's configuration"
    if value != value.strip():
        return "supervisord strips whitespace at the start and end of a value"
    if "%(here)s" in value.replace("%%", "\0"):
        return "supervisord replaces %(here)s even where % is escaped"
    return "supervisord's configuration parser changes it"


def read_back(text: str, expansions: int = 1) -> str | None:
    """Return what supervisord makes of ``text`` written as a configuration value.

    :param text: the text after ``key=`` in the configuration file.
    :param expansions: how often supervisord %-expands the value (2 for ``environment=`` of
        ``[supervisord]``).
    :returns: the value supervisord uses, or None when it cannot read it at all.
    """
    parser = UnhosedConfigParser()
    try:
        parser.read_file(io.StringIO(f"[s]\nv={text}\n", newline=None))
        parser.expand_here(_HERE)
        value = parser.get("s", "v")
        for _ in range(expansions):
            value = expand(value, {"here": _HERE}, "s.v")
    except Exception:  # noqa: BLE001 - any parse or expansion failure means "not readable"
        return None
    return value


def _refuse(what: str, value: str, got: str | None) -> UnsafeValueError:
    seen = "cannot read it at all" if got is None else f"would read it as {got!r}"
    return UnsafeValueError(
        f"{what} {value!r} cannot be written into a supervisord configuration: supervisord "
        f"{seen} ({_reason(value)}); choose a value without that (it comes from "
        "--jaws-basedir, --basetemp or the sites file)")


def conf(value: str, what: str, expansions: int = 1) -> str:
    """Return the configuration text for ``value``, checked with :func:`read_back`.

    ``%`` is escaped (``%%``, or ``%%%%`` for a value expanded twice).

    :param what: what the value is, for the message (e.g. ``logfile of supervisord-jaws``).
    :raises UnsafeValueError: when supervisord would not read ``value`` back unchanged.
    """
    text = value.replace("%", "%" * (2 ** expansions))
    got = read_back(text, expansions)
    if got != value:
        raise _refuse(what, value, got)
    return text


def conf_name(name: str, what: str) -> str:
    """Return a name that goes into a section header, process or group name, or identifier.

    :raises UnsafeValueError: unless ``name`` matches :data:`NAME_PATTERN` (letters, digits,
        ``_ . -``, not starting with ``.`` or ``-``).
    """
    if not NAME_PATTERN.match(name):
        raise UnsafeValueError(
            f"{what} {name!r} cannot be used in a supervisord configuration: use letters, "
            "digits, '_', '.' and '-' only (not starting with '.' or '-')")
    return name


def conf_command(argv: tuple[str, ...] | list[str], what: str) -> str:
    """Return the ``command=`` text for ``argv``: shell-quoted, then checked.

    Checked so that supervisord's :func:`shlex.split` of what it reads gives ``argv`` again.

    :raises UnsafeValueError: when it would not.
    """
    joined = shlex.join(argv)
    text = conf(joined, what)
    try:
        again = shlex.split(joined)
    except ValueError:
        again = None
    if again != list(argv):
        raise _refuse(what, joined, None if again is None else " ".join(again))
    return text


def conf_environment(pairs: dict[str, str], what: str, expansions: int = 2) -> str:
    """Return the ``environment=`` text for ``pairs``, each value quoted to come back unchanged.

    Quoted so that supervisord's :func:`~supervisor.datatypes.dict_of_key_value_pairs` gives it
    back unchanged.

    :param expansions: 2 for ``[supervisord]`` (supervisord expands it twice), 1 for a program.
    :raises UnsafeValueError: naming the variable and its value when no quoting works
        (e.g. a value with both ``'`` and ``"``, or starting or ending with a quote).
    """
    parts = []
    for key, value in pairs.items():
        if not VARIABLE_PATTERN.match(key):
            raise UnsafeValueError(f"{what}: {key!r} is not a variable name")
        for quote in ('"', "'"):
            candidate = f"{key}={quote}{value}{quote}"
            try:
                ok = dict_of_key_value_pairs(candidate) == {key: value}
            except ValueError:
                ok = False
            if ok:
                parts.append(candidate)
                break
        else:
            raise UnsafeValueError(
                f"{what}: {key}={value!r} cannot be written into a supervisord configuration: "
                "supervisord's environment= parser cannot keep it (a value may contain either "
                "' or \" but not both, and may not start or end with a quote); choose a value "
                "without that (it comes from --jaws-basedir, --basetemp or the sites file)")
    text = ",".join(parts)
    conf(text, what, expansions)
    return text.replace("%", "%" * (2 ** expansions))
