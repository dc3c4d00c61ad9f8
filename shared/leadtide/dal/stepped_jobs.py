"""Writes shared by the records of stepped background jobs (static-list jobs, backfill runs).

A stepped job is a chain of jobs-queue steps whose record (one item) carries ``status`` (``running`` ->
``completed``/``failed``), ``queued_step`` (the last step sent to the queue), ``attempts`` (failed attempts
of the current step), ``cursor``, ``error`` and ``finished_at``. Each job's own repository records a step's
counts (its counters differ); these functions are the rest, written once. Every write is one conditional
UpdateItem on an existing item, so a redelivered step cannot move the record backwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.models import Model

from leadtide.dal.errors import condition_failed


def update_if(
    model: type[Model],
    key: tuple[str, str],
    actions: Sequence[Any],
    condition: Any,
    not_found: Callable[[], Exception],
) -> bool:
    """Apply ``actions`` to the item ``key`` (pk, sk) of ``model`` if it exists and ``condition`` holds.

    Returns:
        False when ``condition`` does not hold (nothing written).

    Raises:
        the exception ``not_found()`` builds, when the item does not exist.
    """
    m: Any = model  # the job item classes declare the attributes used here
    try:
        m(*key).update(actions=[*actions], condition=m.pk.exists() & condition)
    except UpdateError as err:
        if not condition_failed(err):
            raise
        try:
            m.get(*key, consistent_read=True)
        except DoesNotExist:
            raise not_found() from None
        return False
    return True


def mark_queued(
    model: type[Model], key: tuple[str, str], step: int, not_found: Callable[[], Exception]
) -> None:
    """Note that step ``step`` is on the queue (``queued_step`` only moves forward)."""
    m: Any = model
    update_if(model, key, [m.queued_step.set(step)], m.queued_step < step, not_found)


def note_attempt(model: type[Model], key: tuple[str, str], not_found: Callable[[], Exception]) -> int:
    """Count one failed attempt of the current step (ADD 1); returns the new count."""
    m: Any = model
    item = m(*key)
    try:
        item.update(actions=[m.attempts.add(1)], condition=m.pk.exists())
    except UpdateError as err:
        if condition_failed(err):
            raise not_found() from None
        raise
    return int(item.attempts or 0)


def fail(
    model: type[Model],
    key: tuple[str, str],
    *,
    error: str,
    finished_at: datetime,
    not_found: Callable[[], Exception],
) -> bool:
    """Mark a ``running`` job ``failed`` with ``error`` (first 1,000 characters) and ``finished_at``, and
    drop its cursor; False when it was no longer running."""
    m: Any = model
    actions = [
        m.status.set("failed"),
        m.error.set(error[:1000]),
        m.finished_at.set(finished_at),
        m.cursor.remove(),
    ]
    return update_if(model, key, actions, m.status == "running", not_found)
