"""Fake ``jtm --config=C [--debug] manager -ld DIR``.

Reads the configuration with ExtendedInterpolation, as jtm/jaws_jtm/config.py does, and needs
the ``[RMQ]`` vhost (``jtm_<env>``) of the broker, as the JTM manager needs RabbitMQ; then
manages until SIGTERM. On a real MySQL and RabbitMQ it holds a session on ``[MYSQL]`` and AMQP
connections on ``jtm_<env>`` and ``jaws_<env>``, and exits 1 when one is lost.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from jaws_rpc import broker, cli, config

#: The sections and keys of test/integration/generate-configs' jaws-jtm.conf that jtm reads.
REQUIRED = {
    "SITE": ["jtm_host_name", "user_name", "instance_name", "scratch"],
    "RMQ": ["user", "host", "port", "password", "vhost"],
    "MYSQL": ["host", "port", "user", "password", "db"],
    "JTM": ["cluster", "run_mode", "log_dir", "worker_config_file", "pool_name"],
}


def jtm() -> None:
    """Entry point of the ``jtm`` console script."""
    parser = argparse.ArgumentParser(prog="jtm")
    parser.add_argument("--config", dest="config_file",
                        default=os.environ.get("JTM_CONFIG_FILE"))
    parser.add_argument("--debug", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    manager = sub.add_parser("manager")
    manager.add_argument("-ld", "--log_dir")
    cli.add_fault_options(manager)
    args = parser.parse_args()
    if not args.config_file:
        sys.exit("jtm: JTM configuration file not found")
    conf = config.load(args.config_file, REQUIRED, extended=True, program="jtm")
    cli.start("jtm", args.fault)
    params = dict(conf["RMQ"])
    if broker.real():  # real MySQL and RabbitMQ: hold them, exit 1 when one is lost
        broker.hold("jtm", dict(conf["MYSQL"]), [params] + (
            [dict(conf["JTM_RPC_SERVER"])] if "JTM_RPC_SERVER" in conf else []))
    elif broker.rmq_status(params) != "UP":
        sys.exit(f"jtm: cannot connect to RabbitMQ {params['host']}:{params['port']} "
                 f"vhost {params['vhost']}")
    log = os.path.join(args.log_dir, "jtm.log") if args.log_dir else None
    config.log(log, "jtm", f"manager of {conf['SITE']['instance_name']} ready "
               f"(run mode {conf['JTM']['run_mode']}, cluster {conf['JTM']['cluster']})")
    while True:
        time.sleep(3600)
