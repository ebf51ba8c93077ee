"""RPC through a broker directory: the fake stand-in for RabbitMQ.

A server of queue Q on vhost V listens on the Unix socket ``$JAWS_FAKE_BROKER/V/Q.sock``; a
client sends one JSON request ``{"method", "params"}`` per connection and reads one JSON-RPC2
response. A vhost is a directory that must exist (the harness creates ``jaws_<env>`` and
``jtm_<env>``); a request nobody answers ends, as JAWS's rpc_client does, in
``{"error": {"code": 408, ...}}`` after the wait.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

VARIABLE = "JAWS_FAKE_BROKER"
#: Seconds a client waits for an answer (JAWS's rpc_client waits longer; fakes are local).
MAX_WAIT = 1.0


def vhost_dir(params: dict) -> str | None:
    """The directory of ``params["vhost"]`` in the broker, or None without a broker."""
    root = os.environ.get(VARIABLE)
    return os.path.join(root, params["vhost"]) if root else None


def _short(directory: str):
    """An O_PATH descriptor of ``directory`` and a short path through it (Unix socket paths
    are limited to 108 bytes)."""
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    return fd, f"/proc/self/fd/{fd}"


def rmq_status(params: dict) -> str:
    """"UP" when the vhost of ``params`` exists in the broker, else "DOWN" (JAWS's
    jaws_central.utils._rmq_server_status asks RabbitMQ the same)."""
    path = vhost_dir(params)
    return "UP" if path and os.path.isdir(path) and os.access(path, os.X_OK) else "DOWN"


def success(result=None) -> dict:
    """JSON-RPC2 success, as jaws_rpc.responses.success."""
    return {"jsonrpc": "2.0", "result": {} if result is None else result}


def failure(message: str, code: int = 500) -> dict:
    """JSON-RPC2 error, as jaws_rpc.responses.failure."""
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}}


def serve(params: dict, operations: dict, program: str) -> None:
    """Serve queue ``params["queue"]`` of vhost ``params["vhost"]`` until SIGTERM.

    Exits 1 when there is no broker or the vhost does not exist (the real server cannot
    connect and exits; supervisord then retries).
    """
    directory = vhost_dir(params)
    if directory is None or not os.path.isdir(directory):
        sys.exit(f"{program}: cannot connect to the broker: vhost {params['vhost']!r} "
                 f"not found at {params.get('host')}:{params.get('port')}")
    fd, short = _short(directory)
    path = f"{short}/{params['queue']}.sock"
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    print(f"{program}: serving queue {params['queue']} on vhost {params['vhost']}", flush=True)

    def answer(conn: socket.socket) -> None:
        with conn:
            try:
                request = json.loads(conn.makefile().readline() or "{}")
                op = operations.get(request.get("method"))
                response = op(request.get("params") or {}) if op else failure(
                    f"unknown method {request.get('method')!r}", 404)
            except Exception as exc:  # noqa: BLE001 - an RPC server answers every request
                response = failure(str(exc))
            conn.sendall(json.dumps(response).encode() + b"\n")

    while True:
        conn, _ = server.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()
    os.close(fd)


def request(params: dict, method: str, rpc_params: dict | None = None) -> dict:
    """Send one request to ``params``'s queue and return the JSON-RPC2 response; 408 when
    nobody answers within :data:`MAX_WAIT` seconds (jaws_rpc.rpc_client.request)."""
    directory = vhost_dir(params)
    deadline = time.monotonic() + MAX_WAIT
    while True:
        try:
            if directory is None:
                raise OSError("no broker")
            fd, short = _short(directory)
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                    conn.settimeout(max(0.1, deadline - time.monotonic()))
                    conn.connect(f"{short}/{params['queue']}.sock")
                    conn.sendall(json.dumps({"method": method,
                                             "params": rpc_params or {}}).encode() + b"\n")
                    return json.loads(conn.makefile().readline())
            finally:
                os.close(fd)
        except (OSError, ValueError):
            if time.monotonic() >= deadline:
                return {"error": {"code": 408, "message": "Server timeout: The service is "
                                  "unable to respond at this time; please try again later."}}
            time.sleep(0.1)
