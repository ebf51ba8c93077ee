"""The Cromwell stand-in, built into ``cromwell.jar`` (a Python zip application).

It is run by ``fake-java ... -jar cromwell.jar server``.

It reads ``-Dconfig.file`` (webservice port and interface, as Cromwell does) and answers
``GET /engine/v1/status`` 200 ``{}`` when healthy and 500
``{"<system>": {"ok": false, "messages": [...]}}`` when not, and ``GET /engine/v1/version``
``{"cromwell": "58"}``, as Cromwell 58 does.
"""

import json
import os
import re
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "58"


def main() -> None:
    """Serve Cromwell's status and version endpoints until SIGTERM (``server`` only)."""
    props = json.loads(os.environ.get("JAWS_FAKE_JAVA_PROPERTIES", "{}"))
    args = sys.argv[1:]
    if not args or args[0] != "server":
        sys.exit("cromwell stand-in: only 'server' is supported")
    faults = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--fault"]
    if "exit" in faults:
        print("fake cromwell: refusing to start (--fault exit): simulated startup failure",
              file=sys.stderr, flush=True)
        sys.exit(3)
    path = props.get("config.file")
    if not path or not os.path.isfile(path):
        sys.exit(f"cromwell stand-in: config file {path!r} not found")
    text = open(path).read()
    service = re.search(r"webservice\s*\{([^}]*)\}", text)
    port = re.search(r"port\s*=\s*(\d+)", service.group(1) if service else "")
    iface = re.search(r"interface\s*=\s*\"?([0-9a-f.:]+)", service.group(1) if service else "")
    if not port:
        sys.exit(f"cromwell stand-in: no webservice.port in {path}")
    # every interface: the all-interfaces fault, or Cromwell's default when no interface is set
    everywhere = "0.0.0.0"  # noqa: S104
    bind = everywhere if "all-interfaces" in faults else (iface.group(1) if iface else everywhere)
    listen = int(port.group(1)) + (7 if "wrong-port" in faults else 0)
    if "stray-listener" in faults:
        import socket
        stray = socket.create_server(("127.0.0.1", 0))
        print(f"fake cromwell: stray listener on {stray.getsockname()[1]} (--fault)", flush=True)
    unhealthy = "unhealthy" in faults

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            route = self.path.split("?", 1)[0]
            body: dict[str, object]
            if route == "/engine/v1/status":
                status, body = (500, {"Engine Database": {
                    "ok": False, "messages": ["fake fault: database unreachable"]}}) \
                    if unhealthy else (200, {})
            elif route == "/engine/v1/version":
                status, body = 200, {"cromwell": VERSION}
            else:
                status, body = 404, {"status": "fail", "message": "not found"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *a):
            sys.stderr.write(fmt % a + "\n")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((bind, listen), Handler)
    print(f"fake cromwell {VERSION}: listening on {bind}:{listen}", flush=True)
    server.serve_forever(poll_interval=0.2)


main()
