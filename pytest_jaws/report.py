"""What a person reads: state tables, log tails and the end-of-run summary (keys masked)."""

from __future__ import annotations

import time

import pytest

from .keys import mask

#: Stash key for ``(teardown seconds, [error messages])`` of the run.
TEARDOWN = pytest.StashKey[tuple]()


def mask_report(rep):
    """Return the test report with keys masked in its longrepr and its sections."""
    if rep.longrepr is not None:
        text = str(rep.longrepr)
        masked = mask(text)
        if masked != text:
            rep.longrepr = masked
    rep.sections = [(title, mask(content)) for title, content in rep.sections]
    return rep


def _uptime(info: dict) -> str:
    if info.get("statename") != "RUNNING" or not info.get("start"):
        return "-"
    return f"{max(0, int(time.time()) - int(info['start']))}s"


def state_table(dep) -> list[str]:
    """Rows ``instance program state pid uptime exit spawnerr`` for both instances, read live.

    An instance that does not answer gets one row saying why.
    """
    rows = [f"{'instance':<18} {'program':<14} {'state':<9} {'pid':>7} {'uptime':>7} "
            f"{'exit':>4}  spawn error"]
    for role, inst in dep.plan.instances.items():
        try:
            infos = dep.client(role, timeout=3.0).supervisor.getAllProcessInfo()
        except Exception as exc:  # noqa: BLE001 - the row says why
            rows.append(f"{inst.name:<18} {'-':<14} {'?':<9} {'-':>7} {'-':>7} {'-':>4}  {exc}")
            continue
        for info in infos:
            rows.append(f"{inst.name:<18} {info['name']:<14} {info['statename']:<9} "
                        f"{info['pid'] or '-':>7} {_uptime(info):>7} {info['exitstatus']:>4}  "
                        f"{info.get('spawnerr') or ''}")
    return [mask(r) for r in rows]


def summary_lines(manager, teardown: tuple | None) -> list[str]:
    """The terminal summary: per environment, each program with port, user, time to healthy."""
    lines = []
    for env, outcome in manager.results.items():
        if isinstance(outcome, BaseException):
            first = str(outcome).splitlines()[0] if str(outcome) else type(outcome).__name__
            lines.append(f"jaws {env}: NOT DEPLOYED: {mask(first)}")
            continue
        plan = outcome.plan
        lines.append(f"jaws {env}: deployed at {plan.directory}")
        lines.append(f"  {'instance':<18} {'program':<14} {'port':>6} {'user':<10} {'healthy':>8}")
        for inst in plan.instances.values():
            lines.append(f"  {inst.name:<18} {'(supervisord)':<14} {inst.port:>6} {inst.user:<10} "
                         f"{'':>8}")
            for prog in inst.programs:
                took = outcome.healthy_after.get(prog.name)
                lines.append(f"  {inst.name:<18} {prog.name:<14} {prog.port or '-':>6} "
                             f"{inst.user:<10} {f'{took:.2f}s' if took is not None else '-':>8}")
    if teardown is not None:
        seconds, errors = teardown
        lines.append(f"jaws teardown: {seconds:.2f} s" + ("" if not errors else
                     " with errors: " + "; ".join(errors)))
    return lines
