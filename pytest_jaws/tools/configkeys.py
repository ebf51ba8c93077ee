"""Check generated JAWS configs against what a JAWS checkout's packages read.

Usage::

    python -m pytest_jaws.tools.configkeys <checkout> [--generated DIR ...] [--write-required FILE]

It scans the checkout's packages (:mod:`pytest_jaws.tools.configscan`: jaws_site, jaws_central and
jaws_jtm, with jaws_rpc's constructors) for every section and key each reads, then checks
configs: the files under each ``--generated`` directory (``--jaws-plan --jaws-plan-dir`` output:
every ``jaws-site.conf``, ``jaws-jtm.conf`` and ``jaws-central.conf`` in it), or, without one,
the configs pytest-jaws renders for every site of its sites file (and the fake twin of each real
site) and every environment. Each file is parsed as its package parses it (the package's
interpolation), and every required key is read with the package's getter (``getint`` must see
an integer). One line per problem; exit status 0 when there is none, 1 when there is, 2 for a
checkout without the packages. ``--write-required`` writes the required-keys data
(``jaws_required.yaml``'s shape) derived from the checkout, with its commit.
"""

from __future__ import annotations

import argparse
import configparser
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from .configreads import PackageReads
from .configscan import library_consumers, scan_package

#: The packages that read a configuration file: ``{checkout directory: (package, config kind)}``.
PACKAGES = {"site": ("jaws_site", "jaws-site"), "central": ("jaws_central", "jaws-central"),
            "jtm": ("jaws_jtm", "jaws-jtm")}
#: The library whose classes demand keys of the sections passed to them.
LIBRARY = ("rpc", "jaws_rpc")
#: The file name of each config kind.
FILE_NAMES = {"jaws-site.conf": "jaws-site", "jaws-jtm.conf": "jaws-jtm",
              "jaws-central.conf": "jaws-central"}


class CheckoutError(Exception):
    """The checkout lacks a package directory (names it)."""


def scan_checkout(checkout: Path) -> dict[str, PackageReads]:
    """Return what each config-reading package of ``checkout`` reads: ``{kind: reads}``.

    :raises CheckoutError: naming a missing package directory.
    """
    lib = Path(checkout) / LIBRARY[0] / LIBRARY[1]
    for path in [lib] + [Path(checkout) / d / p for d, (p, _k) in PACKAGES.items()]:
        if not path.is_dir():
            raise CheckoutError(f"{checkout} has no {path.relative_to(checkout)}/ package "
                                "directory: is it a JAWS checkout?")
    consumers = library_consumers(lib)
    return {kind: scan_package(Path(checkout) / d / pkg, consumers)
            for d, (pkg, kind) in PACKAGES.items()}


def commit_of(checkout: Path) -> str:
    """Return the checkout's commit (``git rev-parse HEAD``), or ``unknown``.

    ``unknown`` outside git, and for a directory inside another repository (the commit would
    be that repository's).
    """
    try:
        out = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--show-toplevel", "HEAD"],  # noqa: S607
            capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if len(out) != 2 or Path(out[0]).resolve() != Path(checkout).resolve():
        return "unknown"
    return out[1]


def required_data(checkout: Path) -> dict:
    """Return the required-keys data derived from ``checkout`` (``jaws_required.yaml``'s shape).

    ``{"jaws_commit": <commit>, <kind>: {"source", "interpolation", "sections": {section:
    {key: type}}, "read_at": {(section, key): "<file>:<line>"}}}``; a section with no key
    (``{}``) must exist. ``read_at`` (where the checkout first reads each key, relative to the
    checkout) is not written into the data file.
    """
    scans = scan_checkout(checkout)
    out: dict = {"jaws_commit": commit_of(checkout)}
    for d, (pkg, kind) in PACKAGES.items():
        reads = scans[kind]
        read_at: dict[tuple[str, str | None], str] = {}
        for read in reads.reads:
            read_at.setdefault((read.section, read.key), f"{d}/{read.where}")
        out[kind] = {"source": f"{d}/{pkg}/ (scanned by pytest_jaws.tools.configscan)",
                     "interpolation": reads.interpolation or "basic",
                     "sections": reads.required(), "read_at": read_at}
    return out


def _parser(interpolation: str) -> configparser.ConfigParser:
    return configparser.ConfigParser(
        interpolation=configparser.ExtendedInterpolation() if interpolation == "extended"
        else configparser.BasicInterpolation())


def check_text(text: str, spec: dict, label: str) -> list[str]:
    """Return the problems of one config file's ``text`` against its ``spec``.

    :param spec: one kind of the required-keys data (``interpolation``, ``sections``).
    :param label: names the file in each problem.
    """
    parser = _parser(spec["interpolation"])
    try:
        parser.read_string(text, source=label)
    except configparser.Error as exc:
        return [f"{label}: does not parse as its package parses it: {exc}"]
    problems = []
    for section, keys in spec["sections"].items():
        names = [s for s in parser.sections() if s.startswith(section[:-1])] \
            if section.endswith("*") else [section]
        if not names or not all(parser.has_section(n) for n in names):
            problems.append(f"{label}: missing section [{section}]")
            continue
        for name in names:
            for key, type_ in (keys or {}).items():
                where = spec.get("read_at", {}).get((section, key))
                problems += [f"{p} (read at {where})" if where else p
                             for p in _check_key(parser, name, key, type_, label)]
    return problems


def _check_key(parser: configparser.ConfigParser, section: str, key: str, type_: str,
               label: str) -> list[str]:
    if not parser.has_option(section, key):
        return [f"{label}: missing [{section}] {key}"]
    getters: dict[str, Callable[[str, str], object]] = {
        "int": parser.getint, "float": parser.getfloat, "boolean": parser.getboolean}
    try:
        getters.get(type_, parser.get)(section, key)
    except configparser.Error as exc:
        return [f"{label}: [{section}] {key} does not resolve: {exc}"]
    except ValueError as exc:
        return [f"{label}: [{section}] {key} is not a {type_}: {exc}"]
    return []


def generated_files(directory: Path) -> Iterator[tuple[str, str, str]]:
    """Yield ``(path, kind, text)`` for every JAWS config file under ``directory``."""
    for path in sorted(Path(directory).rglob("*.conf")):
        kind = FILE_NAMES.get(path.name)
        if kind and path.is_file() and not path.is_symlink():
            yield str(path), kind, path.read_text()


def rendered_configs(sites_file: Path | None = None) -> Iterator[tuple[str, str, str]]:
    """Yield ``(label, kind, text)`` for every config pytest-jaws renders.

    Every site of the sites file (the packaged one by default) and the fake twin of each real
    site, every environment; secrets are placeholders.
    """
    from ..plan.plan import make_plan
    from ..render.jawsconf import render_configs
    from ..sites.sites import PACKAGED_SITES_FILE, load_sites
    from ..sites.twin import fake_twin

    model = load_sites(sites_file or PACKAGED_SITES_FILE)
    with tempfile.TemporaryDirectory(prefix="pytest-jaws-configkeys-") as tmp:
        cases = [(name, model, name) for name in model.sites]
        cases += [(f"{name} (fake twin)", fake_twin(model, name)[0], name)
                  for name, site in model.sites.items() if not site.fake]
        for label, current, name in cases:
            site = current.sites[name]
            for env in current.ports:
                base = Path(site.install_base) if site.install_base else Path(tmp)
                plan = make_plan(current, name, env, base, current_user="gitlab-runner")
                secrets = dict.fromkeys(plan.secrets, "placeholder-secret-value")
                for path, (text, _role, _mode) in render_configs(plan, secrets).items():
                    kind = FILE_NAMES.get(Path(path).name)
                    if kind:
                        yield f"{label} {env}: {path}", kind, text


def check(required: dict, configs: Iterator[tuple[str, str, str]]) -> tuple[int, list[str]]:
    """Return ``(files checked, problems)`` of ``configs`` against ``required``."""
    count, problems = 0, []
    for label, kind, text in configs:
        count += 1
        problems += check_text(text, required[kind], label)
    return count, problems


def main(argv: list[str] | None = None) -> int:
    """Run the command line (see the module docstring); return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pytest_jaws.tools.configkeys",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a JAWS checkout (JGI-Bioinformatics/jaws)")
    parser.add_argument("--generated", type=Path, action="append", default=[],
                        help="a directory of generated files (--jaws-plan-dir); repeatable")
    parser.add_argument("--sites-file", type=Path, help="the sites file to render from")
    parser.add_argument("--write-required", type=Path,
                        help="write the required-keys data derived from the checkout here")
    args = parser.parse_args(argv)
    try:
        required = required_data(args.checkout)
    except (CheckoutError, SyntaxError) as exc:
        print(f"configkeys: {exc}", file=sys.stderr)
        return 2
    if args.write_required:
        args.write_required.write_text(
            "# The sections and keys each JAWS package reads from its configuration file, as\n"
            "# data: {kind: {source, interpolation, sections: {section: {key: type}}}} (type:\n"
            "# the getter, str/int/float/boolean; a section with no key must exist). Derived\n"
            "# from the JAWS commit below by `python -m pytest_jaws.tools.configkeys <checkout>\n"
            "# --write-required`; pytest-jaws generates the files (jawsconf.py) and\n"
            "# tests/test_jaws_configs.py checks every generated file against it.\n"
            + yaml.safe_dump({k: {f: v for f, v in spec.items() if f != "read_at"}
                              if isinstance(spec, dict) else spec
                              for k, spec in required.items()}, sort_keys=False, width=100))
    sources = [f for d in args.generated for f in generated_files(d)] if args.generated \
        else rendered_configs(args.sites_file)
    count, problems = check(required, iter(sources))
    for line in problems:
        print(line)
    commit = required["jaws_commit"][:8]
    print(f"configkeys: {count} config files checked against JAWS {commit}: "
          f"{len(problems) or 'no'} missing or unreadable key(s)")
    return 1 if problems or not count else 0


if __name__ == "__main__":
    sys.exit(main())
