"""The GitLab job's pre-check: ``python -m pytest_jaws.tools.cicheck`` (.gitlab-ci.yml, before_script).

Before anything is cloned or deployed, it checks the job's ``SITE`` and ``JAWS_ENV`` (an empty
one is an unset CI variable; an unknown one a typo in the matrix) and that every CI variable
the deployment needs is set (one key per instance and the secrets of the JAWS configuration
files: :func:`pytest_jaws.plugin.options.ci_variables`). Each problem is one line naming the variable
and what to do; the exit status is 0 when there is none, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from ..errors import SitesError
from ..plugin.options import ci_variables
from ..sites.sitecheck import select_environments, select_site
from ..sites.sites import PACKAGED_SITES_FILE, load_sites


def problems(environ: Mapping[str, str]) -> list[str]:
    """Return what is wrong with the job's variables ``environ``: one line each; empty if nothing."""
    site, envs = environ.get("SITE", ""), environ.get("JAWS_ENV", "")
    out = [f"{name} is empty or unset (an unset CI variable?): set it in the job's variables "
           "or its parallel:matrix entry" for name, value in (("SITE", site), ("JAWS_ENV", envs))
           if not value.strip()]
    if out:
        return out
    model = load_sites(PACKAGED_SITES_FILE)
    try:
        select_site(model, site)
        chosen = select_environments(model, envs)
    except SitesError as exc:
        return [f"SITE={site} JAWS_ENV={envs}: {exc}"]
    missing = [n for env in chosen for n in ci_variables(model, site, env) if not environ.get(n)]
    if missing:
        return ["missing CI variables (masked + protected, see docs/gitlab-ci.md): "
                + ", ".join(missing)]
    return []


def main() -> int:
    """Check ``os.environ``; print each problem on stderr. :returns: the exit status."""
    found = problems(os.environ)
    for line in found:
        sys.stderr.write(f"pytest-jaws CI check: {line}\n")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
