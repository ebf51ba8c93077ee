"""RPC through a broker directory: the fake stand-in for RabbitMQ.

A server of queue Q on vhost V listens on the Unix socket ``$JAWS_FAKE_BROKER/V/Q.sock``; a
client sends one JSON request ``{"method", "params"}`` per connection and reads one JSON-RPC2
response. A vhost is a directory that must exist (the harness creates ``jaws_<env>`` and
``jtm_<env>``); a request nobody answers ends, as JAWS's rpc_client does, in
``{"error": {"code": 408, ...}}`` after the wait.

Without ``$JAWS_FAKE_BROKER`` (a fake site that declares real dependencies, pytest-jaws's
``local-deps``) the same calls go over RabbitMQ itself, with pika: a server consumes its queue
on its vhost and answers to the request's ``reply_to``; :func:`hold` keeps a MySQL session
(PyMySQL) and AMQP connections open and ends the process with status 1 when one is lost, as
the real services fail without their dependencies. pika and PyMySQL are imported only then
(the fakes need nothing beyond the standard library otherwise).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from functools import partial

VARIABLE = "JAWS_FAKE_BROKER"
#: Seconds a client waits for an answer (JAWS's rpc_client waits longer; fakes are local).
MAX_WAIT = 1.0


def vhost_dir(params: dict) -> str | None:
    """Return the directory of ``params["vhost"]`` in the broker, or None without a broker."""
    root = os.environ.get(VARIABLE)
    return os.path.join(root, params["vhost"]) if root else None


def _short(directory: str):
    """Return an O_PATH descriptor of ``directory`` and a short path through it.

    Unix socket paths are limited to 108 bytes.
    """
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    return fd, f"/proc/self/fd/{fd}"


#: Seconds to connect to a real MySQL or RabbitMQ, and between two checks in :func:`hold`.
CONNECT_TIMEOUT = 5.0
CHECK_EVERY = 0.5


def real() -> bool:
    """Tell whether the services use the real RabbitMQ and MySQL (no broker directory)."""
    return VARIABLE not in os.environ


def _where(params: dict) -> str:
    return f"RabbitMQ {params.get('host')}:{params.get('port', 5672)} vhost {params['vhost']}"


def connect(params: dict):
    """Return a pika BlockingConnection to ``params`` (host, port, user, password, vhost)."""
    import pika
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=params["host"], port=int(params.get("port", 5672)), virtual_host=params["vhost"],
        credentials=pika.PlainCredentials(params["user"], params["password"]),
        connection_attempts=1, socket_timeout=CONNECT_TIMEOUT, stack_timeout=CONNECT_TIMEOUT,
        heartbeat=10))


def _db(db: dict):
    import pymysql
    return pymysql.connect(host=db["host"], port=int(db["port"]), user=db["user"],
                           password=db["password"], database=db["db"],
                           connect_timeout=CONNECT_TIMEOUT, read_timeout=CONNECT_TIMEOUT)


def hold(program: str, db: dict | None, vhosts: list[dict]) -> None:
    """Open a MySQL session on ``db`` and an AMQP connection on each of ``vhosts``, and keep them.

    ``db`` has host, port, user, password, db. Exit 1 with the reason on stderr when one cannot
    be opened now or is lost later (checked every :data:`CHECK_EVERY` seconds in a thread).
    """
    held: list[tuple[str, Callable[[], object]]] = []  # (what, keep-alive call)
    what = ""
    try:
        if db is not None:
            what = f"MySQL {db['host']}:{db['port']} database {db['db']}"
            session = _db(db)
            held.append((what, lambda: session.ping(reconnect=False)))
        for params in {p["vhost"]: p for p in vhosts}.values():
            what = _where(params)
            conn = connect(params)
            held.append((what, partial(conn.process_data_events, time_limit=0)))
    except Exception as exc:  # noqa: BLE001 - the reason is what the log must say
        sys.exit(f"{program}: cannot connect to {what}: {type(exc).__name__}: {exc}")
    print(f"{program}: holding " + ", ".join(w for w, _ in held), flush=True)

    def watch() -> None:
        while True:
            time.sleep(CHECK_EVERY)
            for name, check in held:
                try:
                    check()
                except Exception as exc:  # noqa: BLE001
                    print(f"{program}: lost {name}: {type(exc).__name__}: {exc}",
                          file=sys.stderr, flush=True)
                    os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def rmq_status(params: dict) -> str:
    """Return "UP" when the vhost of ``params`` exists in the broker, else "DOWN".

    JAWS's jaws_central.utils._rmq_server_status opens a connection on the vhost; so does this on
    a real broker.
    """
    if real():
        try:
            connect(params).close()
        except Exception:  # noqa: BLE001 - any failure is DOWN, as in JAWS
            return "DOWN"
        return "UP"
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
    connect and exits; supervisord then retries), and on a real broker also when the
    connection is lost.
    """
    if real():
        _serve_amqp(params, operations, program)
        return
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


def _answer(operations: dict, body: bytes) -> dict:
    try:
        request = json.loads(body or b"{}")
        op = operations.get(request.get("method"))
        return op(request.get("params") or {}) if op else failure(
            f"unknown method {request.get('method')!r}", 404)
    except Exception as exc:  # noqa: BLE001 - an RPC server answers every request
        return failure(str(exc))


def _serve_amqp(params: dict, operations: dict, program: str) -> None:
    import pika
    try:
        conn = connect(params)
        channel = conn.channel()
        channel.queue_declare(queue=params["queue"])
    except Exception as exc:  # noqa: BLE001
        sys.exit(f"{program}: cannot connect to {_where(params)}: {type(exc).__name__}: {exc}")

    def on_request(ch, method, props, body) -> None:
        response = _answer(operations, body)
        ch.basic_publish("", props.reply_to, json.dumps(response).encode(),
                         pika.BasicProperties(correlation_id=props.correlation_id))
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(params["queue"], on_request)
    print(f"{program}: serving queue {params['queue']} on {_where(params)}", flush=True)
    try:
        channel.start_consuming()
    except Exception as exc:  # noqa: BLE001 - SIGTERM's SystemExit passes through
        sys.exit(f"{program}: lost {_where(params)}: {type(exc).__name__}: {exc}")


def _request_amqp(params: dict, method: str, rpc_params: dict | None) -> dict:
    import uuid

    import pika
    answers: list = []
    try:
        conn = connect(params)
        try:
            channel = conn.channel()
            reply = channel.queue_declare("", exclusive=True).method.queue
            corr = uuid.uuid4().hex
            channel.basic_consume(reply, lambda _c, _m, props, body: answers.append(
                json.loads(body)) if props.correlation_id == corr else None, auto_ack=True)
            channel.basic_publish("", params["queue"], json.dumps(
                {"method": method, "params": rpc_params or {}}).encode(),
                pika.BasicProperties(reply_to=reply, correlation_id=corr))
            deadline = time.monotonic() + MAX_WAIT
            while not answers and time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.1)
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - an unreachable broker: nobody answers
        return {"error": {"code": 408, "message": f"Server timeout: {_where(params)}: {exc}"}}
    if answers:
        return answers[0]
    return {"error": {"code": 408, "message": "Server timeout: The service is "
                      "unable to respond at this time; please try again later."}}


def request(params: dict, method: str, rpc_params: dict | None = None) -> dict:
    """Send one request to ``params``'s queue and return the JSON-RPC2 response.

    408 when nobody answers within :data:`MAX_WAIT` seconds (jaws_rpc.rpc_client.request).
    """
    if real():
        return _request_amqp(params, method, rpc_params)
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
