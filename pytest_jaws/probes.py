"""Health probes: what the suites and the deployment wait ask of a running service.

Probes send traffic to 127.0.0.1 only. Each returns a :class:`Probe` whose ``ok`` is the
verdict and whose ``detail`` says what was seen, so a failing assertion names the service,
the URL and the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from .planmodel import EnvironmentPlan, ProgramPlan

#: Seconds one HTTP probe may take.
HTTP_TIMEOUT = 2.0


@dataclass(frozen=True)
class Probe:
    """One probe's result.

    ``ok``, the ``url`` asked, HTTP ``status`` (0: no answer), the parsed JSON ``body`` (None if
    not JSON) and a one-line ``detail`` for messages.
    """

    ok: bool
    url: str
    status: int
    body: object
    detail: str


def http_get(url: str, headers: dict | None = None, expect: int = 200) -> Probe:
    """GET ``url`` (loopback); ``ok`` when the status is ``expect``."""
    try:
        resp = requests.get(url, headers=headers or {}, timeout=HTTP_TIMEOUT)
    except requests.RequestException as exc:
        return Probe(False, url, 0, None, f"GET {url}: no answer ({type(exc).__name__}: {exc})")
    try:
        body = resp.json()
    except ValueError:
        body = None
    text = resp.text[:300]
    ok = resp.status_code == expect
    return Probe(ok, url, resp.status_code, body,
                 f"GET {url} -> {resp.status_code} (expected {expect}): {text}")


def health(plan: EnvironmentPlan, program: ProgramPlan) -> Probe:
    """Probe a program's health endpoint, expecting the status that means alive.

    ``health_status``: 200, or 401 for central-auth's ``/tokeninfo`` asked without a token,
    which answers so only when its application is up: central/jaws_central/auth.py.

    :raises ValueError: for a program without a health endpoint.
    """
    if not program.health_path or program.url is None:
        raise ValueError(f"program {program.name} has no HTTP health endpoint")
    return http_get(program.url + program.health_path, expect=program.health_status)
