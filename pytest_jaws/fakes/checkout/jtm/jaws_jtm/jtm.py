"""Fake ``jtm [--debug] [--config=C] manager|submit|kill|isalive ...``, as strict as jtm.

As jtm/jaws_jtm: the configuration is ``--config`` or ``$JTM_CONFIG_FILE`` (config.py), read
with ``ConfigParser(interpolation=ExtendedInterpolation())``; every key jtm reads is read with
jtm's getter (``getint``, ``getfloat``, ``getboolean``), so a missing or unresolvable one ends
the program with configparser's own exception, as it ends jtm (``NoOptionError: No option
'jtm_task_request_q' in section: 'JTM'``). The options are jtm.py's click options, and a
missing required one is refused with click's usage error, exit status 2
(``Error: Missing option '-p' / '--pool_name'.``).

``manager`` needs the ``[RMQ]`` vhost (``jtm_<env>``) of the broker, as the JTM manager needs
RabbitMQ, then manages until SIGTERM; on a real MySQL and RabbitMQ it holds a session on
``[MYSQL]`` and AMQP connections on ``jtm_<env>`` and ``[JTM_RPC_SERVER]``, and exits 1 when
one is lost. ``submit``, ``kill`` and ``isalive`` check their options and what jtm checks
before it contacts the manager (cluster name, wall time format), then exit 1 saying that the
fake manager runs no tasks.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import sys
import time

from jaws_rpc import broker, cli, config

#: What jtm reads of its configuration: ``{section: {key: getter type}}``; the same as
#: pytest-jaws's jaws_required.yaml (``jaws-jtm``), derived from jtm/jaws_jtm/ at JAWS
#: 9953611d (a test of pytest-jaws keeps the two equal).
REQUIRED = {
    "JTM": {
        **dict.fromkeys((
            "client_hb_recv_interval", "clone_time_rate", "result_receive_interval",
            "runs_info_update_wait", "task_kill_interval", "worker_hb_recv_interval",
            "worker_hb_send_interval", "worker_info_update_wait", "worker_kill_interval"),
            "float"),
        **dict.fromkeys((
            "heartbeat_message_count", "jtminterface_max_trial", "max_retries",
            "num_workers_per_node", "task_kill_timeout_minute", "worker_hb_check_max_count"),
            "int"),
        **dict.fromkeys((
            "cluster", "env_activation", "jgi_jtm_main_exch", "jtm_inner_main_exch",
            "jtm_inner_request_q", "jtm_inner_result_q", "jtm_status_request_q",
            "jtm_status_result_q", "jtm_task_kill_exch", "jtm_task_kill_q",
            "jtm_task_request_q", "jtm_task_result_q", "jtm_worker_hb_exch", "log_dir",
            "pool_name", "run_mode", "worker_config_file", "worker_hb_q_postfix",
            "worker_s_hb_expiration"), "str"),
        "standalone": "boolean",
    },
    "JTM_RPC_SERVER": dict.fromkeys(("host", "password", "queue", "user", "vhost"), "str"),
    "MYSQL": {"db": "str", "host": "str", "password": "str", "port": "int", "user": "str"},
    "RMQ": {"host": "str", "password": "str", "port": "int", "user": "str", "vhost": "str"},
    "SITE": {"debug": "boolean", "jtm_host_name": "str", "user_name": "str"},
    "SITE_RPC_CLIENT": dict.fromkeys(("host", "password", "port", "queue", "user", "vhost"),
                                     "str"),
    "SLURM": {"charge_accnt": "str", "constraint": "str", "jobtime": "str", "mempercpu": "str",
              "mempernode": "str", "ncpus": "int", "nnodes": "int", "partition": "str",
              "qos": "str"},
}
#: The sites jtm accepts as ``--cluster`` (config.py JtmConstants.COMPUTE_RESOURCES).
COMPUTE_RESOURCES = ("CORI", "JGI", "TAHOMA", "LOCAL")


class _ClickParser(argparse.ArgumentParser):
    """An argument parser that refuses as click 7 does: usage, hint, ``Error: ...``, exit 2."""

    def error(self, message: str):
        """Print click's usage error for ``message`` and exit 2."""
        name = self.prog
        sys.stderr.write(f"Usage: {name} [OPTIONS]\nTry '{name} --help' for help.\n\n"
                         f"Error: {message}\n")
        sys.exit(2)


def _load(path: str | None) -> configparser.ConfigParser:
    """Choose and parse the configuration as jtm/jaws_jtm/config.py does (a missing file too)."""
    if not path:
        print("JTM_CONFIG_FILE is not defined. Checking current directory...", file=sys.stderr)
        if not os.path.isfile("jtm.ini"):
            print("JTM configuration file not found", file=sys.stderr)
            sys.exit(1)
        path = "jtm.ini"
    parser = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
    parser.read(path)
    return parser


def _check(parser: configparser.ConfigParser) -> configparser.ConfigParser:
    """Read every key jtm reads with jtm's getter; configparser raises as it does in jtm."""
    for section, keys in REQUIRED.items():
        for key, type_ in keys.items():
            getattr(parser, "get" if type_ == "str" else f"get{type_}")(section, key)
    return parser


def _required(parser: _ClickParser, short: str, long: str, value) -> None:
    if value is None:
        parser.error(f"Missing option '{short}' / '{long}'.")


def _submit(prog: str, argv: list[str], conf: configparser.ConfigParser) -> None:
    """``jtm submit``: jtm.py's options; the pool (``-p``) is required, as in jtm."""
    p = _ClickParser(prog=f"{prog} submit", add_help=False)
    for short, long, kind in (
            ("-cl", "--cluster", str), ("-cmd", "--command", str), ("-f", "--task_file", str),
            ("-A", "--account", str), ("-c", "--ncpu", int), ("-C", "--constraint", str),
            ("-jid", "--cromwell_job_id", str), ("-m", "--memory", float),
            ("-N", "--nnodes", int), ("-nwpn", "--num_worker_per_node", int),
            ("-p", "--pool_name", str), ("-P", "--partition", str), ("-q", "--qos", str),
            ("-s", "--shared", int), ("-t", "--job_time", str)):
        p.add_argument(short, long, type=kind)
    args = p.parse_args(argv)
    _required(p, "-p", "--pool_name", args.pool_name)
    _check(conf)
    if args.command and args.task_file:
        p.error("Illegal usage: 'command' is mutually exclusive with task_file.")
    cluster = (args.cluster or "").lower()
    if cluster.upper() not in COMPUTE_RESOURCES:
        sys.exit(f"Unsupported site name specified: {cluster}")
    if not re.match(r"\d+:[0-5][0-9]:[0-5][0-9]", args.job_time or ""):
        sys.exit("jtm submit: invalid task or runtime definition: "
                 f"The job time is not in an expected format (%H:%M:%S): {args.job_time}")
    sys.exit(f"fake jtm: task for pool {args.pool_name} on {cluster} refused: the fake "
             f"manager of {conf['SITE']['jtm_host_name']} runs no tasks")


def _task_command(prog: str, name: str, argv: list[str], conf: configparser.ConfigParser) -> None:
    """``jtm kill|isalive -tid N``: the task id is required and an integer, as in jtm."""
    p = _ClickParser(prog=f"{prog} {name}", add_help=False)
    p.add_argument("-tid", "--task_id", type=int)
    args = p.parse_args(argv)
    _required(p, "-tid", "--task_id", args.task_id)
    _check(conf)
    sys.exit(f"fake jtm: no task {args.task_id}: the fake manager runs no tasks")


def jtm() -> None:
    """Entry point of the ``jtm`` console script."""
    parser = argparse.ArgumentParser(prog="jtm", allow_abbrev=False)
    parser.add_argument("--config", dest="config_file",
                        default=os.environ.get("JTM_CONFIG_FILE"))
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("command", choices=["manager", "submit", "kill", "isalive"])
    args, rest = parser.parse_known_args()
    conf = _load(args.config_file)  # click's group callback: before a command's options
    if args.command == "submit":
        _submit("jtm", rest, conf)
    if args.command in ("kill", "isalive"):
        _task_command("jtm", args.command, rest, conf)
    _check(conf)
    manager = argparse.ArgumentParser(prog="jtm manager")
    manager.add_argument("-ld", "--log_dir")
    cli.add_fault_options(manager)
    margs = manager.parse_args(rest)
    cli.start("jtm", margs.fault)
    params = dict(conf["RMQ"])
    if broker.real():  # real MySQL and RabbitMQ: hold them, exit 1 when one is lost
        broker.hold("jtm", dict(conf["MYSQL"]), [params, dict(conf["JTM_RPC_SERVER"])])
    elif broker.rmq_status(params) != "UP":
        sys.exit(f"jtm: cannot connect to RabbitMQ {params['host']}:{params['port']} "
                 f"vhost {params['vhost']}")
    log = os.path.join(margs.log_dir, "jtm.log") if margs.log_dir else None
    config.log(log, "jtm", f"manager of {conf['SITE']['instance_name']} ready "
               f"(run mode {conf['JTM']['run_mode']}, cluster {conf['JTM']['cluster']})")
    while True:
        time.sleep(3600)
