"""The host's ephemeral port range: where the kernel picks the local port of an outgoing connection.

A documented port inside it (cromwell's 50101-50103 lie in Linux's default 32768-60999) can be
taken by any ordinary connection unless it is listed in ``net.ipv4.ip_local_reserved_ports``.
"""

from __future__ import annotations

from pathlib import Path

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


def _reserved_lock():
    """Hold a host-wide lock around the read-modify-write of the reserved-ports setting."""
    import tempfile

    from filelock import FileLock
    return FileLock(str(Path(tempfile.gettempdir()) / "pytest-jaws-reserved-ports.lock"))


def reserve(ports: set[int]) -> set[int]:
    """As root, reserve those of ``ports`` that lie unreserved in the ephemeral range.

    They are added to ``net.ipv4.ip_local_reserved_ports`` (this network namespace), so that no
    outgoing connection can take them while the deployment needs them.

    :returns: the ports added (to give back with :func:`release`); empty when not root, when
        the setting cannot be read or written, or when there is nothing to add.
    """
    import os
    if os.geteuid() != 0:
        return set()
    with _reserved_lock():
        span, text = port_range(), reserved_text()
        if span is None or text is None:
            return set()
        try:
            have = parse_ranges(text)
        except ValueError:
            return set()
        added = {p for p in ports if span[0] <= p <= span[1] and p not in have}
        if added:
            try:
                RESERVED_FILE.write_text(format_ranges(have | added) + "\n")
            except OSError:
                return set()
        return added


def release(ports: set[int]) -> None:
    """Remove ``ports`` (what :func:`reserve` added) from the reserved-ports setting again.

    Every other reservation is left as it is now.
    """
    if not ports:
        return
    with _reserved_lock():
        text = reserved_text()
        try:
            have = parse_ranges(text or "")
            RESERVED_FILE.write_text(format_ranges(have - set(ports)) + "\n")
        except (OSError, ValueError):
            pass
