"""The host's ephemeral port range: where the kernel picks the local port of an outgoing connection.

A documented port inside it (cromwell's 50101-50103 lie in Linux's default 32768-60999) can be
taken by any ordinary connection unless it is listed in ``net.ipv4.ip_local_reserved_ports``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from . import reservations

PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
RESERVED_FILE = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")


def port_range() -> tuple[int, int] | None:
    """``(first, last)`` of this host's ephemeral range, or None when it cannot be read."""
    try:
        first, last = PORT_RANGE_FILE.read_text().split()[:2]
        return int(first), int(last)
    except (OSError, ValueError):
        return None


def reserved_text() -> str | None:
    """Return the ``net.ipv4.ip_local_reserved_ports`` setting as written (``50101-50103,64101``).

    '' when empty, None when it cannot be read.
    """
    try:
        return RESERVED_FILE.read_text().strip()
    except OSError:
        return None


def parse_ranges(text: str) -> set[int]:
    """Ports of a ``50101-50103,64101`` list. :raises ValueError: on malformed text."""
    ports: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        ports.update(range(int(first), int(last or first) + 1))
    return ports


def format_ranges(ports: set[int]) -> str:
    """``{50101, 50102, 50103, 64101}`` as ``50101-50103,64101``."""
    runs: list[list[int]] = []
    for port in sorted(ports):
        if runs and runs[-1][1] == port - 1:
            runs[-1][1] = port
        else:
            runs.append([port, port])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def exposed(ports: dict[str, int]) -> dict[str, int]:
    """Return the ``{name: port}`` of ``ports`` that lie unreserved in this host's ephemeral range.

    Empty when the range cannot be read.
    """
    span = port_range()
    if span is None:
        return {}
    try:
        reserved = parse_ranges(reserved_text() or "")
    except ValueError:
        reserved = set()
    return {n: p for n, p in ports.items() if span[0] <= p <= span[1] and p not in reserved}


def hint(port: int) -> str:
    """Return, for a pre-flight message, a sentence saying ``port`` lies unreserved in the range.

    '' unless ``port`` lies unreserved in the ephemeral range; else the sentence says so and how
    to reserve it.
    """
    span = port_range()
    if span is None or not exposed({"p": port}):
        return ""
    return (f" (port {port} lies in this host's ephemeral port range {span[0]}-{span[1]}, from "
            "which the kernel picks the local port of any outgoing connection; reserve it: "
            f"sysctl -w net.ipv4.ip_local_reserved_ports={port}, added to what is there)")


def describe(ports: dict[str, int]) -> list[str]:
    """Return lines for a plan: which of ``ports`` lie in this host's ephemeral range.

    Also the ``net.ipv4.ip_local_reserved_ports`` setting, and the command that protects the rest.
    """
    span = port_range()
    if span is None:
        return ["   ephemeral port range: unknown on this host (no /proc/sys/net)"]
    inside = {n: p for n, p in ports.items() if span[0] <= p <= span[1]}
    setting = reserved_text()
    shown = repr(setting) if setting is not None else "(unreadable)"
    lines = [f"   ephemeral port range of this host: {span[0]}-{span[1]} "
             f"(net.ipv4.ip_local_port_range); net.ipv4.ip_local_reserved_ports = {shown}"]
    if not inside:
        lines.append("   no port of the table lies in it")
        return lines
    open_ = exposed(ports)
    lines.append("   in the ephemeral range: " + ", ".join(
        f"{n} {p} ({'reserved' if n not in open_ else 'NOT reserved'})" for n, p in inside.items()))
    if open_:
        try:
            wanted = parse_ranges(setting or "") | set(open_.values())
        except ValueError:
            wanted = set(open_.values())
        lines.append("   an outgoing connection can take an unreserved port; reserve them with: "
                     f"sysctl -w net.ipv4.ip_local_reserved_ports={format_ranges(wanted)}")
    return lines


def reserve(ports: set[int], key: str, cancel: threading.Event | None = None,
            on_wait: Callable[[str], None] | None = None) -> set[int]:
    """As root, reserve those of ``ports`` that lie in the ephemeral range, for the holder ``key``.

    ``key`` names what needs them (a deployment's marker, a test session). Those that are not
    reserved yet are added to ``net.ipv4.ip_local_reserved_ports`` (this network namespace), so
    that no outgoing connection takes one while they are needed; what was there stays. The
    record of ``key`` (:mod:`pytest_jaws.host.reservations`) says what it needs and added, held by
    this process (and by what :func:`hold` adds), so that :func:`release` or a later run (after
    a kill) removes exactly what was added and is not needed by another live holder.

    :param cancel: ends a wait for the setting's lock (a deployment being cancelled).
    :param on_wait: told, once, when the lock is held by someone else (a progress line).
    :returns: the ports added now; empty when not root or the setting cannot be read or written.
    :raises pytest_jaws.errors.HostLockBusy: the setting's lock is held too long (named).
    """
    if os.geteuid() != 0:
        return set()
    with reservations.locked(cancel, on_wait) as book:
        span, text = port_range(), reserved_text()
        if span is None or text is None:
            return set()
        try:
            have = parse_ranges(text)
        except ValueError:
            return set()
        swept = book.sweep(have)  # what killed runs added: given back now
        have -= swept
        needed = {p for p in ports if span[0] <= p <= span[1]}
        added = needed - have
        if (added or swept) and not _write(have | added):
            added = set()
        book.record(key, needed, added)
        return added


def hold(key: str, pids: list[int]) -> None:
    """Add the processes ``pids`` (a deployment's supervisords) as holders of ``key``'s record.

    A deployment left up keeps its reservation while they live, after pytest has ended.
    """
    if os.geteuid() != 0 or not pids:
        return
    with reservations.locked() as book:
        book.hold(key, pids)


def release(key: str) -> set[int]:
    """Give back what ``key`` reserved: remove its record and the ports it added.

    A port it added that another live holder needs is handed to that holder instead (removed
    when that one releases). Every other reservation stays as it is now.

    :returns: the ports removed from the setting.
    """
    if os.geteuid() != 0:
        return set()
    with reservations.locked() as book:
        try:
            have = parse_ranges(reserved_text() or "")
        except ValueError:
            return set()
        gone = book.drop(key) | book.sweep(have)
        if gone & have and _write(have - gone):
            return gone & have
        return set()


def _write(ports: set[int]) -> bool:
    try:
        RESERVED_FILE.write_text(format_ranges(ports) + "\n")
    except OSError:
        return False
    return True
