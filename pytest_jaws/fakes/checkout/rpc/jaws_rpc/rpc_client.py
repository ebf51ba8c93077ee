"""What JAWS's rpc/jaws_rpc/rpc_client.py demands of a client's configuration section.

``RpcClient(params, ...)`` raises ``ConfigurationError("<key> required")`` for each of
host, vhost, user, password, queue missing from its section.
"""

from __future__ import annotations

from . import rpc_server


class ConfigurationError(Exception):
    """A client section lacks a key (the message names it, as jaws_rpc's does)."""


def require(params) -> dict:
    """Return ``params`` as a dict, or raise :class:`ConfigurationError` as RpcClient does."""
    try:
        return rpc_server.require(params)
    except rpc_server.ConfigurationError as exc:
        raise ConfigurationError(str(exc)) from None
