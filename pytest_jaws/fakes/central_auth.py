"""Fake central-auth: ``GET /tokeninfo`` with ``Authorization: Bearer <token>`` -> 200
``{"uid": ..., "scope": [...]}``; a missing or unknown token -> 401."""

from __future__ import annotations

from .common import parse_args, serve


def main(argv: list[str] | None = None) -> None:
    """Run the fake until SIGTERM."""
    args = parse_args("central-auth", argv)
    unhealthy = "unhealthy" in args.fault

    def tokeninfo(handler):
        if unhealthy:
            return 500, {"detail": "fake fault: token store unavailable"}
        if handler.headers.get("Authorization", "") != f"Bearer {args.token}":
            return 401, {"detail": "invalid or missing bearer token"}
        return 200, {"uid": "jaws-probe", "scope": ["user"]}

    serve("central-auth", args, {"/tokeninfo": tokeninfo})


if __name__ == "__main__":
    main()
