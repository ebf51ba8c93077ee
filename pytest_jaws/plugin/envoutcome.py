"""The outcome of one attempt to deploy an environment, built in one place.

:func:`outcome_of` turns what an attempt reached and raised into the
:class:`~pytest_jaws.deploy.result.EnvOutcome` every test of the environment and every xdist
worker reads (its failure section built once, its message masked, a full disk said on its first
line).
"""

from __future__ import annotations

from ..deploy import deploy
from ..deploy.result import EnvOutcome
from ..errors import message_of
from ..host import filesystem
from ..keys import mask
from ..report import failure


def outcome_of(env: str, attempt: deploy.Attempt | None,
               error: Exception | None = None) -> EnvOutcome:
    """Return the :class:`EnvOutcome` of an attempt to deploy ``env`` (the one place one is built).

    :param attempt: the attempt (None when it never began: the directory lock was busy).
    :param error: what the attempt raised, None when it deployed. A failed attempt that got
        as far as a :class:`Deployment` keeps it, with its failure section built now from
        the state it reached (``last_state``), so that every test of the environment and
        every xdist worker shows the same section.
    """
    dep = attempt.deployment if attempt is not None else None
    if error is None:
        return EnvOutcome(env, dep)
    section = None if dep is None else failure.failure_section(dep, [], dep.last_state or {})
    plan = dep.plan if dep is not None else attempt.plan if attempt is not None else None
    text = filesystem.os_error(error, "deploying") if isinstance(error, OSError) \
        else message_of(error)
    if plan is not None and not isinstance(error, OSError):
        # a full disk shows as programs that exit at once, with empty logs: said on the first
        # line, which the summary shows
        first, newline, rest = text.partition("\n")
        text = first + filesystem.low_space_hint(plan.base) + newline + rest
    return EnvOutcome(env, dep, mask(text), section)
