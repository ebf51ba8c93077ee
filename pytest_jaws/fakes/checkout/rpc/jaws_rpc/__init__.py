"""Fake jaws_rpc: what the fake JAWS services share (pytest-jaws's JAWS-shaped checkout).

* :mod:`jaws_rpc.config`: read an INI file the way the JAWS package does and check its keys;
* :mod:`jaws_rpc.broker`: RPC servers and clients that meet in a broker directory instead of
  RabbitMQ (``$JAWS_FAKE_BROKER/<vhost>/<queue>.sock``), with JAWS's response shapes;
* :mod:`jaws_rpc.web`: a JSON HTTP server;
* :mod:`jaws_rpc.cli`: the command-line options every fake service shares (``--fault``).
"""
