"""How a run-started server process is started: the executor, its environment, its failure.

A mirakuru ``TCPExecutor`` (:class:`Server`) that runs a server with only the environment it is
given (marked with :data:`SERVERS_VARIABLE`), waits for its port and lets go of it;
:func:`run_server` turns its failure into a :class:`~pytest_jaws.errors.DependencyError` that
quotes the server's logs. Shared by :mod:`pytest_jaws.deploy.mariadbstart` and
:mod:`pytest_jaws.deploy.rabbitstart`; :mod:`pytest_jaws.deploy.runservers` finds and ends the
processes by the marker.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import psutil
from mirakuru import TCPExecutor
from mirakuru.exceptions import ProcessExitedWithError

from ..errors import DependencyError
from ..host import processes
from ..plan.serverplan import ServersPlan

#: The variable that marks every process of the run-started servers (value: the deployment
#: marker, :data:`pytest_jaws.plan.plan.MARKER_VARIABLE`'s value).
SERVERS_VARIABLE = "JAWS_RUN_SERVERS"
#: Seconds a server may take to accept connections.
START_TIMEOUT = 120.0
#: PATH of the server processes (the caller's PATH is never passed on).
SERVER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Server(TCPExecutor):
    """A mirakuru TCP executor whose process gets only the given environment.

    Not the caller's; and a marker of its own instead of mirakuru's ``mirakuru_uuid``
    starting with this PID, so that mirakuru's exit handler in the process that started it (an
    xdist worker ends before the run does) does not kill it;
    :func:`pytest_jaws.deploy.runservers.stop` ends it by PID.
    """

    def __init__(self, command: list[str], port: int, envvars: dict[str, str],
                 console: Path | None = None, timeout: float = START_TIMEOUT):
        """Run ``command`` (no shell) with only ``envvars``, waiting for 127.0.0.1:``port``.

        :param console: the file (created 0600, never followed if a link) that gets the
            process's standard output and error (what it says before its own log is set up);
            discarded when ``None``.
        :param timeout: seconds the port may take to open before the process is killed.
        """
        self._console = console
        super().__init__(command, host="127.0.0.1", port=port, timeout=timeout,
                         envvars=envvars, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._uuid = f"pytest-jaws:{uuid.uuid4()}"

    @property
    def envvars(self) -> dict[str, str]:
        """Only the given variables and the executor's marker."""
        return dict(self._envvars, mirakuru_uuid=self._uuid)

    def check_subprocess(self) -> bool:
        """Fail at once when the server's process has ended, with any exit status.

        mirakuru waits out its whole timeout for a process that exits 0; RabbitMQ's start
        script exits 0 when its Erlang VM fails to boot (``wait ... || true``), and a server
        that has ended never opens its port.

        :raises mirakuru.exceptions.ProcessExitedWithError: the process has ended.
        """
        if self.process is not None and (code := self.process.poll()) is not None:
            self._kill_all_kids(self._kill_signal)
            self._clear_process()
            raise ProcessExitedWithError(self, code)
        return super().check_subprocess()

    def processes(self) -> list[psutil.Process]:
        """Return the live processes this executor started (its own marker in their environment)."""
        return processes.with_variable("mirakuru_uuid", self._uuid)

    def end(self, timeout: float) -> list[psutil.Process]:
        """End every process this executor started, by PID: SIGTERM, SIGKILL after ``timeout`` s.

        :returns: the processes still alive afterwards (normally none).
        """
        return processes.terminate(self.processes(), timeout)

    def start_detached(self) -> None:
        """Start and wait for the port, then let go of the process.

        mirakuru kills an executor's process when the executor object is collected; the
        servers outlive it (until :func:`pytest_jaws.deploy.runservers.stop`).
        """
        output = None
        if self._console is not None:
            output = os.open(self._console,
                             os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            self._stdout = self._stderr = output
        try:
            self.start()
        finally:
            self.process = None
            if output is not None:
                os.close(output)  # the process has its own copy


def server_env(plan: ServersPlan, **more: str) -> dict[str, str]:
    """Return the whole environment of a server process of ``plan``, with ``more`` added."""
    return {"PATH": SERVER_PATH, "LANG": "C.UTF-8", SERVERS_VARIABLE: plan.marker,
            "HOME": str(plan.directory), **more}


def run_server(server: Server, name: str, log: Path, console: Path | None = None) -> None:
    """Start ``server`` and wait for its port.

    :param log: its log file, or the directory of its ``*.log`` files.
    :param console: the file of its standard output and error, if it has one.
    :raises DependencyError: naming the server, its port, mirakuru's reason and the error
        lines and tail of its logs.
    """
    try:
        server.start_detached()
    except Exception as exc:  # noqa: BLE001 - mirakuru's timeout or the process's exit
        tail = ""
        logs = sorted(log.glob("*.log")) if log.is_dir() else [log]
        logs += [console] if console is not None else []
        for path in logs:
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            # its errors first (RabbitMQ logs many lines while it stops), then the last lines
            errors = [ln for ln in lines if "[error]" in ln.lower() or "error" in ln[:60].lower()]
            tail += " | ".join(errors[-5:] + lines[-3:])
        why = (f"it exited with status {exc.exit_code} before it opened the port"
               if isinstance(exc, ProcessExitedWithError) else str(exc))
        raise DependencyError(f"the run-started {name} did not accept connections on "
                              f"127.0.0.1:{server.port} ({why}); its log: {tail or 'empty'}") \
            from None

