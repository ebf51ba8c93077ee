"""What every fake shares: command-line arguments, a JSON HTTP server, clean SIGTERM exit.

Faults for the project's own tests are selected with ``--fault`` (repeatable):

* ``exit``: write a message to stderr and exit 3 at start (a program that cannot start);
* ``unhealthy``: the health endpoint answers 500;
* ``wrong-port``: listen on the documented port + 7 instead (a port outside the table);
* ``all-interfaces``: listen on 0.0.0.0 instead of the bind address;
* ``stray-listener``: also listen on an ephemeral port of 127.0.0.1 (outside the table).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_keep: list[socket.socket] = []


def parse_args(name: str, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the arguments the harness passes to every fake (see pytest_jaws.plan)."""
    parser = argparse.ArgumentParser(prog=f"fake {name}")
    parser.add_argument("--site", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--cromwell-url", required=True)
    parser.add_argument("--heartbeat", required=True, help="file jaws-site refreshes")
    parser.add_argument("--token", required=True, help="bearer token central-auth accepts")
    parser.add_argument("--parts", default="site,cromwell",
                        help="central-rest: the site parts its status reports")
    parser.add_argument("--label", default="", help="free text (a configuration change that "
                        "changes nothing else, for redeploy tests)")
    parser.add_argument("--fault", action="append", default=[],
                        choices=["exit", "unhealthy", "wrong-port", "all-interfaces",
                                 "stray-listener"])
    args = parser.parse_args(argv)
    if "exit" in args.fault:
        print(f"fake {name}: refusing to start (--fault exit): simulated startup failure",
              file=sys.stderr, flush=True)
        sys.exit(3)
    if "stray-listener" in args.fault:
        stray = socket.create_server(("127.0.0.1", 0))
        _keep.append(stray)
        print(f"fake {name}: stray listener on {stray.getsockname()[1]} (--fault)", flush=True)
    return args


def exit_on_sigterm() -> None:
    """Make SIGTERM (supervisord's stop signal) end the process promptly with status 0."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def get_json(url: str, timeout: float = 1.0) -> tuple[int, object]:
    """GET ``url``; return ``(status, parsed JSON or None)``; status 0 when unreachable."""
    import urllib.error  # imported here: the fakes that never call it start faster
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


class JsonHandler(BaseHTTPRequestHandler):
    """Routes ``GET`` paths to ``routes[path](handler) -> (status, body)``; logs to stderr."""

    routes: dict = {}
    server_version = "jaws-fake/1"

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        route = self.routes.get(self.path.split("?", 1)[0])
        status, body = route(self) if route else (404, {"detail": "not found"})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))


def serve(name: str, args: argparse.Namespace, routes: dict) -> None:
    """Listen on ``args.bind:args.port`` (faults applied) and serve ``routes`` until SIGTERM."""
    exit_on_sigterm()
    bind = "0.0.0.0" if "all-interfaces" in args.fault else args.bind
    port = args.port + 7 if "wrong-port" in args.fault else args.port
    handler = type(f"{name}Handler", (JsonHandler,), {"routes": routes})
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((bind, port), handler)
    print(f"fake {name}: listening on {bind}:{port} ({args.site}/{args.env})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
