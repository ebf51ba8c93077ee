"""What JAWS's rpc/jaws_rpc/rpc_server.py demands of a server's configuration section.

``RpcServer(params, ...)`` raises ``ConfigurationError("<key> required")`` for each of
host, vhost, user, password, queue missing from its section, before it connects.
"""

from __future__ import annotations

#: The keys RpcServer's constructor demands (rpc/jaws_rpc/rpc_server.py).
REQUIRED = ("host", "vhost", "user", "password", "queue")


class ConfigurationError(Exception):
    """A server section lacks a key (the message names it, as jaws_rpc's does)."""


def require(params) -> dict:
    """Return ``params`` as a dict, or raise :class:`ConfigurationError` as RpcServer does."""
    for key in REQUIRED:
        if key not in params:
            raise ConfigurationError(f"{key} required")
    return dict(params)
