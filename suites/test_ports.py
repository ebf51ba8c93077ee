"""Port suite: every service and instance listens where the port table says, and only there.

Each listens as the right process, and nowhere else; environments never share a port.

Ownership is read from the operating system (psutil), not from the configuration.
"""

import socket
import time

from pytest_jaws.host import portholders, processes


def _expected_pid(dep, name):
    """Supervisord's PID for an instance, the program's PID for a service (via XML-RPC)."""
    keys = {inst.name: key for key, inst in dep.instances.items()}
    if name in keys:
        return dep.client(keys[name]).supervisor.getPID()
    inst = dep.instance_of(name)
    return dep.client(inst.key).supervisor.getProcessInfo(f"{inst.process_group}:{name}")["pid"]


def test_listener_accepts_connections_on_its_port(jaws_deployment, jaws_listener):
    port = jaws_deployment.plan.ports[jaws_listener]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2.0).close()
    except OSError as exc:
        pid = _expected_pid(jaws_deployment, jaws_listener)
        actual = sorted(portholders.tree_listeners(pid)) if pid else []
        raise AssertionError(
            f"{jaws_listener} does not accept connections on its documented port {port} "
            f"({exc}); its process (PID {pid}) listens on {actual or 'no TCP port'}") from None


def test_listener_binds_the_expected_address(jaws_deployment, jaws_listener):
    """Only the services the site declares public listen beyond loopback.

    Those (sites.yaml ``public_services``: central's auth and rest, which JAWS's clients call)
    listen on every interface.
    """
    port = jaws_deployment.plan.ports[jaws_listener]
    prog = jaws_deployment.plan.programs.get(jaws_listener)
    public = prog is not None and prog.public
    # a public service listens on every interface (S104: that is what the check expects)
    bind = "0.0.0.0" if public else next(iter(jaws_deployment.instances.values())).bind  # noqa: S104
    addresses = sorted({addr for addr, _pid in portholders.listeners().get(port, [])})
    if prog is not None and prog.declared:
        why = f"declared in sites.yaml: binds every interface ({prog.declared})"
    elif public:
        why = "a public service (sites.yaml public_services)"
    else:
        why = ("not declared public: sites.yaml public_services, or declared binds-all-interfaces "
               "with the JAWS file that does it")
    assert addresses == [bind], (
        f"{jaws_listener} port {port} listens on {addresses or 'nothing'}, expected only {bind} "
        f"({why})")


#: Seconds a supervisord's port may show another holder before that holder counts: a child
#: it is spawning holds every descriptor of it from its fork until it closes them before its
#: exec (supervisor/process.py, Subprocess._spawn_as_child), a few milliseconds.
FORK_WINDOW = 1.0


def _owners(port, expected):
    """Return the PIDs holding ``port``, read again while they are not ``expected``.

    For up to :data:`FORK_WINDOW` seconds: a process that spawns a program (a supervisord
    restarting one) lends its listening socket to the child until that child execs.
    """
    deadline = time.monotonic() + FORK_WINDOW
    while True:
        owners = {owner for _addr, owner in portholders.listeners().get(port, [])}
        if expected(owners) or time.monotonic() > deadline:
            return owners
        time.sleep(0.05)


def test_listener_is_the_right_process(jaws_deployment, jaws_listener):
    port = jaws_deployment.plan.ports[jaws_listener]
    pid = _expected_pid(jaws_deployment, jaws_listener)
    family = {p.pid for p in processes.descendants(pid)} if pid else set()
    if jaws_listener.startswith("supervisord-"):
        owners = _owners(port, lambda found: found == {pid})
    else:
        owners = _owners(port, lambda found: bool(found) and found <= family)
    if not jaws_listener.startswith("supervisord-"):
        assert owners and owners <= family, (
            f"port {port} ({jaws_listener}) is held by PID {sorted(owners) or 'nobody'}, not by "
            f"program {jaws_listener} (PID {pid}) or its children; it listens on "
            f"{sorted(portholders.tree_listeners(pid)) if pid else 'nothing'} "
            f"(expected port {port})")
    else:
        assert owners == {pid}, (
            f"port {port} is held by PID {sorted(owners) or 'nobody'}, "
            f"expected {jaws_listener} (PID {pid})")


def test_portless_program_listens_nowhere(jaws_deployment, jaws_portless):
    pid = _expected_pid(jaws_deployment, jaws_portless)
    ports = portholders.tree_listeners(pid)
    assert not ports, (
        f"program {jaws_portless} (PID {pid}) has no port in the table but listens on "
        f"{sorted(ports)}")


def test_no_listener_outside_the_table(jaws_deployment):
    allowed = set(jaws_deployment.plan.ports.values())
    stray = {}
    for role in jaws_deployment.instances:
        pid = jaws_deployment.client(role).supervisor.getPID()
        for port, entries in portholders.tree_listeners(pid).items():
            if port not in allowed:
                stray[port] = sorted({owner for _addr, owner in entries})
    assert not stray, (
        f"processes of environment {jaws_deployment.env} listen outside the port table: "
        + ", ".join(f"port {p} (PID {pids})" for p, pids in sorted(stray.items())))


def test_environments_use_distinct_ports(jaws_deployment, jaws_manager):
    mine = jaws_deployment.plan.ports
    for other in jaws_manager.deployments():
        if other.env == jaws_deployment.env:
            continue
        shared = {p for p in mine.values()} & set(other.plan.ports.values())
        assert not shared, (
            f"environments {jaws_deployment.env} and {other.env} share ports {sorted(shared)}")
