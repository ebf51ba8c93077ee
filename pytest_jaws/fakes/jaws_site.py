"""Fake jaws-site: no TCP port; every second it asks Cromwell for its status and records the
answer in the heartbeat file that the fake central-rest reads (JAWS does this over RPC)."""

from __future__ import annotations

import json
import os
import time

from .common import exit_on_sigterm, get_json, parse_args

INTERVAL = 1.0


def beat(path: str, cromwell_url: str) -> str:
    """Probe Cromwell once and write ``{"time": epoch seconds, "cromwell": UP|DOWN}``."""
    state = "UP" if get_json(f"{cromwell_url}/engine/v1/status")[0] == 200 else "DOWN"
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump({"time": time.time(), "cromwell": state, "pid": os.getpid()}, fh)
    os.replace(tmp, path)
    return state


def main(argv: list[str] | None = None) -> None:
    """Run until SIGTERM."""
    args = parse_args("jaws-site", argv)
    exit_on_sigterm()
    print(f"fake jaws-site: {args.site}/{args.env}, cromwell at {args.cromwell_url}", flush=True)
    last = None
    while True:
        state = beat(args.heartbeat, args.cromwell_url)
        if state != last:
            print(f"fake jaws-site: cromwell {state}", flush=True)
            last = state
        time.sleep(INTERVAL)


if __name__ == "__main__":
    main()
