"""Command-line options every fake service shares, added to the real ones.

``--fault`` (repeatable) breaks a service on purpose for pytest-jaws's own tests:
``exit`` (exit 3 at start), ``unhealthy`` (health endpoint 500), ``wrong-port`` (listen on
the port + 7), ``all-interfaces`` (listen on 0.0.0.0), ``stray-listener`` (also listen on an
ephemeral port), ``extra-part`` (central's status names a site it does not serve),
``wrong-info`` (central's info names another environment); ``--label`` is free text (a
change that changes nothing else).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys

FAULTS = ["exit", "unhealthy", "wrong-port", "all-interfaces", "stray-listener",
          "extra-part", "wrong-info"]
_keep: list = []


def add_fault_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--fault`` and ``--label`` to ``parser``."""
    parser.add_argument("--fault", action="append", default=[], choices=FAULTS)
    parser.add_argument("--label", default="")


def parse_service_args(prog: str, commands: tuple[str, ...]) -> argparse.Namespace:
    """Parse ``<prog> --config C [--log L] [--log-level LEVEL] <command> [--fault ...]``.

    That is the command line JAWS's ``jaws-site`` and ``jaws-central`` share (their cli.py click
    groups).
    """
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--config", dest="config_file", required=True)
    parser.add_argument("--log", dest="log_file")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in commands:
        add_fault_options(sub.add_parser(name))
    return parser.parse_args()


def start(name: str, faults: list[str]) -> None:
    """Apply the start-time faults and make SIGTERM (supervisord's stop) exit 0 promptly."""
    if "exit" in faults:
        print(f"fake {name}: refusing to start (--fault exit): simulated startup failure",
              file=sys.stderr, flush=True)
        sys.exit(3)
    if "stray-listener" in faults:
        stray = socket.create_server(("127.0.0.1", 0))
        _keep.append(stray)
        print(f"fake {name}: stray listener on {stray.getsockname()[1]} (--fault)", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
