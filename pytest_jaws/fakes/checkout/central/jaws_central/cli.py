"""Fake ``jaws-central --config C --log L --log-level LEVEL auth|rest|rpc``.

As JAWS's central/jaws_central/cli.py: ``auth`` serves ``/tokeninfo`` on ``[HTTP] auth_port``
(central/jaws_central/auth.py: a missing or malformed Authorization header is 401
"Authentication failure; invalid header", an unknown token 401 "Authentication failure"; the
fake has no user database, so every token is unknown); ``rest`` serves ``/api/v2/status`` and
``/api/v2/info`` on ``[HTTP] rest_port`` (central/jaws_central/utils.py status rules, per
``[SITE:<ID>]``: an RPC error 500 -> Site DOWN and Cromwell Unknown, another error -> Site UP
and Cromwell DOWN, no error -> both UP; RMQ from a broker check); ``rpc`` serves
``[RPC_SERVER]``'s queue. Errors are connexion's problem+json bodies.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from jaws_rpc import broker, cli, config, rpc_client, rpc_server, web

#: central/jaws_central/config.py Configuration.defaults (the values a file need not give)
DEFAULTS = {
    "JAWS": {"name": "jaws", "version": "", "docs_url": ""},
    "DB": {"dialect": "mysql+mysqlconnector", "host": "localhost", "port": "3306"},
    "RPC_SERVER": {"host": "localhost", "port": "5672", "queue": "central_rpc",
                   "max_threads": "2", "max_retries": "3"},
    "HTTP": {"auth_url": "localhost", "auth_port": "3000", "rest_port": "5000"},
}
#: central/jaws_central/config.py required_params
REQUIRED = {
    "DB": ["user", "password", "db"],
    "GLOBUS": ["client_id", "client_secret"],
    "RPC_SERVER": ["user", "password", "vhost"],
}
#: central/jaws_central/config.py required_site_params (every [SITE:<ID>] section)
SITE_KEYS = ("host", "user", "password", "vhost", "globus_host_path", "globus_endpoint",
             "uploads_dir", "max_ram_gb")


def site_rpc_params(conf) -> dict:
    """Return ``{site id: RPC client params}`` as Configuration.get_site_rpc_params builds them.

    Each key is taken by subscript (a missing ``queue`` is a KeyError, as in JAWS), then
    given to the client, which demands its keys (jaws_rpc.rpc_client).
    """
    out = {}
    for section in (s for s in conf.sections() if s.startswith("SITE:")):
        s = conf[section]
        params = {"host": s["host"], "port": int(s.get("port", 5672)), "user": s["user"],
                  "password": s["password"], "vhost": s["vhost"], "queue": s["queue"]}
        out[section[len("SITE:"):].upper()] = rpc_client.require(params)
    return out


def status(conf, faults: list[str]):
    """``GET /api/v2/status`` as jaws_central.utils.status answers it."""
    if "unhealthy" in faults:
        return web.problem(500, "fake fault: central database unreachable")
    result = {"JAWS-Central": "UP"}
    sites = site_rpc_params(conf)
    with ThreadPoolExecutor(max(1, len(sites))) as pool:  # one RPC wait for all sites
        futures = {sid: pool.submit(broker.request, p, "server_status") for sid, p in sites.items()}
        answers = {sid: f.result() for sid, f in futures.items()}
    for site_id, params in sites.items():
        response = answers[site_id]
        if "error" not in response:
            result[f"{site_id}-Site"], result[f"{site_id}-Cromwell"] = "UP", "UP"
        elif response["error"]["code"] == 500:
            result[f"{site_id}-Site"], result[f"{site_id}-Cromwell"] = "DOWN", "Unknown"
        else:
            result[f"{site_id}-Site"], result[f"{site_id}-Cromwell"] = "UP", "DOWN"
        result[f"{site_id}-RMQ"] = broker.rmq_status(params)
    if "extra-part" in faults:
        result["GHOST-Site"] = "UP"
    return 200, result


def tokeninfo(handler, faults: list[str]):
    """``GET /tokeninfo`` as jaws_central.auth.get_tokeninfo answers it without a user."""
    if "unhealthy" in faults:
        return web.problem(500, "Db error: fake fault")
    parts = handler.headers.get("Authorization", "").split()
    if len(parts) != 2:
        return web.problem(401, "Authentication failure; invalid header")
    return web.problem(401, "Authentication failure")


def jaws() -> None:
    """Entry point of the ``jaws-central`` console script."""
    args = cli.parse_service_args("jaws-central", ("auth", "rest", "rpc"))
    program = f"jaws-central {args.command}"
    conf = config.load(args.config_file, REQUIRED, DEFAULTS, SITE_KEYS)
    if args.command == "rest":  # cli.py rest: the RPC clients of every site, at start
        site_rpc_params(conf)
    elif args.command == "rpc":
        rpc_server.require(conf["RPC_SERVER"])
    cli.start(program, args.fault)
    config.log(args.log_file, program, f"Config using {args.config_file}")
    http = conf["HTTP"]
    if args.command == "auth":
        web.serve("central-auth", int(http.get("auth_port", 3000)),
                  {"/tokeninfo": lambda h: tokeninfo(h, args.fault)}, args.fault)
    elif args.command == "rest":
        info = {k: conf["JAWS"][k] for k in ("name", "version", "docs_url")}
        if "wrong-info" in args.fault:
            info["name"] = "prod" if info["name"] != "prod" else "dev"
        web.serve("central-rest", int(http.get("rest_port", 5000)), {
            "/api/v2/status": lambda _h: status(conf, args.fault),
            "/api/v2/info": lambda _h: (200, info),
        }, args.fault)
    else:
        broker.serve(dict(conf["RPC_SERVER"]), {"server_status": lambda _p: broker.success()},
                     program)
