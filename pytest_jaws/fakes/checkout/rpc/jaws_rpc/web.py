"""A JSON HTTP server for the fake services, with connexion's problem+json error bodies."""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

#: Environment variable with the address the fake HTTP services bind (default loopback; the
#: real central binds 0.0.0.0, fakes never leave loopback unless a test's fault says so).
BIND_VARIABLE = "JAWS_FAKE_BIND"
TITLES = {401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}


def problem(status: int, detail: str) -> tuple[int, dict, str]:
    """Return a connexion problem+json answer: ``(status, body, content type)``.

    The body is ``{"detail", "status", "title", "type"}``.
    """
    return status, {"detail": detail, "status": status, "title": TITLES.get(status, "Error"),
                    "type": "about:blank"}, "application/problem+json"


class Handler(BaseHTTPRequestHandler):
    """Routes ``GET`` paths to ``routes[path](handler) -> (status, body[, content type])``."""

    routes: ClassVar[dict] = {}
    server_version = "jaws-fake/1"

    def do_GET(self) -> None:
        """Answer with the route's status and body; a 404 problem document for other paths."""
        route = self.routes.get(self.path.split("?", 1)[0])
        out = route(self) if route else problem(
            404, "The requested URL was not found on the server. If you entered the URL "
            "manually please check your spelling and try again.")
        status, body = out[0], out[1]
        kind = out[2] if len(out) > 2 else "application/json"
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        """Write one access-log line, with the time, to stderr (supervisord's log)."""
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))


def serve(name: str, port: int, routes: dict, faults: list[str]) -> None:
    """Listen on ``$JAWS_FAKE_BIND:port`` and serve ``routes`` until SIGTERM.

    Faults applied: ``wrong-port`` +7, ``all-interfaces`` 0.0.0.0.
    """
    everywhere = "0.0.0.0"  # noqa: S104 - only with the all-interfaces fault
    bind = everywhere if "all-interfaces" in faults else os.environ.get(BIND_VARIABLE, "127.0.0.1")
    port = port + 7 if "wrong-port" in faults else port
    handler = type(f"{name}Handler", (Handler,), {"routes": routes})
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((bind, port), handler)
    print(f"fake {name}: listening on {bind}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
