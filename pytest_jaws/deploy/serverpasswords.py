"""The passwords of the run-started servers, set for the run where no variable sets them.

``DB_PASSWORD`` for MariaDB, ``RMQ_PASSWORD`` and ``SITE_RMQ_PASSWORD`` (one value) for
RabbitMQ, in the environment of the run so that xdist workers see them; removed from it at the
end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..keys import generate_key, remember


def set_passwords(site: str, envs: Sequence[str], start: Sequence[str],
                  environ: dict | os._Environ | None = None) -> None:
    """Give the run-started servers' secrets a value for the run, where no variable sets one.

    ``JAWS_SECRET_<SITE>_<ENV>_DB_PASSWORD`` (MySQL), ``..._RMQ_PASSWORD`` and
    ``..._SITE_RMQ_PASSWORD`` (the one RabbitMQ: both get the same value, the first one set,
    else a generated one). Set in ``environ`` (default: this process's environment, which
    xdist workers inherit); every value is registered for masking.
    """
    from ..sites.sitevars import secret_variable

    target = os.environ if environ is None else environ
    for env in envs:
        groups: list[tuple[str, ...]] = []
        if "mysql" in start:
            groups.append(("DB_PASSWORD",))
        if "rabbitmq" in start:
            groups.append(("RMQ_PASSWORD", "SITE_RMQ_PASSWORD"))
        for names in groups:
            variables = [secret_variable(site, env, n) for n in names]
            value = next((target[v] for v in variables if target.get(v)), None) or generate_key()
            remember(value)
            for variable in variables:
                if not target.get(variable):
                    target[variable] = value
                    if environ is None:
                        _set_here.append(variable)


#: The variables :func:`set_passwords` set in this process's environment (for
#: :func:`forget_passwords`).
_set_here: list[str] = []


def forget_passwords() -> None:
    """Remove from this process's environment the variables :func:`set_passwords` set.

    At the end of a run (``pytest_unconfigure``): a later run in the same process (pytester)
    must not find them.
    """
    while _set_here:
        os.environ.pop(_set_here.pop(), None)

