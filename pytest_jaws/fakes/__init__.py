"""Fake JAWS: a JAWS-shaped checkout whose services answer as the real ones do.

``checkout/`` holds rpc/, site/, central/, jtm/ with JAWS's distribution names and console
scripts, and cromwell/, the Cromwell stand-in built into a jar; the services answer over HTTP
and RPC as the real ones do. See ``checkout/*/`` docstrings.
"""
