"""Run Lambda handlers in-process: lazy import from CodeUri/Handler, a LambdaContext, one call at a time.

Each function is imported on its first invocation (like a cold start) from its ``CodeUri`` directory,
under a module name of its own (``leadtide_fn_<LogicalId>_<module>``), with the directory on
``sys.path`` while importing so sibling modules resolve. Top-level sibling modules that another
function's directory already put in ``sys.modules`` under the same name are set aside during the import,
so ``functions/a/utils.py`` and ``functions/b/utils.py`` do not shadow each other at import time.

A function instance serves one invocation at a time (a lock per function), as in Lambda: Powertools
resolvers keep per-request state on a module-level app.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from leadtide_local.resources import FunctionSpec

__all__ = ["LambdaContext", "LocalFunction"]

_log = logging.getLogger("leadtide_local.runtime")
_IMPORT_LOCK = threading.RLock()


@dataclass
class LambdaContext:
    """The context object handed to a handler (the attributes of the Python runtime's context).

    Attributes:
        function_name: ``"leadtide-local-ApiFunction"``.
        function_version: ``"$LATEST"``.
        invoked_function_arn: ``arn:aws:lambda:us-east-1:123456789012:function:<name>``.
        memory_limit_in_mb: the function's MemorySize, in MB.
        aws_request_id: a UUID per invocation.
        log_group_name: ``/aws/lambda/<name>``.
        log_stream_name: ``YYYY/MM/DD/[$LATEST]<hex>``.
        deadline_epoch_ms: when the invocation would time out in Lambda, epoch milliseconds.
    """

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_epoch_ms: float
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's Timeout (never negative)."""
        return max(0, int(self.deadline_epoch_ms - time.time() * 1000))


def _is_under(file: str | None, directory: Path) -> bool:
    if not file:
        return False
    try:
        Path(file).resolve().relative_to(directory)
    except ValueError:
        return False
    return True


def _local_top_level_names(code_dir: Path) -> set[str]:
    names = {path.stem for path in code_dir.glob("*.py")}
    names.update(path.name for path in code_dir.iterdir() if (path / "__init__.py").is_file())
    return names


def import_isolated(code_dir: Path, module: str, unique_name: str) -> ModuleType:
    """Import ``module`` from ``code_dir`` as ``unique_name`` (see the module docstring).

    Raises:
        ImportError: the module file does not exist, or importing it failed (the cause is chained).
    """
    relative = Path(*module.split("."))
    candidates = [code_dir / relative.with_suffix(".py"), code_dir / relative / "__init__.py"]
    file = next((path for path in candidates if path.is_file()), None)
    if file is None:
        raise ImportError(
            f"handler module {module!r} not found in {code_dir} (looked for {candidates[0].name})"
        )
    with _IMPORT_LOCK:
        local_names = _local_top_level_names(code_dir)
        set_aside: dict[str, ModuleType] = {}
        for name in list(sys.modules):
            if name.split(".", 1)[0] in local_names and not _is_under(
                getattr(sys.modules[name], "__file__", None), code_dir
            ):
                set_aside[name] = sys.modules.pop(name)
        sys.path.insert(0, str(code_dir))
        try:
            spec = importlib.util.spec_from_file_location(unique_name, file)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {file}")
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[unique_name] = loaded
            try:
                spec.loader.exec_module(loaded)
            except BaseException as error:
                sys.modules.pop(unique_name, None)
                raise ImportError(f"importing {file} failed: {type(error).__name__}: {error}") from error
            return loaded
        finally:
            sys.path.remove(str(code_dir))
            for name, previous in set_aside.items():
                sys.modules[name] = previous


@dataclass
class LocalFunction:
    """One Lambda function of the template, run in this process.

    Attributes:
        spec: the function's spec (code directory, handler, timeout, memory).
        function_name: physical name, e.g. ``"leadtide-local-ApiFunction"``.
        function_arn: its ARN.
        invocations: how many times it has been invoked.
    """

    spec: FunctionSpec
    function_name: str
    function_arn: str
    invocations: int = 0
    _handler: Callable[[Any, Any], Any] | None = field(default=None, repr=False)
    _module: ModuleType | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def logical_id(self) -> str:
        """The function's logical id."""
        return self.spec.logical_id

    @property
    def module(self) -> ModuleType | None:
        """The handler's module once loaded (None before the first invocation)."""
        return self._module

    def load(self) -> Callable[[Any, Any], Any]:
        """Import the handler (first call only) and return it.

        Raises:
            ImportError: the module is missing or failed to import, or has no such callable.
        """
        if self._handler is None:
            with _IMPORT_LOCK:
                if self._handler is None:
                    spec = self.spec
                    unique = f"leadtide_fn_{spec.logical_id}_{spec.handler_module.replace('.', '_')}"
                    module = import_isolated(spec.code_dir, spec.handler_module, unique)
                    handler = getattr(module, spec.handler_function, None)
                    if not callable(handler):
                        raise ImportError(
                            f"{spec.logical_id}: {spec.handler} is not a callable in {module.__file__}"
                        )
                    self._module = module
                    self._handler = handler
        return self._handler

    def new_context(self) -> LambdaContext:
        """A fresh context for one invocation (new request id, deadline = now + Timeout)."""
        now = time.time()
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        return LambdaContext(
            function_name=self.function_name,
            function_version="$LATEST",
            invoked_function_arn=self.function_arn,
            memory_limit_in_mb=self.spec.memory_size,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{self.function_name}",
            log_stream_name=stream,
            deadline_epoch_ms=(now + self.spec.timeout) * 1000,
        )

    def invoke(self, event: Any) -> Any:
        """Call the handler with ``event`` and a new context, one invocation at a time; return its result.

        An invocation that runs past the function's Timeout still completes locally but is logged as an
        error (Lambda would have stopped it and reported a failure).

        Raises:
            ImportError: see :meth:`load`.
            Exception: whatever the handler raised.
        """
        handler = self.load()
        with self._lock:
            self.invocations += 1
            context = self.new_context()
            started = time.monotonic()
            try:
                return handler(event, context)
            finally:
                elapsed = time.monotonic() - started
                if elapsed > self.spec.timeout:
                    _log.error(
                        "%s ran %.1f s, past its Timeout of %d s: Lambda would have failed this invocation",
                        self.logical_id,
                        elapsed,
                        self.spec.timeout,
                    )
