"""Stand-ins of the sites a central twin serves: they answer central's RPC on the run's RabbitMQ.

A fake twin of central that runs the real code has no sites: the real central-rest asks each
site of its config over RPC (``server_status``, central/jaws_central/utils.py) and waits
``rpc_max_wait`` (10 s, rpc/jaws_rpc/rpc_client.py) for every one that does not answer. These
stand-ins consume each site's queue (``JAWS_<SITE>``, the ``[SITE:<id>]`` sections of
jaws-central.conf) on central's vhost and answer every request the way jaws-site's central-rpc
answers ``server_status`` with a healthy Cromwell (site/jaws_site/central_rpc_operations.py:
``success(cromwell.status())``, a JSON-RPC 2.0 result ``{}``), and any other method with a
JSON-RPC error: they are not sites.

Run by :mod:`pytest_jaws.deploy.rabbitstart` with the run's interpreter (pika), never from a checkout:
``python peers.py`` with ``JAWS_PEERS`` = JSON ``{"host", "port", "user", "vhost", "queues"}``
and the password in ``JAWS_PEERS_PASSWORD``; it runs until SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def main() -> None:
    """Answer on every queue of ``JAWS_PEERS`` until SIGTERM."""
    import pika

    conf = json.loads(os.environ["JAWS_PEERS"])
    params = pika.ConnectionParameters(
        host=conf["host"], port=int(conf["port"]), virtual_host=conf["vhost"],
        credentials=pika.PlainCredentials(conf["user"], os.environ["JAWS_PEERS_PASSWORD"]))
    connection = pika.BlockingConnection(params)
    channel = connection.channel()

    def answer(ch, method, props, body) -> None:
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        if request.get("method") == "server_status":
            reply = {"jsonrpc": "2.0", "result": {}}
        else:
            reply = {"jsonrpc": "2.0", "error": {
                "code": 501, "message": f"stand-in of a site: no method {request.get('method')!r}"}}
        if props.reply_to:
            ch.basic_publish(exchange="", routing_key=props.reply_to, body=json.dumps(reply),
                             properties=pika.BasicProperties(correlation_id=props.correlation_id))
        ch.basic_ack(delivery_tag=method.delivery_tag)

    for queue in conf["queues"]:
        channel.queue_declare(queue=queue)
        channel.basic_consume(queue=queue, on_message_callback=answer)
    signal.signal(signal.SIGTERM, lambda *_: channel.stop_consuming())
    print(f"site stand-ins answering on {', '.join(conf['queues'])}", flush=True)
    try:
        channel.start_consuming()
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001, S110 - closing at exit
            pass


if __name__ == "__main__":
    main()
    sys.exit(0)
