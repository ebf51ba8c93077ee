"""Fake Cromwell: ``GET /engine/v1/status`` -> 200 ``{}``; ``GET /engine/v1/version``.

Real Cromwell answers 500 with the failing subsystems when unhealthy; ``--fault unhealthy``
does the same.
"""

from __future__ import annotations

from .common import parse_args, serve

VERSION = "86"


def main(argv: list[str] | None = None) -> None:
    """Run the fake until SIGTERM."""
    args = parse_args("cromwell", argv)
    unhealthy = "unhealthy" in args.fault

    def status(_):
        if unhealthy:
            return 500, {"Engine Database": ["fake fault: database unreachable"]}
        return 200, {}

    serve("cromwell", args, {
        "/engine/v1/status": status,
        "/engine/v1/version": lambda _: (200, {"cromwell": VERSION}),
    })


if __name__ == "__main__":
    main()
