"""Read a JAWS INI configuration as the package reads it, and refuse it as the package does."""

from __future__ import annotations

import configparser
import os


def load(path: str, required: dict, defaults: dict | None = None,
         site_keys: tuple[str, ...] = ()) -> configparser.ConfigParser:
    """Parse ``path`` as JAWS's Configuration classes do, and refuse it as they do.

    As site/jaws_site/config.py and central/jaws_central/config.py: ``ConfigParser()`` (the
    default interpolation), ``read_dict(defaults)`` then the file; every key of ``required``
    (``{section: [keys]}``, their ``required_params``) and, in every ``[SITE:<ID>]`` section,
    every key of ``site_keys`` (central's ``required_site_params``) must be there.

    :raises FileNotFoundError: ``<path> does not exist``.
    :raises configparser.Error: the file does not parse.
    :raises ValueError: ``Config file, <path>, missing required section, <S>`` or
        ``... missing required parameter, <S>/<key>``: the text JAWS raises.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist")
    parser = configparser.ConfigParser()
    parser.read_dict(defaults or {})
    parser.read(path)
    for section, keys in required.items():
        if section not in parser:
            raise ValueError(f"Config file, {path}, missing required section, {section}")
        for key in keys:
            if key not in parser[section]:
                raise ValueError(f"Config file, {path}, missing required parameter, "
                                 f"{section}/{key}")
    for section in (s for s in parser.sections() if s.startswith("SITE:")):
        for key in site_keys:
            if key not in parser[section]:
                raise ValueError(f"Config file, {path}, missing required parameter, "
                                 f"{section}/{key}")
    return parser


def log(path: str | None, program: str, message: str) -> None:
    """Write ``message`` to stdout and append it to the ``--log`` file (as JAWS's logger)."""
    print(f"{program}: {message}", flush=True)
    if path:
        with open(path, "a") as fh:
            fh.write(f"{program}: {message}\n")
