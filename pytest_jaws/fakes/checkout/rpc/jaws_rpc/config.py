"""Read a JAWS INI configuration as the package reads it, and refuse it as the package does."""

from __future__ import annotations

import configparser
import os
import sys


def load(path: str, required: dict, extended: bool = False,
         program: str = "jaws") -> configparser.ConfigParser:
    """Parse ``path`` and check it holds ``required`` (``{section: [keys]}``).

    ``ExtendedInterpolation`` when ``extended``, like jtm; else the default interpolation, like
    jaws_site and jaws_central. A section ``"SITE:*"`` in ``required`` applies to every
    ``[SITE:...]``.

    Exits with status 1 and the message the JAWS package logs when the file is missing or a
    section or key is, as the real service does at start.
    """
    if not os.path.isfile(path):
        sys.exit(f"{program}: {path} does not exist")
    parser = configparser.ConfigParser(
        interpolation=configparser.ExtendedInterpolation() if extended else
        configparser.BasicInterpolation())
    try:
        parser.read(path)
    except configparser.Error as exc:
        sys.exit(f"{program}: Unable to load config file {path}: {exc}")
    for section, keys in required.items():
        names = [s for s in parser.sections() if s.startswith("SITE:")] \
            if section == "SITE:*" else [section]
        for name in names:
            if name not in parser:
                sys.exit(f"{program}: Config file, {path}, missing required section, {name}")
            for key in keys:
                if key not in parser[name]:
                    sys.exit(f"{program}: Config file, {path}, missing required parameter, "
                             f"{name}/{key}")
    return parser


def log(path: str | None, program: str, message: str) -> None:
    """Write ``message`` to stdout and append it to the ``--log`` file (as JAWS's logger)."""
    print(f"{program}: {message}", flush=True)
    if path:
        with open(path, "a") as fh:
            fh.write(f"{program}: {message}\n")
