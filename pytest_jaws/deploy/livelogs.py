"""Where a live supervisord really writes its logs, and how its programs really ended.

An instance the harness started writes where its plan says. An adopted one (started by
JAWS's own scripts or by an operator) keeps the configuration it was started with: its own
log is where that file's ``[supervisord] logfile=`` says (JAWS: ``jaws-log`` and
``cwl-backend-log`` in the supervisor directory, JGI-Bioinformatics/jaws
``test/integration/deploy-supervisord``), and its programs' logs are where supervisord itself
reports them over XML-RPC (``stdout_logfile`` / ``stderr_logfile`` of ``getProcessInfo``: the
configured file, or the AUTO child log it made in ``childlogdir``).

Everything here reads files a role user controls through :mod:`pytest_jaws.host.saferead` (no
link followed, byte limits), and never raises for a file that is missing: callers say so.

A log path that a role's process names (the ``logfile=`` of the file its ``-c`` argument
names, the log paths its supervisord reports) is the role user's choice: it is used only when
it is a regular file of that user (:func:`role_file`), else the plan's path is. So root never
reads, say, ``/etc/shadow`` into a failure section because a role's configuration names it.
(The configuration itself is read bounded and without links, and only its ``logfile=`` used.)
"""

from __future__ import annotations

import configparser
import os
import stat
from pathlib import Path

import psutil

from ..errors import UnsafePathError
from ..host.saferead import read_text
from ..host.supervisor import role_uid
from .logtail import recorded_exit
from .result import Deployment

#: Most bytes read of a supervisord configuration file.
CONF_BYTES = 1 << 20


def started_conf(pid: int | None) -> Path | None:
    """Return the configuration file a supervisord was started with (its ``-c``), or None.

    None when the process is gone, hidden from this run, or named no file.
    """
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        argv, cwd = proc.cmdline(), proc.cwd()
    except (psutil.Error, OSError):
        return None
    for flag in ("-c", "--configuration"):
        if flag in argv[:-1]:
            path = Path(argv[argv.index(flag) + 1])
            return path if path.is_absolute() else Path(cwd) / path
    for arg in argv:
        if arg.startswith("--configuration="):
            return Path(arg.split("=", 1)[1])
    return None


def conf_logfile(conf: Path) -> Path | None:
    """Return the ``[supervisord] logfile=`` of a configuration file, or None.

    Read with supervisor's own parser (``%(here)s`` expanded); None when the file cannot be
    read safely, names no absolute log file, or logs to syslog.
    """
    from supervisor.options import UnhosedConfigParser
    try:
        text = read_text(conf, CONF_BYTES)
    except UnsafePathError:
        return None
    if not text:
        return None
    parser = UnhosedConfigParser()
    try:
        parser.read_string(text)
        parser.expand_here(str(conf.parent))
        value = parser.saneget("supervisord", "logfile", default=None)
    except (configparser.Error, ValueError, KeyError):
        return None
    if not value or value.upper() == "SYSLOG" or not Path(value).is_absolute():
        return None
    return Path(value)


def role_file(path: Path | None, uid: int) -> bool:
    """Tell whether ``path`` is a regular file (not a link) that user ``uid`` owns."""
    if path is None:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == uid


def instance_log(dep: Deployment, role: str) -> Path:
    """Return the supervisord log of ``role``'s instance as it really is.

    The plan's for an instance this run started or reused; for an adopted one, the log its own
    configuration names (the plan's when that cannot be read).
    """
    inst = dep.plan.instances[role]
    pid = dep.adopted.get(role)
    if pid:
        uid = role_uid(inst)  # the role's own files only (see the module docstring)
        conf = started_conf(pid)
        found = conf_logfile(conf) if conf else None  # only its logfile= is used
        if found and role_file(found, uid):
            return found
    return inst.logfile


def program_logs(dep: Deployment, name: str, info: dict | None = None) -> tuple[Path, Path]:
    """Return ``(stderr log, stdout log)`` of a program, where supervisord writes them.

    From ``info`` (a ``getProcessInfo`` answer, as supervisord reports the paths: AUTO child
    logs included) when they are the plan's or files of the role user (:func:`role_file`); the
    plan's paths otherwise. A program whose stderr goes to its stdout (``redirect_stderr``) has
    its stdout log twice.
    """
    prog = dep.plan.programs[name]
    out = (info or {}).get("stdout_logfile") or ""
    err = (info or {}).get("stderr_logfile") or ""
    if not out and not err:
        return prog.stderr_log, prog.stdout_log
    uid = role_uid(dep.plan.instances[prog.instance])

    def reported(value: str, planned: Path) -> bool:  # the role's supervisord names it
        return bool(value) and value != "/dev/null" and (
            Path(value) == planned or role_file(Path(value), uid))
    stdout = Path(out) if reported(out, prog.stdout_log) else prog.stdout_log
    if not err or err == "/dev/null":
        return stdout, stdout
    return (Path(err) if reported(err, prog.stderr_log) else prog.stderr_log), stdout


def how_ended(dep: Deployment, role: str, info: dict) -> str:
    """Return how a program last ended: ``exit status 1``, ``terminated by SIGKILL``, ``running``.

    From the line supervisord wrote in its own log (``exited: jtm (exit status 1; not
    expected)``, ``exited: cromwell (terminated by SIGKILL; not expected)``): its XML-RPC says
    exit status 0 for a program that exited too quickly and -1 for one ended by a signal.
    When the log does not say, the XML-RPC status, or that it was not recorded.
    """
    if info.get("statename") in ("RUNNING", "STARTING"):
        return "running"
    logfile = instance_log(dep, role)
    how = recorded_exit(logfile, info["name"])
    if how:
        return how
    status = info.get("exitstatus")
    if status and status > 0:
        return f"exit status {status}"
    if info.get("statename") in ("STOPPED",) or not info.get("stop"):
        return f"exit status {status or 0}"
    return f"exit status not recorded (supervisord's log {logfile} does not say)"


def missing_note(path: Path, what: str) -> str:
    """Return the text that stands for a log the deployment did not write.

    ``(not written: <path> does not exist; <what>)``.
    """
    return f"(not written: {path} does not exist; {what})"


def log_or_note(path: Path, text: str, what: str) -> str:
    """Return ``text``, or when empty what is known of the file: missing, or empty."""
    if text:
        return text
    try:
        exists = path.exists()
    except OSError:
        exists = False
    return "(empty)" if exists else missing_note(path, what)
