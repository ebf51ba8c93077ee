"""Fake central-rest: ``GET /api/v2/status`` and ``GET /api/v2/info`` as JAWS Central answers.

Status reports ``JAWS-Central`` and the parts of the site named by ``--parts``
(``site,cromwell``: what this deployment runs). Status really asks: ``<SITE>-Cromwell`` is
UP only when Cromwell's ``/engine/v1/status`` answers 200 now, ``<SITE>-Site`` only when
jaws-site refreshed its heartbeat in the last :data:`HEARTBEAT_SECONDS` seconds and saw
Cromwell UP.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .. import __version__
from .common import get_json, parse_args, serve

HEARTBEAT_SECONDS = 5.0


def main(argv: list[str] | None = None) -> None:
    """Run the fake until SIGTERM."""
    args = parse_args("central-rest", argv)
    parts = set(filter(None, args.parts.split(",")))
    prefix = args.site.upper()
    unhealthy = "unhealthy" in args.fault

    def site_up() -> bool:
        try:
            beat = json.loads(Path(args.heartbeat).read_text())
        except (OSError, ValueError):
            return False
        return time.time() - beat.get("time", 0) < HEARTBEAT_SECONDS and beat.get("cromwell") == "UP"

    def status(_):
        if unhealthy:
            return 500, {"detail": "fake fault: central database unreachable"}
        body = {"JAWS-Central": "UP"}
        if "site" in parts:
            body[f"{prefix}-Site"] = "UP" if site_up() else "DOWN"
        if "cromwell" in parts:
            ok = get_json(f"{args.cromwell_url}/engine/v1/status")[0] == 200
            body[f"{prefix}-Cromwell"] = "UP" if ok else "DOWN"
        return 200, body

    info = {"name": args.env, "version": __version__, "docs_url": "https://jaws-docs.readthedocs.io"}
    serve("central-rest", args, {
        "/api/v2/status": status,
        "/api/v2/info": lambda _: (200, info),
    })


if __name__ == "__main__":
    main()
