"""A site's JAWS configuration in the sites.yaml model: the values of its JAWS configuration files.

Scratch directories, the MySQL server and brokers the files name, Globus, batch and container
settings, Cromwell's heap (pydantic models, strict: unknown keys are errors).
:mod:`pytest_jaws.sites.siteschema` builds the whole file from them.

Facts in the shipped ``sites.yaml`` come from the JAWS deployment docs (shared DESIGN.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .sitedeps import Endpoint, RoleEndpoint
from .sitemodel import _Strict


class Globus(_Strict):
    """Globus settings of a site.

    ``JAWS_GLOBUS_CLIENT_ID``, ``<SITE>_GLOBUS_EP``, ``<SITE>_GLOBUS_HOST_PATH`` in JAWS's
    .gitlab-ci.yml.
    """

    client_id: str
    endpoint: str
    host_path: str


class Cluster(_Strict):
    """Batch settings (``<SITE>_CLUSTER_QOS/PARTITION/ACCOUNT/CONSTRAINT``)."""

    qos: str = ""
    partition: str = ""
    account: str = ""
    constraint: str = ""


class Container(_Strict):
    """How a site runs a task's container (Cromwell's ``submit-docker``).

    ``type`` is ``<SITE>_CONTAINER_TYPE`` of JAWS's .gitlab-ci.yml (shifter, singularity or
    docker; test/integration/deploy-cromwell picks the wrapper script and image pull by it).
    ``ref_data`` (``<SITE>_REF_DATA_DIR``) and ``tmpdir`` (``<SITE>_CONTAINER_TMPDIR``) are
    paths (``{base}``: the install base); unset, they lie under the jtm scratch base directory
    (``refdata`` and the scratch base itself).
    """

    type: Literal["shifter", "singularity", "docker"] = "docker"
    ref_data: str | None = None
    tmpdir: str | None = None


class JawsConfig(_Strict):
    """Values of a site's JAWS configuration files.

    As test/integration/generate-configs, deploy-central, deploy-cromwell write them. ``scratch``
    and ``jtm_scratch`` are the scratch base directories (``{base}``: the install base),
    ``data_repo`` the base of the data repository (define-env SITE_DATA_REPO_BASEDIR; default:
    ``scratch``);
    ``db``/``rmq``/``site_rmq`` the MySQL server, central's broker and the site's broker (taken
    from the site's ``dependencies`` when it declares them, else placeholders the fakes never
    connect to; ``db`` and ``site_rmq`` may name the jtm role's own user: :class:`RoleEndpoint`);
    ``xmx`` Cromwell's Java heap; ``central_sites`` the site ids central serves (each must be a
    site of this file).
    """

    scratch: str
    jtm_scratch: str | None = None
    data_repo: str | None = None
    # required: Site's validator fills the three from the dependencies, else demands them
    db: RoleEndpoint
    rmq: Endpoint
    site_rmq: RoleEndpoint
    globus: Globus
    cluster: Cluster = Cluster()
    container: Container = Container()
    max_ram_gb: int = Field(default=0, ge=0)
    xmx: str = Field(default="5g", pattern=r"^[0-9]+[kmg]$")
    central_sites: list[str] = Field(default_factory=list)
