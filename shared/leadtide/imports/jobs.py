"""Jobs-queue entry points of the import pipeline (registered in ``leadtide.jobs.dispatch``).

=========================  ==================================================  ============================
kind                       message                                             runs
=========================  ==================================================  ============================
``s3.object_created``      EventBridge event, key ``imports/<t>/<id>/source*``  :meth:`ImportPipeline.analyse`
``imports.plan``           ``{tenant_id, import_id}``                          :meth:`ImportPipeline.plan`
``imports.chunk``          ``{tenant_id, import_id, chunk}``                   :meth:`ImportPipeline.run_chunk`
``imports.rollback_chunk`` ``{tenant_id, import_id, chunk}``                   :meth:`ImportPipeline.rollback_chunk`
``imports.sweep_expired``  ``{}`` (schedule: fan-out) or ``{tenant_id}``         :meth:`ImportService.sweep_expired`
=========================  ==================================================  ============================
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

_SOURCE_KEY = re.compile(r"^imports/([A-Za-z0-9_-]{1,64})/([0-9a-f]{32})/source(\.[a-z]+)?$")


def on_upload(event: dict[str, Any], wiring: Wiring) -> None:
    """An object was created under ``imports/``: analyse it if it is an import's source upload."""
    obj = (event.get("detail") or {}).get("object") or {}
    key = unquote_plus(str(obj.get("key") or ""))
    match = _SOURCE_KEY.match(key)
    if match is None:
        return
    size = obj.get("size")
    wiring.import_pipeline.analyse(
        match.group(1), match.group(2), key, int(size) if size is not None else None
    )


def run_plan_step(message: dict[str, Any], wiring: Wiring) -> None:
    """``imports.plan``: validate, de-duplicate and chunk the file, queue the chunks."""
    wiring.import_pipeline.plan(message["tenant_id"], message["import_id"])


def run_chunk_step(message: dict[str, Any], wiring: Wiring) -> None:
    """``imports.chunk``: write one chunk of leads."""
    wiring.import_pipeline.run_chunk(message["tenant_id"], message["import_id"], int(message["chunk"]))


def run_rollback_step(message: dict[str, Any], wiring: Wiring) -> None:
    """``imports.rollback_chunk``: undo one chunk."""
    wiring.import_pipeline.rollback_chunk(message["tenant_id"], message["import_id"], int(message["chunk"]))


def run_sweep_step(message: dict[str, Any], wiring: Wiring) -> None:
    """``imports.sweep_expired``: without ``tenant_id`` (the schedule's input) queue one step per tenant
    with imports; with it, empty the preview rows of that tenant's expired imports."""

    tenant_id = message.get("tenant_id")
    if tenant_id:
        wiring.import_service.sweep_expired(str(tenant_id))
    else:
        wiring.import_service.sweep_all()
