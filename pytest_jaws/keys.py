"""Supervisord keys: one HTTP password per instance, its escaping, and masking in output.

A key comes from the environment variable named by
:func:`pytest_jaws.sites.sitevars.key_variable` (``JAWS_SUPERVISOR_KEY_<SITE>_<ENV>_<ROLE>``) when it is
set, else from the key file beside the configuration (reused across deployments), else it is
generated once with :mod:`secrets`. Keys never leave the harness unmasked: every text shown to
a person passes through :func:`mask`.
"""

from __future__ import annotations

import os
import re
import secrets
import threading

from .errors import InvalidKeyError

#: What a key is replaced with in any text that leaves the harness.
MASK = "********"
#: Fewest characters of a key given in the environment or a key file (shorter keys can be
#: guessed, and as mask patterns they would blot out ordinary text).
MIN_KEY_LENGTH = 16
#: Characters of a generated key.
GENERATED_KEY_LENGTH = 32

_known: set[str] = set()
_lock = threading.Lock()


def check_key(key: str, origin: str) -> str:
    """Return ``key`` when supervisord can use it as an HTTP password and it is long enough.

    Supervisor's config parser strips surrounding whitespace and treats `` ;``/`` #`` as inline
    comments, and a password starting ``{SHA}`` as a hash; such keys are refused, as are keys
    shorter than :data:`MIN_KEY_LENGTH` characters.

    :param origin: where the key came from (variable or file name), for the message.
    :raises InvalidKeyError: naming the origin and the rule, never the key itself.
    """
    if not key:
        raise InvalidKeyError(f"supervisor key from {origin} is empty; set a non-empty key")
    if re.search(r"\s", key):
        raise InvalidKeyError(
            f"supervisor key from {origin} contains whitespace, which supervisord's config "
            "parser cannot keep; use a key without spaces, tabs or newlines"
        )
    if len(key) < MIN_KEY_LENGTH:
        raise InvalidKeyError(
            f"supervisor key from {origin} has {len(key)} characters; a key needs at least "
            f"{MIN_KEY_LENGTH} (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))')")
    if key.startswith("{SHA}"):
        raise InvalidKeyError(
            f"supervisor key from {origin} starts with {{SHA}}, which supervisord reads as a "
            "hash; use another key"
        )
    return key


def generate_key() -> str:
    """Return a new random key: 32 URL-safe characters from :func:`secrets.token_urlsafe`."""
    return secrets.token_urlsafe(GENERATED_KEY_LENGTH * 3 // 4)


def resolve_key(variable: str, existing: str | None) -> tuple[str, str]:
    """Choose an instance's key.

    :param variable: the environment variable to look at first.
    :param existing: the key read from the instance's key file, if there is one.
    :returns: ``(key, origin)`` where origin is ``"env"``, ``"file"`` or ``"generated"``.
    :raises InvalidKeyError: when the chosen key is unusable.
    """
    if os.environ.get(variable):
        key, origin = os.environ[variable], "env"
        check_key(key, f"${variable}")
    elif existing:
        key, origin = existing.strip(), "file"
        check_key(key, "the key file")
    else:
        key, origin = generate_key(), "generated"
    remember(key)
    return key, origin


def escape(value: str) -> str:
    """Escape a value for a supervisord config file: every ``%`` becomes ``%%``."""
    return value.replace("%", "%%")


def remember(key: str) -> None:
    """Register a key so that :func:`mask` hides it from now on.

    Only keys of at least :data:`MIN_KEY_LENGTH` characters are registered: a short string as a
    mask pattern would blot out ordinary text (no usable key is that short).
    """
    if len(key) < MIN_KEY_LENGTH:
        return
    with _lock:
        _known.add(key)
        _known.add(escape(key))


def mask(text: str) -> str:
    """Return ``text`` with every registered key (and its escaped form) replaced by MASK.

    Only exact occurrences of whole keys are masked.
    """
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for key in known:
        if key:
            text = text.replace(key, MASK)
    return text
