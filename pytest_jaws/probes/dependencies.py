"""MySQL and RabbitMQ, the services JAWS needs outside supervisord: the checks.

A site that declares ``dependencies:`` in sites.yaml (:class:`pytest_jaws.sites.sitedeps.Dependencies`)
gets one :class:`DependencyCheck` per server it uses
(:mod:`pytest_jaws.plan.depplan`): MySQL with the database of every JAWS
configuration file the site writes, central's broker and the site's broker with the vhosts
their programs open (names: JAWS's test/integration/generate-configs, deploy-central,
deploy-cromwell; the user ``jaws`` on RabbitMQ). :func:`preflight` runs every check before
anything of an environment is written or started; the dependency suite
(``suites/test_dependencies.py``) runs the same at test time.

Clients: PyMySQL and pika (JAWS itself uses mysql-connector and amqpstorm; central's status
check, central/jaws_central/utils.py ``_rmq_server_status``, opens a connection on the vhost
exactly as :func:`check_rabbitmq` does). Connect timeouts are :data:`CONNECT_TIMEOUT` seconds.
Passwords come from the masked variables ``JAWS_SECRET_<SITE>_<ENV>_<NAME>`` and are
registered for masking; they never appear in a message.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ..errors import DependencyError
from ..keys import mask, remember
from ..plan.depplan import DependencyCheck

# pika logs every refused connection at ERROR with a traceback; the messages here say it once
logging.getLogger("pika").setLevel(logging.CRITICAL)

#: Seconds allowed to connect (and for each answer) to MySQL or RabbitMQ.
CONNECT_TIMEOUT = 5.0



def _cause(exc: Exception, timeout: float = CONNECT_TIMEOUT) -> str:
    """Return the cause of a failed connection in words: connection refused, timed out, ..."""
    text = str(exc)
    chain = [exc, *(a for a in getattr(exc, "args", ()) if isinstance(a, Exception))]
    for item in chain:
        if isinstance(item, ConnectionRefusedError) or "Connection refused" in str(item) \
                or "ConnectionRefusedError" in repr(item):
            return "connection refused"
        if isinstance(item, (socket.timeout, TimeoutError)) or "timed out" in str(item).lower() \
                or "Timeout" in type(item).__name__:
            return f"timed out (connect timeout {timeout:g} s)"
    return text or type(exc).__name__


def check_mysql(check: DependencyCheck, password: str,
                timeout: float = CONNECT_TIMEOUT) -> list[str]:
    """Log in to MySQL and use every database of ``check``.

    :param password: the user's password (never put into a message).
    :param timeout: seconds for the connection and for each answer.
    :returns: problems, each naming MySQL, ``host:port``, the database (when one is at
        fault) and the cause; empty when everything works.
    """
    import pymysql

    where = f"MySQL {check.address}"
    try:
        conn = pymysql.connect(host=check.host, port=check.port, user=check.user,
                               password=password, connect_timeout=timeout,
                               read_timeout=timeout, write_timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        args = exc.args
        if args and args[0] == 1045:
            why = f"authentication failed for user {check.user} ({args[1]})"
        else:
            why = _cause(exc, timeout)
            if why == str(exc) and len(args) > 1:
                why = str(args[1])
        if "connect timeout" not in why:
            why += f" (connect timeout {timeout:g} s)"
        return [f"{where} (databases {', '.join(check.targets)}): {why}"]
    problems = []
    try:
        for db in check.targets:
            try:
                conn.select_db(db)
                with conn.cursor() as cur:
                    cur.execute("SELECT COUNT(*) FROM information_schema.TABLES "
                                "WHERE TABLE_SCHEMA = DATABASE()")
            except pymysql.err.MySQLError as exc:
                code = exc.args[0] if exc.args else None
                detail = exc.args[1] if len(exc.args) > 1 else str(exc)
                if code == 1049:
                    why = "missing (the database does not exist)"
                elif code == 1044:
                    why = (f"missing, or user {check.user} may not use it ({detail})")
                else:
                    why = f"cannot be used: {detail}"
                problems.append(f"{where} database {db}: {why}")
    finally:
        conn.close()
    return problems


def check_rabbitmq(check: DependencyCheck, password: str,
                   timeout: float = CONNECT_TIMEOUT) -> list[str]:
    """Log in to RabbitMQ on every vhost of ``check`` and open a channel there.

    :param password: the user's password (never put into a message).
    :param timeout: seconds for the connection and for the AMQP handshake.
    :returns: problems, each naming the broker, ``host:port``, the vhost and the cause.
    """
    import pika
    import pika.exceptions as px

    problems = []
    for vhost in check.targets:
        where = f"{check.label} {check.address} vhost {vhost}"
        params = pika.ConnectionParameters(
            host=check.host, port=check.port, virtual_host=vhost,
            credentials=pika.PlainCredentials(check.user, password),
            connection_attempts=1, socket_timeout=timeout, stack_timeout=timeout,
            blocked_connection_timeout=timeout, heartbeat=0)
        try:
            conn = pika.BlockingConnection(params)
        except px.ProbableAuthenticationError as exc:
            problems.append(f"{where}: authentication failed for user {check.user} "
                            f"({_broker_words(exc)})")
            break  # the same login fails on every vhost
        except px.ProbableAccessDeniedError as exc:
            words = _broker_words(exc)
            why = "missing (the vhost does not exist)" if "not found" in words else \
                f"user {check.user} may not use it"
            problems.append(f"{where}: {why} ({words})")
            continue
        except Exception as exc:  # noqa: BLE001 - refused, timed out, reset...
            why = _cause(exc, timeout)
            problems.append(f"{where}: {why}" + ("" if "connect timeout" in why
                                                 else f" (connect timeout {timeout:g} s)"))
            break  # the server is unreachable: every vhost would say the same
        try:
            conn.channel().close()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{where}: a channel does not open: {exc}")
        finally:
            try:
                conn.close()
            except Exception:  # noqa: BLE001, S110 - closing a broken connection
                pass
    return problems


def _broker_words(exc: Exception) -> str:
    """Return what the broker said (``NOT_ALLOWED - vhost x not found``) from pika's nested errors."""
    import re

    found = re.search(r"'([A-Z_]+ - [^']*)'", repr(exc))
    return found.group(1) if found else str(exc)


def password_of(check: DependencyCheck, site: str, env: str,
                environ: Mapping[str, str] | None = None) -> str:
    """Return the password of ``check`` from ``JAWS_SECRET_<SITE>_<ENV>_<NAME>``, registered for masking.

    :raises DependencyError: naming the variable when it is not set.
    """
    from ..sites.sitevars import secret_variable

    source = os.environ if environ is None else environ
    variable = secret_variable(site, env, check.secret)
    value = source.get(variable)
    if not value:
        raise DependencyError(
            f"pre-flight failed: {check.label} {check.address}: the password of user "
            f"{check.user} is not set; set the masked variable ${variable}")
    remember(value)
    return value


def run_check(check: DependencyCheck, password: str,
              timeout: float = CONNECT_TIMEOUT) -> list[str]:
    """Run one check (:func:`check_mysql` or :func:`check_rabbitmq`); masked problems."""
    fn = check_mysql if check.kind == "mysql" else check_rabbitmq
    return [mask(p) for p in fn(check, password, timeout)]


def preflight(checks: tuple[DependencyCheck, ...], site: str, env: str,
              timeout: float = CONNECT_TIMEOUT) -> list[str]:
    """Run every check concurrently (at most about ``timeout`` seconds in all).

    :returns: what was checked, one line per dependency (for the summary).
    :raises DependencyError: listing every problem, each naming the dependency, ``host:port``,
        the database or vhost and the cause.
    """
    if not checks:
        return []
    passwords = {c.key: password_of(c, site, env) for c in checks}
    with ThreadPoolExecutor(len(checks)) as pool:
        results = list(pool.map(lambda c: run_check(c, passwords[c.key], timeout), checks))
    problems = [p for found in results for p in found]
    if problems:
        raise DependencyError(
            f"pre-flight failed (environment {env}): " + "\n  ".join(problems)
            + "\nnothing was written or started; without it the JAWS services would only "
            "crash-loop (supervisord: exited too quickly)")
    return [c.describe() for c in checks]
