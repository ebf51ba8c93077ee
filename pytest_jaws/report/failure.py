"""What a failed test shows: the "jaws deployment" section, and its report masked.

The section (:func:`failure_section`): the state table, the log tails of the programs involved
and of each supervisord; :func:`add_failure_section` attaches it to a failed test's report,
:func:`mask_report` masks keys and escapes control sequences in a report
(:func:`pytest_jaws.keys.mask`, :func:`pytest_jaws.host.printable.printable`: a role user's log
lines, another user's command line are shown escaped, not obeyed).
"""

from __future__ import annotations

from ..deploy.livelogs import instance_log, log_or_note, program_logs
from ..deploy.logtail import log_tail
from ..deploy.result import Deployment
from ..host.printable import printable
from ..keys import mask
from .tables import state_table

#: Lines of each log shown for a program involved in a failure.
INVOLVED_LINES = 50
#: Lines of each supervisord log in a failure section.
SUPERVISORD_LINES = 30


def mask_report(rep):
    """Return the test report with keys masked and control sequences escaped.

    In its longrepr and its sections (:func:`pytest_jaws.host.printable.printable`: an error message
    that names another user's command line or path shows its escape sequences, never runs them).
    """
    if rep.longrepr is not None and not isinstance(rep.longrepr, tuple):
        text = str(rep.longrepr)
        masked = printable(mask(text))
        if masked != text:
            rep.longrepr = masked
    rep.sections = [(title, printable(mask(content))) for title, content in rep.sections]
    return rep


def involved_programs(dep: Deployment, snapshot: dict, named: list[str]) -> list[str]:
    """Return the programs a failure is about.

    Those the test is parametrized with, those whose start failed the deployment, plus every
    program that is not RUNNING.
    """
    out = list(dict.fromkeys(n for n in [*named, *dep.failed_start] if n in dep.plan.programs))
    for infos in snapshot.values():
        if isinstance(infos, list):
            out += [i["name"] for i in infos if i["statename"] != "RUNNING" and i["name"] not in out]
    return out


def failure_section(dep: Deployment, named: list[str], snapshot: dict | None = None) -> str:
    """Return the "jaws deployment" section: state table, log tails, supervisord log tails.

    The log tails of the programs involved, and the tail of each supervisord log (keys masked,
    terminal control sequences escaped: :func:`pytest_jaws.host.printable.printable`).
    """
    snapshot = snapshot if snapshot is not None else dep.snapshot()
    parts = [f"environment {dep.env} of site {dep.plan.site} at {dep.plan.directory}", "",
             *state_table(dep, snapshot)]
    infos = {i["name"]: i for found in snapshot.values() if isinstance(found, list)
             for i in found}
    for name in involved_programs(dep, snapshot, named):
        stderr, stdout = program_logs(dep, name, infos.get(name))
        for label, path in dict.fromkeys([("stderr", stderr), ("stdout", stdout)]):
            if label == "stdout" and path == stderr:
                continue  # stderr goes to stdout (redirect_stderr): shown once
            parts += ["", f"--- {name} {label}: last {INVOLVED_LINES} lines of {path} ---",
                      log_or_note(path, log_tail(path, INVOLVED_LINES),
                                  "supervisord reports this log for the program")]
    for role, inst in dep.plan.instances.items():
        logfile = instance_log(dep, role)
        parts += ["", f"--- {inst.name}: last {SUPERVISORD_LINES} lines of {logfile} ---",
                  log_or_note(logfile, log_tail(logfile, SUPERVISORD_LINES),
                              "the instance's configuration names it")]
    return printable(mask("\n".join(parts)))


def add_failure_section(rep, text: str) -> None:
    """Attach ``text`` to a failed report as section "jaws deployment".

    Inside the longrepr (terminal and JUnit ``<failure>``/``<error>``) and in ``rep.sections``
    for ``-rA``. Control sequences in ``text`` are escaped.
    """
    text = printable(text)
    longrepr = rep.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection("jaws deployment", text)
    elif isinstance(longrepr, str):
        rep.longrepr = f"{longrepr}\n{'-' * 30} jaws deployment {'-' * 30}\n{text}"


