"""The kernel's TCP socket tables (``/proc/net/tcp`` and ``tcp6``, readable by every user).

What psutil cannot show a run without root: who owns a listening socket, and who owns the
other end of a loopback connection (the process that really answers, whatever holds the
port).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import time
from collections.abc import Iterator

#: The kernel's TCP socket tables: IPv4, IPv6 (the latter also holds IPv4-mapped sockets).
TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def listener_uids(port: int) -> set[int]:
    """Return the uids owning the sockets that listen on TCP ``port`` (any address).

    From the kernel's socket tables (/proc/net/tcp, tcp6), which anyone may read: a runner
    without root sees whose socket it is even where the process behind it is hidden from it.
    """
    return {int(f[7]) for f in _socket_table()
            if f[3] == "0A" and _proc_net_address(f[1])[1] == port}  # 0A: LISTEN


def _socket_table(tables: tuple[str, ...] = TABLES) -> Iterator[list[str]]:
    """Yield the entries of /proc/net/tcp and tcp6 (or only ``tables``), their fields split.

    Local and remote address, state and uid are fields 1, 2, 3 and 7; a table that cannot be
    read is left out. The kernel writes these tables as they are read, walking its whole
    connection hash table (milliseconds each, however few sockets there are), so a caller
    that stops early spares it the rest.
    """
    for table in tables:
        try:
            with open(table) as fh:
                next(fh, None)  # the header
                for line in fh:
                    fields = line.split()
                    if len(fields) >= 8:
                        yield fields
        except OSError:
            continue


def _proc_net_address(text: str) -> tuple[str, int]:
    """``0100007F:1F90`` (or the 32-hex-digit IPv6 form) from /proc/net/tcp* -> (ip, port)."""
    addr, port = text.split(":")
    raw = bytes.fromhex(addr)
    # The kernel prints each 32-bit word in host byte order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)) \
        if sys.byteorder == "little" else raw
    ip = ipaddress.ip_address(words)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(port, 16)


def peer_uid(sock: socket.socket, attempts: int = 50) -> int | None:
    """Return the user id that owns the other end of a connected loopback TCP socket ``sock``.

    The server end of a connection is created by (and belongs to the owner of) the listening
    socket that accepted it, so this names who really answers, whatever process holds the
    port. Read from ``/proc/net/tcp`` and ``tcp6``, which every user may read; the entry is
    looked for up to ``attempts`` times, 2 ms apart (the kernel may add it just after
    ``connect`` returns).

    :returns: the uid, or None when the other end is not found (not a loopback connection).
    """
    ours = sock.getsockname()[:2]
    theirs = sock.getpeername()[:2]
    ours = (str(ipaddress.ip_address(ours[0])), ours[1])
    theirs = (str(ipaddress.ip_address(theirs[0])), theirs[1])
    # read until the entry is found, the socket's family's table first (the server end of a
    # connection to a dual-stack listener is in tcp6, under an IPv4-mapped address)
    tables = TABLES if sock.family == socket.AF_INET else TABLES[::-1]
    # the ports as the tables print them (4 hex digits): most entries are ruled out by them
    # before their addresses are decoded
    their_port, our_port = f":{theirs[1]:04X}", f":{ours[1]:04X}"
    for _ in range(attempts):
        for fields in _socket_table(tables):
            if fields[3] == "0A" or not (fields[1].endswith(their_port)
                                         and fields[2].endswith(our_port)):  # 0A: LISTEN
                continue
            if _proc_net_address(fields[1]) == theirs and _proc_net_address(fields[2]) == ours:
                return int(fields[7])
        time.sleep(0.002)
    return None
