"""Fake jtm (JGI Task Manager): no TCP port; healthy means running."""

from __future__ import annotations

import time

from .common import exit_on_sigterm, parse_args


def main(argv: list[str] | None = None) -> None:
    """Run until SIGTERM."""
    args = parse_args("jtm", argv)
    exit_on_sigterm()
    print(f"fake jtm: worker manager for {args.site}/{args.env} ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
