"""Fake ``jaws-site --config C --log L --log-level LEVEL daemon|central-rpc|jtm-rpc``.

As JAWS's site/jaws_site/cli.py: it reads the configuration as site/jaws_site/config.py does
(its defaults, then the file; a missing required key raises its ValueError), then runs one of
three programs; each program's RPC section is refused as jaws_rpc's RpcServer and RpcClient
refuse it (``ConfigurationError: queue required``). ``central-rpc`` serves central's requests
on ``[CENTRAL_RPC_SERVER]``'s queue and answers ``server_status`` as
central_rpc_operations.server_status does: success when Cromwell's ``/engine/v1/status``
answers 200, else a failure with code 500. ``jtm-rpc`` serves ``[LOCAL_RPC_SERVER]``'s queue;
``daemon`` runs its periodic loop. On a real MySQL and RabbitMQ (no fake broker directory)
every program holds a session on ``[DB]`` and the daemon AMQP connections on its vhosts, and
exits 1 when one is lost (:func:`jaws_rpc.broker.hold`).
"""

from __future__ import annotations

import time
import urllib.request

from jaws_rpc import broker, cli, config, rpc_client, rpc_server

#: site/jaws_site/config.py Configuration.defaults (the values a file need not give)
DEFAULTS = {
    "LOCAL_RPC_SERVER": {"host": "localhost", "port": "5672", "user": "guest",
                         "password": "guest", "num_threads": "5", "max_retries": "5"},
    "CENTRAL_RPC_SERVER": {"host": "localhost", "port": "5672", "user": "guest",
                           "password": "guest", "num_threads": "5", "max_retries": "5"},
    "CENTRAL_RPC_CLIENT": {"port": "5672"},
    "DB": {"host": "localhost", "port": "3306", "dialect": "mysql+mysqlconnector"},
}
#: site/jaws_site/config.py Configuration.required_params
REQUIRED = {
    "LOCAL_RPC_SERVER": ["vhost"],
    "CENTRAL_RPC_SERVER": ["vhost"],
    "CENTRAL_RPC_CLIENT": ["host", "vhost", "user", "password"],
    "GLOBUS": ["client_id", "client_secret", "endpoint_id", "host_path"],
    "DB": ["user", "password", "db"],
    "CROMWELL": ["url"],
    "SITE": ["id", "uploads_dir"],
}


def _cromwell_status(url: str) -> dict:
    try:
        # S310: url is the site's configured Cromwell URL (http://host:port)
        with urllib.request.urlopen(f"{url}/engine/v1/status",  # noqa: S310
                                    timeout=1.0) as resp:
            if resp.status == 200:
                return broker.success(True)
    except Exception as exc:  # noqa: BLE001 - any failure is a failure response, as in JAWS
        return broker.failure(str(exc))
    return broker.failure("Cromwell is not healthy")


def jaws() -> None:
    """Entry point of the ``jaws-site`` console script."""
    args = cli.parse_service_args("jaws-site", ("daemon", "central-rpc", "jtm-rpc"))
    program = f"jaws-site {args.command}"
    conf = config.load(args.config_file, REQUIRED, DEFAULTS)
    # the sections each program gives jaws_rpc (cli.py central_rpc, jtm_rpc; daemon.py)
    servers = {"central-rpc": "CENTRAL_RPC_SERVER", "jtm-rpc": "LOCAL_RPC_SERVER"}
    if args.command in servers:
        rpc_server.require(conf[servers[args.command]])
    else:
        rpc_client.require(conf["CENTRAL_RPC_CLIENT"])
    cli.start(program, args.fault)
    config.log(args.log_file, program, f"Config using {args.config_file} "
               f"(site {conf['SITE']['id']}, log level {args.log_level})")
    if broker.real():  # real MySQL and RabbitMQ: hold a DB session and the daemon's brokers
        held = [dict(conf["CENTRAL_RPC_CLIENT"]), dict(conf["LOCAL_RPC_SERVER"])] \
            if args.command == "daemon" else []
        broker.hold(program, dict(conf["DB"]), held)
    if args.command == "central-rpc":
        url = conf["CROMWELL"]["url"]
        broker.serve(dict(conf["CENTRAL_RPC_SERVER"]),
                     {"server_status": lambda _params: _cromwell_status(url)}, program)
    elif args.command == "jtm-rpc":
        broker.serve(dict(conf["LOCAL_RPC_SERVER"]),
                     {"update_job_status": lambda _params: broker.success()}, program)
    else:
        while True:
            time.sleep(3600)
