"""Running a command as a role user, and proving first that the user switch works.

A site's ``become`` command (``runuser -u {user} --``, ``sudo -n -u {user} -i``,
``collabsu {user}``) may fail, or ask for a password. The harness has no terminal to answer
one: every command here runs with stdin closed and in a new session (no controlling
terminal, so nothing can open ``/dev/tty`` to prompt), so a prompting switch fails at once
instead of waiting. :func:`prove` runs ``id -un`` through the switch and checks that it
printed the role user; a check that runs something "as the jtm user" proves the switch first
and fails with ``could not become <user>: <reason>`` instead of passing because the switch
failed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Sequence

from ..errors import SwitchError
from ..keys import mask
from ..plan.plan import ROLE_PATH

#: Seconds a user switch may take to answer ``id -un`` (a prompting one fails at once: it has
#: no terminal and no stdin; this bounds one that hangs some other way).
SWITCH_TIMEOUT = 5.0

#: Successful proofs of this process: ``(become argv, user)``.
_proven: set[tuple[tuple[str, ...], str]] = set()


def minimal_env() -> dict[str, str]:
    """Return the environment of a command run as a role user: PATH and LANG only.

    The harness's own may hold CI secrets.
    """
    return {"PATH": ROLE_PATH, "LANG": "C.UTF-8"}


def run_as(become: Sequence[str], argv: Sequence[str], timeout: float = 10.0,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``[*become, *argv]`` with stdin closed, in a new session (no terminal).

    With :func:`minimal_env` unless ``env`` is given; the whole session is ended, by its process
    group id, when it outlives ``timeout`` (seconds).

    :returns: the completed process (text output).
    :raises subprocess.TimeoutExpired: after ending the process group.
    :raises OSError: when the first word cannot be run at all.
    """
    full = [*become, *argv]
    full[0] = shutil.which(full[0], path=ROLE_PATH + os.pathsep + os.environ.get("PATH", "")) \
        or full[0]
    proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=env if env is not None else minimal_env())
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this call started, by its id
        except ProcessLookupError:
            pass
        proc.communicate()
        raise
    return subprocess.CompletedProcess(full, proc.returncode, out, err)


def prove(become: Sequence[str], user: str, timeout: float = SWITCH_TIMEOUT) -> None:
    """Prove that ``become`` makes a command run as ``user``: ``id -un`` through it must print it.

    Remembered per process once it worked.

    :param become: the argv prefix (empty: the current user).
    :param user: the user the switch must give.
    :param timeout: seconds the switch may take.
    :raises SwitchError: ``could not become <user>: <reason>`` - the command is missing, exited
        non-zero (its last line of output, keys masked), asked for a password, did not answer
        within ``timeout``, or printed another user.
    """
    key = (tuple(become), user)
    if key in _proven:
        return
    shown = shlex.join([*become, "id", "-un"])
    try:
        done = run_as(become, ["id", "-un"], timeout)
    except subprocess.TimeoutExpired:
        raise SwitchError(f"could not become {user}: '{shown}' did not answer within "
                          f"{timeout:g} s (waiting for a password? the harness has no terminal "
                          "and no stdin to give one)") from None
    except OSError as exc:
        raise SwitchError(f"could not become {user}: '{shown}' cannot run: "
                          f"{exc.strerror or exc}") from None
    got = done.stdout.strip()
    if done.returncode != 0:
        last = mask((done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1])
        raise SwitchError(f"could not become {user}: '{shown}' exited {done.returncode}: "
                          f"{last[:240]} (a switch that asks for a password fails here: the "
                          "harness has no terminal and no stdin)")
    if got != user:
        raise SwitchError(f"could not become {user}: '{shown}' printed {got[:80]!r}, not "
                          f"{user!r}")
    _proven.add(key)
