"""The sites file: read and validated into its model (:class:`SitesFile`, :class:`Site`).

Every error is a :class:`SitesError` whose message names the file and the key path of the
problem (``sites.local.roles.jtm.usr``) and what was expected; the plugin turns it into a
``pytest.UsageError`` before anything is deployed. The model is in :mod:`pytest_jaws.sites.siteschema`
(its parts in :mod:`pytest_jaws.sites.sitemodel`, :mod:`pytest_jaws.sites.sitedeps` and
:mod:`pytest_jaws.sites.siteconf`), the checks across keys in :mod:`pytest_jaws.sites.sitecheck`.

Facts in the shipped ``sites.yaml`` come from the JAWS deployment docs (shared DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import SitesError
from .sitecheck import cross_check
from .siteschema import Site, SitesFile

#: Site and SitesFile are taken from here too (their home is :mod:`pytest_jaws.sites.siteschema`).
__all__ = ["FAST_SAFE_LOADER", "PACKAGED_SITES_FILE", "Site", "SitesFile", "find_sites_file",
           "load_sites", "parse_sites", "validate_sites"]

#: The sites file shipped inside the package, used when the rootdir has none.
PACKAGED_SITES_FILE: Path = Path(__file__).with_name("sites.yaml")


#: PyYAML's SafeLoader with libyaml's parser where PyYAML was built with it (several times
#: faster on sites.yaml; the same documents, the same marks), else the pure-Python one.
FAST_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(FAST_SAFE_LOADER):  # type: ignore[misc,valid-type]
    """SafeLoader that refuses a key repeated in one mapping (YAML would keep the last).

    Merge keys (``<<: *common``) work as in any YAML loader: the mapping's own keys override
    merged ones; only keys written twice in the same mapping are refused.
    """

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"key {key!r} repeats (first at line {seen[key].line + 1}); "
                    "YAML would silently keep only the last one", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _key_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (a typo?); remove it or use one of the documented keys"
    if kind == "missing":
        return "required key is missing"
    if kind == "string_pattern_mismatch" and error["loc"][-1] in ("user", "group"):
        return (f"{error.get('input')!r} is not a valid Unix {error['loc'][-1]} name: use "
                "lower-case letters, digits, '_' and '-', starting with a letter or '_' "
                "(useradd's rule)")
    return f"{error['msg']} (got {error.get('input')!r})"


def parse_sites(text: str, source: str = "<sites>") -> SitesFile:
    """Parse and validate sites YAML text.

    :param text: the YAML document.
    :param source: the file name used in error messages.
    :returns: the validated :class:`SitesFile`.
    :raises SitesError: on YAML syntax errors (file, line, column), schema errors (key path and
        what was expected), unknown program names, or repeated ports (both owners named).
    """
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise SitesError(f"{where}: YAML syntax error: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SitesError(f"{source}: YAML error: {exc}") from None
    return validate_sites(data, source)


def validate_sites(data: object, source: str = "<sites>") -> SitesFile:
    """Validate a sites file already read into plain data (what :func:`parse_sites` does after YAML).

    :param data: the document: a mapping with ports, services and sites.
    :param source: the file name used in error messages.
    :raises SitesError: as :func:`parse_sites`, but for YAML syntax.
    """
    if not isinstance(data, dict):
        raise SitesError(f"{source}: expected a mapping with ports, services and sites")
    try:
        model = SitesFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_key_path(e['loc'])}: {_describe(e)}" for e in exc.errors()]
        raise SitesError(f"{source}: invalid sites file:\n  " + "\n  ".join(lines)) from None
    problems = cross_check(model)
    if problems:
        raise SitesError(f"{source}: invalid sites file:\n  " + "\n  ".join(problems))
    return model


def find_sites_file(explicit: str | None, rootdir: Path) -> Path:
    """Choose the sites file: the explicit one, else ``<rootdir>/sites.yaml``, else the packaged.

    :raises SitesError: when the explicit file does not exist (naming every path looked at).
    """
    if explicit:
        path = Path(explicit)
        if not path.is_absolute():
            path = (Path.cwd() / path) if (Path.cwd() / path).exists() else rootdir / path
        if not path.is_file():
            looked = dict.fromkeys([str(Path(explicit)) if Path(explicit).is_absolute() else
                                    str(Path.cwd() / explicit), str(rootdir / explicit)])
            raise SitesError(
                f"sites file {explicit!r} not found (looked at {' and '.join(looked)}); "
                "pass an existing file to --jaws-sites-file")
        return path
    candidate = rootdir / "sites.yaml"
    return candidate if candidate.is_file() else PACKAGED_SITES_FILE


def load_sites(path: Path) -> SitesFile:
    """Read and validate a sites file. :raises SitesError: as :func:`parse_sites`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SitesError(f"cannot read sites file {path}: {exc.strerror}") from None
    return parse_sites(text, str(path))
