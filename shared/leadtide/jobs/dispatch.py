"""Routing of jobs-queue messages to the logic that runs them.

A message is either a job step that Leadtide queued itself, ``{"kind": "<kind>", ...}`` (the rest of the
object is the step's own payload), or an EventBridge event a rule sent to the queue (S3 ``Object
Created``), which runs as kind :data:`S3_OBJECT_CREATED` with the event as payload.

Each kind names a ``"module:function"`` imported on first use, so a worker only loads what its messages
need. The function takes the message (a dict) and the process's :class:`~leadtide.wiring.Wiring` (where it
finds its service) and returns nothing; raising makes SQS redeliver it (and,
after the queue's ``maxReceiveCount``, park it in the dead-letter queue), so job steps are idempotent.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadtide.ports import CommandQueue
    from leadtide.wiring import Wiring

JobHandler = Callable[[dict[str, Any], "Wiring"], None]

S3_OBJECT_CREATED = "s3.object_created"

# kind -> "module:function". Add one line per job kind.
JOB_HANDLERS: dict[str, str] = {
    "exports.run": "leadtide.exports.service:run_export_step",
    "bulk.plan": "leadtide.bulk.service:run_plan_step",
    "bulk.chunk": "leadtide.bulk.service:run_chunk_step",
    S3_OBJECT_CREATED: "leadtide.jobs.dispatch:run_s3_object_created",
    "imports.plan": "leadtide.imports.jobs:run_plan_step",
    "imports.chunk": "leadtide.imports.jobs:run_chunk_step",
    "imports.rollback_chunk": "leadtide.imports.jobs:run_rollback_step",
    "imports.sweep_expired": "leadtide.imports.jobs:run_sweep_step",
    "lists.add_by_filter": "leadtide.lists.service:run_add_by_filter",
    "lists.purge": "leadtide.lists.service:run_purge",
    "segments.rebuild": "leadtide.segments.service:run_rebuild",
    "segments.purge": "leadtide.segments.service:run_purge",
    "scoring.rescore_tenant": "leadtide.scoring.admin:rescore_tenant",
    "duplicates.scan": "leadtide.duplicates.service:run_scan_job",
    "duplicates.scan_all": "leadtide.duplicates.service:run_scan_all_job",
    "merges.finish": "leadtide.duplicates.merge:run_finish_job",
    "leads.backfill": "leadtide.leads.backfill:run_backfill",
}

# S3 key prefix -> "module:function" run for an ``Object Created`` event of a key under it (the first
# matching prefix wins). Add one line per area that receives uploads; the template's rule must route the
# prefix to the jobs queue too.
S3_KEY_HANDLERS: dict[str, str] = {
    "imports/": "leadtide.imports.jobs:on_upload",
}


class UnknownJobError(ValueError):
    """A jobs-queue message whose kind no handler is registered for (a bug or a stale message)."""


def job_kind(message: Mapping[str, Any]) -> str:
    """The kind of a jobs-queue message (see the module docstring).

    Raises:
        UnknownJobError: the message has no usable kind.
    """
    if message.get("source") == "aws.s3" and message.get("detail-type") == "Object Created":
        return S3_OBJECT_CREATED
    kind = message.get("kind")
    if not isinstance(kind, str) or not kind:
        raise UnknownJobError("jobs-queue message has no 'kind'")
    return kind


def handler_for(kind: str) -> JobHandler:
    """The function that runs ``kind``, imported on first use.

    Raises:
        UnknownJobError: no handler is registered for ``kind``.
    """
    target = JOB_HANDLERS.get(kind)
    if target is None:
        raise UnknownJobError(f"no handler for job kind {kind!r}")
    module_name, function_name = target.split(":", 1)
    handler: JobHandler = getattr(importlib.import_module(module_name), function_name)
    return handler


def run_job(message: dict[str, Any], wiring: Wiring) -> None:
    """Run one jobs-queue message with the services of ``wiring`` (raises what the step raises, so SQS
    retries it)."""
    handler_for(job_kind(message))(message, wiring)


def send_jobs(queue: CommandQueue, messages: Sequence[Mapping[str, Any]]) -> None:
    """Queue job steps (each ``{"kind": ..., ...}``) on the jobs queue, 10 per SendMessageBatch call.

    Raises:
        UnknownJobError: a message's kind has no handler (caught before anything is sent).
        PublishError: SQS refused a message.
    """
    for message in messages:
        if job_kind(message) not in JOB_HANDLERS:
            raise UnknownJobError(f"no handler for job kind {message.get('kind')!r}")
    queue.send([json.dumps(message, separators=(",", ":"), default=str) for message in messages])


def run_s3_object_created(message: dict[str, Any], wiring: Wiring) -> None:
    """Run the handler registered in :data:`S3_KEY_HANDLERS` for the created object's key.

    ``message`` is the EventBridge event (``detail.bucket.name``, ``detail.object.key``, ``.size``).
    A key under no registered prefix is ignored (logged): an event cannot be fixed by retrying it.
    """
    from urllib.parse import unquote_plus

    key = unquote_plus(str(((message.get("detail") or {}).get("object") or {}).get("key") or ""))
    for prefix, target in S3_KEY_HANDLERS.items():
        if key.startswith(prefix):
            module_name, function_name = target.split(":", 1)
            getattr(importlib.import_module(module_name), function_name)(message, wiring)
            return
    import logging

    logging.getLogger(__name__).warning("no handler for S3 object %r; event ignored", key)
