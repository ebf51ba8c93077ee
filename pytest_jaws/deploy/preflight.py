"""Pre-flight of a deployment's ports: every port the environment needs is free.

Checked before anything is written or started (:func:`pytest_jaws.deploy.deploy.apply`); a port that
something else holds fails the environment naming the port, the service and the holder.
"""

from __future__ import annotations

import os

from ..errors import PortBusyError
from ..host import ephemeral, portholders, socktable
from ..host.supervisor import role_uid
from ..plan.planmodel import EnvironmentPlan


def _reused_ports(plan: EnvironmentPlan, roles: set[str]) -> set[int]:
    """Return the ports of the running instances in ``roles`` held by their role users.

    Their listeners (the instance's and its programs') are hidden from a run without root, but
    their sockets belong to the role user: they are that instance's, whose PID was verified
    over XML-RPC (adopt.find_live).
    """
    out = set()
    for role in roles:
        inst = plan.instances[role]
        ports = [inst.port, *(p.port for p in inst.programs if p.port is not None)]
        out |= {port for port in ports if socktable.listener_uids(port) == {role_uid(inst)}}
    return out


def preflight(plan: EnvironmentPlan, ignore_pids: frozenset[int] | set[int] = frozenset(),
              reused: frozenset[str] | set[str] = frozenset()) -> None:
    """Check that every port the environment needs is free.

    Free, or held by ``ignore_pids`` (the processes of this deployment that are being reused)
    or, run without root, by hidden listeners of the role users of the ``reused`` instances:
    no socket in any state is bound to it, listening or not
    (:func:`pytest_jaws.host.portholders.port_users`). A holder is named by PID, user and command
    line; its marker is trusted only from the runner's or a role user's process.

    :raises PortBusyError: naming the port, the service that needs it and its holder, and what
        to do: a holder that is not the runner's own (another user's process or deployment, a
        live run's) is said to be someone else's first, and only ``--jaws-port-offset=auto``
        is offered; ``--jaws-down`` only for a deployment of the runner's that a run left up
        (:meth:`pytest_jaws.host.portholders.Holder.is_yours`).
    """
    busy: list[str] = []
    hints: dict[str, None] = {}  # one line per deployment of yours left up, in order
    yours = True
    bind = next(iter(plan.instances.values())).bind
    hidden_ok = _reused_ports(plan, set(reused)) if os.geteuid() != 0 else set()
    # a holder's marker counts only from the runner's and the role users' processes
    trusted = {role_uid(inst) for inst in plan.instances.values()}
    for name, port in plan.ports.items():
        users = [h for h in portholders.port_users(port, bind, trusted) if h.pid not in ignore_pids
                 and not (h.pid is None and port in hidden_ok)]
        if not users:
            continue
        mine = all(h.is_yours() for h in users)
        yours = yours and mine
        hints.update(dict.fromkeys(filter(None, (h.left_up_hint() for h in users))))
        held = ("is already in use by " if mine else
                "is held by someone else, not by a deployment of yours left up: ")
        busy.append(f"port {port} needed by {name} (environment {plan.env}) {held}"
                    + "; and by ".join(h.describe() for h in users[:3]) + ephemeral.hint(port))
    if busy:
        busy += list(hints)
        mend = "reuse or take down your deployment as above" if hints else "stop that process"
        what = (f"{mend}, or deploy on ports nobody uses with --jaws-port-offset=auto" if yours
                else "deploy on ports nobody uses: add --jaws-port-offset=auto")
        raise PortBusyError("pre-flight failed: " + "\n  ".join(busy)
                            + f"\nnothing was started; {what}")
