"""Health probes: what the suites and the deployment wait ask of a running service.

Probes send traffic to 127.0.0.1 only. Each returns a :class:`Probe` whose ``ok`` is the
verdict and whose ``detail`` says what was seen, so a failing assertion names the service,
the URL and the answer.

A service's answer is trusted only from its role user: :func:`health` (and :func:`http_get`
given an ``owner``) checks that the other end of the connection belongs to the program's role
user before it sends the request (as key verification does,
:class:`pytest_jaws.host.supervisor.VerifiedConnection`), so a squatter on a dead service's port
fails the probe instead of passing it.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from ..errors import ListenerMismatch
from ..host.supervisor import VerifiedConnection, role_uid
from ..plan.planmodel import EnvironmentPlan, ProgramPlan

#: Seconds one HTTP probe may take.
HTTP_TIMEOUT = 2.0
#: Bytes of an answer read at most.
BODY_BYTES = 1 << 20


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


def http_get(url: str, headers: dict | None = None, expect: int = 200,
             owner: int | None = None) -> Probe:
    """GET ``url`` (loopback); ``ok`` when the status is ``expect``.

    :param owner: the uid that must answer (the program's role user, :func:`owner_of`): the
        request is sent only once the other end of the connection is verified to be that
        user's; otherwise the probe fails naming who answers. None: anyone may answer.
    """
    if owner is not None:
        return _verified_get(url, headers or {}, expect, owner)
    try:
        resp = requests.get(url, headers=headers or {}, timeout=HTTP_TIMEOUT)
    except requests.RequestException as exc:
        return Probe(False, url, 0, None, f"GET {url}: no answer ({type(exc).__name__}: {exc})")
    try:
        body = resp.json()
    except ValueError:
        body = None
    return _probe(url, resp.status_code, body, resp.text, expect)


def _probe(url: str, status: int, body: object, text: str, expect: int) -> Probe:
    ok = status == expect
    return Probe(ok, url, status, body,
                 f"GET {url} -> {status} (expected {expect}): {text[:300]}")


def _verified_get(url: str, headers: dict, expect: int, owner: int) -> Probe:
    """GET ``url`` over a connection whose other end ``owner`` must own (else a failed probe)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = VerifiedConnection(parts.hostname or "127.0.0.1", parts.port or 80, HTTP_TIMEOUT,
                              owner, f"GET {url}", "the request was not sent")
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        raw = resp.read(BODY_BYTES)
    except ListenerMismatch as exc:
        return Probe(False, url, 0, None, str(exc))
    except (OSError, http.client.HTTPException) as exc:
        return Probe(False, url, 0, None, f"GET {url}: no answer ({type(exc).__name__}: {exc})")
    finally:
        conn.close()
    text = raw.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    return _probe(url, resp.status, body, text, expect)


def owner_of(plan: EnvironmentPlan, program: ProgramPlan) -> int:
    """Return the uid that must answer for ``program``: its instance's role user."""
    return role_uid(plan.instances[program.instance])


def health(plan: EnvironmentPlan, program: ProgramPlan) -> Probe:
    """Probe a program's health endpoint, expecting the status that means alive.

    ``health_status``: 200, or 401 for central-auth's ``/tokeninfo`` asked without a token,
    which answers so only when its application is up: central/jaws_central/auth.py. Only the
    program's role user may answer (:func:`owner_of`).

    :raises ValueError: for a program without a health endpoint.
    """
    if not program.health_path or program.url is None:
        raise ValueError(f"program {program.name} has no HTTP health endpoint")
    return http_get(program.url + program.health_path, expect=program.health_status,
                    owner=owner_of(plan, program))
