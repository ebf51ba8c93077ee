"""``--jaws-plan``: the deployment plan as text a person reads, and as files on disk.

Shows every directory and file with its path, owner, group and mode as the runner's
privileges will make them (:mod:`pytest_jaws.host.perms`) (file contents in full, keys
masked) and every command in order with the user it runs as. Executes nothing.
"""

from __future__ import annotations

import getpass
import os
import shlex
from pathlib import Path

from ..errors import SourceError
from ..host import ephemeral, safedirs, safefs
from ..host.instance import ctl_argv, start_argv
from ..host.perms import Perm, data_dir, perm, problems
from ..install.installsteps import install_commands, wheelhouse
from ..keys import MASK
from ..plan.installspec import FAKE_CHECKOUT, check_source
from ..plan.planmodel import EnvironmentPlan
from ..render.jawsconf import render_configs
from ..render.render import render_files


def planned_directories(plan: EnvironmentPlan) -> list[tuple[Path, Perm]]:
    """Return ``(path, owner/group/mode)`` of every directory the deployment creates.

    As the runner's privileges make them (:func:`pytest_jaws.host.perms.perm`: root gives a role's
    directories to its user; a role user gives them the role's group and setgid).
    """
    out: list[tuple[Path, Perm]] = []

    def mine(path: Path) -> None:
        out.append((path, perm(plan, "", "runner", 0o755)))

    for directory in plan.directories:
        mine(directory)
        mine(directory / "bin")
    for inst in plan.instances.values():
        mine(inst.install_dir / "shims")
        mine(inst.install_dir / "configs")
        out += [(inst.state_dir, perm(plan, inst.role, "role-dir", 0o750)),
                (inst.state_dir / "logs", perm(plan, inst.role, "role-dir", 0o750))]
    out += [(path, perm(plan, role, "role-dir", 0o755)) for path, role in plan.log_dirs]
    working = {d[0] for d in plan.data_dirs}  # shown once, as data_dirs make them
    out += [(path, perm(plan, role, "role-dir", 0o750)) for path, role in plan.scratch_dirs
            if path not in working]
    out += [(path, data_dir(plan, owner, reader, mode))
            for path, owner, reader, mode, _jaws in plan.data_dirs]
    if plan.broker:
        out += [(plan.broker / f"{vhost}_{plan.env}", perm(plan, role, "role-dir", 0o700))
                for vhost, role in (("jaws", "jaws"), ("jtm", "jtm"))]
    for extra in (plan.bootstrap_venv, plan.libdir,
                  wheelhouse(plan) if plan.runtime == "venv" else None,
                  *(v.path for v in plan.venvs.values())):
        if extra is not None:
            mine(extra)
    return list(dict.fromkeys(out))


def planned_files(plan: EnvironmentPlan) -> list[tuple[Path, Perm, str]]:
    """Return ``(path, owner/group/mode, text)`` of every file, keys and secrets masked.

    Owner, group and mode as the runner's privileges make them.
    """
    keys = {name: MASK for name in plan.instances}
    configs = render_configs(plan, {name: MASK for name in plan.secrets})
    out = []
    for path, (text, role, mode) in render_files(plan, keys, configs).items():
        out.append((Path(path), perm(plan, role, "secret", mode), text))
    return out


def planned_commands(plan: EnvironmentPlan) -> list[tuple[str, str, str]]:
    """``(user, command line, why)`` in the order the deployment runs them."""
    out = [(c.user, shlex.join(c.argv), c.why) for c in install_commands(plan)]
    for inst in plan.instances.values():
        if inst.start == "operator":  # the harness never starts it: verified, then updated
            out.append((inst.user, shlex.join(start_argv(plan, inst)[len(inst.become):]),
                        f"run by an operator as {inst.user} (start: operator), never by the "
                        f"harness: {inst.name} on {inst.bind}:{inst.port}; the harness verifies "
                        "it and applies changes over XML-RPC"))
            continue
        out.append((inst.user, shlex.join(start_argv(plan, inst)),
                    f"start {inst.name} on {inst.bind}:{inst.port}"))
    for inst in plan.instances.values():
        out.append((inst.user, shlex.join([*inst.become, *ctl_argv(inst, "status")]),
                    f"check every program of {inst.name} is RUNNING"))
    return out


def _source_note(plan: EnvironmentPlan) -> str:
    if plan.fake and plan.source == FAKE_CHECKOUT:
        return " (the fake checkout)"
    try:
        check_source(plan.source)
    except SourceError:
        return (" -- NOT a JAWS checkout: a deployment needs --jaws-source PATH (or the CI "
                "checkout, $CI_PROJECT_DIR)")
    return ""


def _cromwell_note(plan: EnvironmentPlan) -> list[str]:
    c = plan.cromwell
    if c is None or c.standin or c.sha256:
        return []
    return [f"   Cromwell {c.version}: sites.yaml sets no cromwell.sha256 -- a deployment is "
            "refused until it names the release jar's checksum"]


def plan_text(plan: EnvironmentPlan, site_description: str = "") -> str:
    """Return the whole plan of one environment as text."""
    kind = "fake" if plan.fake else "real"
    lines = [f"== pytest-jaws plan: site {plan.site} ({kind}), environment {plan.env}",
             f"   {site_description}" if site_description else "",
             f"   base directory {plan.base}",
             f"   JAWS checkout {plan.source}" + _source_note(plan),
             *_cromwell_note(plan),
             f"   port table ({plan.env}): "
             + ", ".join(f"{n} {p}" for n, p in plan.port_table.items()),
             "   listening on this site: " + ", ".join(f"{n} {p}" for n, p in plan.ports.items()),
             *ephemeral.describe(plan.ports),
             "   users: " + ", ".join(
                 f"role {r} -> {i.user}" + (f" (via '{' '.join(i.become)}')" if i.become else "")
                 for r, i in plan.instances.items()),
             "   secrets (masked below) from: " + (", ".join(plan.secrets.values()) or "none")
             + (" (generated when unset: fake site)" if plan.fake else ""),
             ""]
    if plan.dependencies:
        from ..probes.dependencies import CONNECT_TIMEOUT
        from ..sites.sitevars import secret_variable
        lines += [f"-- dependency checks, before anything is written or started (connect "
                  f"timeout {CONNECT_TIMEOUT:g} s each)"]
        lines += [f"   {c.describe()}  (password ${secret_variable(plan.site, plan.env, c.secret)})"
                  for c in plan.dependencies]
        lines.append("")
    runner = "root" if os.geteuid() == 0 else f"{getpass.getuser()} (not root: no chown)"
    lines += [f"-- directories (path, owner:group, mode), as {runner} makes them"]
    lines += [f"   !! {text}" for text in problems(plan)]
    lines += [f"   {path}  {p.owner}:{p.group}  {p.mode:04o}"
              for path, p in planned_directories(plan)]
    lines += ["", "-- files (path, owner:group, mode, contents)"]
    for path, p, text in planned_files(plan):
        lines.append(f"   {path}  {p.owner}:{p.group}  {p.mode:04o}")
        lines += [f"   | {line}" for line in text.rstrip("\n").splitlines()]
    lines += ["", "-- commands, in order (user: command  # why)"]
    lines += [f"   {i}. [{user}] {cmd}  # {why}"
              for i, (user, cmd, why) in enumerate(planned_commands(plan), 1)]
    return "\n".join(line for line in lines if line is not None) + "\n"


def write_plan_files(plan: EnvironmentPlan, target: Path) -> list[Path]:
    """Write the planned files under ``target`` and return the paths written.

    Their absolute paths are re-rooted there, keys masked. Directories are created and files
    written through :mod:`pytest_jaws.host.safefs`: no link followed where another user could plant
    one, every file written atomically into a directory the user owns.

    :raises pytest_jaws.errors.UnsafePathError: naming a planted link or a foreign directory.
    """
    written = []
    safedirs.make_dirs(Path(target).absolute())
    safedirs.check_output_dir(Path(target).absolute())
    for path, p, text in planned_files(plan):
        dest = Path(target).absolute() / path.relative_to(path.anchor)
        safedirs.make_dirs(dest.parent)
        safefs.write_file(dest, text, p.mode & 0o777, parent_owned=True)
        written.append(dest)
    return written
