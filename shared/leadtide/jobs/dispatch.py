"""Routing of jobs-queue messages to the logic that runs them.

A message is either a job step that Leadtide queued itself, ``{"kind": "<kind>", ...}`` (the rest of the
object is the step's own payload), or an EventBridge event a rule sent to the queue (S3 ``Object
Created``), which runs as kind :data:`S3_OBJECT_CREATED` with the event as payload.

Each kind names a ``"module:function"`` imported on first use, so a worker only loads what its messages
need. The function takes the message (a dict) and returns nothing; raising makes SQS redeliver it (and,
after the queue's ``maxReceiveCount``, park it in the dead-letter queue), so job steps are idempotent.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

S3_OBJECT_CREATED = "s3.object_created"

# kind -> "module:function". Add one line per job kind.
JOB_HANDLERS: dict[str, str] = {}


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


def handler_for(kind: str) -> Callable[[dict[str, Any]], None]:
    """The function that runs ``kind``, imported on first use.

    Raises:
        UnknownJobError: no handler is registered for ``kind``.
    """
    target = JOB_HANDLERS.get(kind)
    if target is None:
        raise UnknownJobError(f"no handler for job kind {kind!r}")
    module_name, function_name = target.split(":", 1)
    handler: Callable[[dict[str, Any]], None] = getattr(importlib.import_module(module_name), function_name)
    return handler


def run_job(message: dict[str, Any]) -> None:
    """Run one jobs-queue message (raises what the step raises, so SQS retries it)."""
    handler_for(job_kind(message))(message)


def enqueue_jobs(messages: Sequence[Mapping[str, Any]]) -> None:
    """Queue job steps (each ``{"kind": ..., ...}``) on the jobs queue, 10 per SendMessageBatch call.

    Raises:
        UnknownJobError: a message's kind has no handler (caught before anything is sent).
        PublishError: SQS refused a message.
    """
    from leadtide.dal.factory import get_jobs_queue

    for message in messages:
        if job_kind(message) not in JOB_HANDLERS:
            raise UnknownJobError(f"no handler for job kind {message.get('kind')!r}")
    get_jobs_queue().send([json.dumps(message, separators=(",", ":"), default=str) for message in messages])
