"""Fake JAWS: ``checkout/`` is a JAWS-shaped checkout (rpc/, site/, central/, jtm/ with JAWS's
distribution names and console scripts, and cromwell/, the Cromwell stand-in built into a jar)
whose services answer over HTTP and RPC as the real ones do. See ``checkout/*/`` docstrings.
"""
