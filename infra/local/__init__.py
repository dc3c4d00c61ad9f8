"""Leadtide's local runtime: the SAM template's functions, run in-process against moto's server.

No Docker and no AWS account: :class:`leadtide_local.stack.LocalStack` starts moto, creates the
template's tables/queues/buses/rules/buckets (:mod:`leadtide_local.provision`), serves the HttpApi
routes as API Gateway would (:mod:`leadtide_local.http_api`) and polls the SQS event sources
(:mod:`leadtide_local.sqs`). ``leadtide local serve`` (:mod:`leadtide_local.cli`) runs it from a shell.
See infra/local/README.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LocalStack"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not import moto (slow) for `leadtide local token`.
    if name == "LocalStack":
        from leadtide_local.stack import LocalStack

        return LocalStack
    raise AttributeError(name)
