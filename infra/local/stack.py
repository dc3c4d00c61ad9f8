"""``LocalStack``: the whole template running in this process against moto's server.

Start-up (:meth:`LocalStack.start`):

1. moto's server (``moto.server.ThreadedMotoServer``) on a free port of 127.0.0.1, its state reset,
   with :mod:`leadtide_local.moto_patches` installed (transactions roll back per item, not per table;
   a Query reads its partition, not the whole table);
2. the template's tables, queues, buses, rules and buckets created in it
   (:func:`leadtide_local.provision.create_resources`);
3. the process environment pointed at it (``AWS_ENDPOINT_URL``, test credentials, ``us-east-1``,
   Powertools metrics and tracing off) plus the union of every function's resolved environment
   (Globals + own; handlers share one process, so two functions giving one variable different values
   is an error);
4. an HTTP server (``http.server.ThreadingHTTPServer``) serving the template's HttpApi routes as API
   Gateway would (:mod:`leadtide_local.http_api`), plus admin endpoints under ``/_local/``;
5. one poller per SQS event source mapping and per EventBridge rule -> function target
   (:mod:`leadtide_local.sqs`), each in its own thread when ``background_workers`` is true.

Delivery of EventBridge ``PutEvents`` to SQS targets is moto's own (rules on custom buses, event
patterns); moving poison messages to dead-letter queues after ``maxReceiveCount`` is moto's too.
Schedules (``ScheduleV2``/``Schedule`` events) never fire by time: :meth:`LocalStack.fire_schedule`
runs them on demand.

One LocalStack may run per process at a time (the environment is process-wide).

Admin endpoints (local runtime only, never in the template):

* ``GET /_local/health`` -> ``{"status": "ok", "base_url", "moto_endpoint"}``
* ``GET /_local/routes`` -> ``[{"routeKey", "function", "authorized"}]``
* ``GET /_local/resources`` -> tables, queues, buses, buckets, rules
* ``POST /_local/schedules/{name}/fire`` -> ``{"schedule", "function", "result"}``
* ``POST /_local/drain?timeout=30`` -> ``{"delivered": {function: count}}``; 504 on timeout
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import boto3

from leadtide_local.auth import issue_token, load_signing_key
from leadtide_local.http_api import (
    LOCAL_PREFIX,
    HttpApiGateway,
    HttpRequest,
    HttpResponse,
    Route,
    cors_from_template,
    json_response,
    routes_from_template,
)
from leadtide_local.provision import create_resources
from leadtide_local.resources import (
    DEFAULT_STACK_NAME,
    FunctionSpec,
    ResourceMap,
    function_environment,
    functions,
)
from leadtide_local.runtime import LocalFunction
from leadtide_local.sqs import QueuePoller, RuleDeliveryPoller, SqsEventSourceMapping
from leadtide_local.template import load_template, repo_root

__all__ = ["EnvironmentConflictError", "LocalStack", "Schedule", "running_stack"]

_log = logging.getLogger("leadtide_local")
_ACTIVE_LOCK = threading.Lock()
_active: LocalStack | None = None
_TEST_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
# Variables that would send boto3 elsewhere or fail credential lookup; unset while the stack runs.
_CLEARED_PREFIXES = ("AWS_ENDPOINT_URL_",)
_CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")


class EnvironmentConflictError(ValueError):
    """Two functions set one environment variable to different values (they share one process)."""


@dataclass(frozen=True)
class Schedule:
    """A ``ScheduleV2`` or ``Schedule`` event of a function.

    Attributes:
        function_logical_id: the function it invokes.
        event_name: the SAM event name (``"Nightly"``).
        type: ``"ScheduleV2"`` (EventBridge Scheduler) or ``"Schedule"`` (EventBridge rule).
        name: the resolved ``Name`` property, if any.
        properties: the resolved event properties.
    """

    function_logical_id: str
    event_name: str
    type: str
    name: str | None
    properties: dict[str, Any]


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest swaps it per test)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # logging.Handler.emit's contract: report through handleError, never raise
            self.handleError(record)


def _configure_logging(quiet: bool) -> None:
    if not any(isinstance(handler, _StderrHandler) for handler in _log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("[leadtide-local] %(levelname)s %(name)s: %(message)s"))
        _log.addHandler(handler)
    _log.setLevel(logging.WARNING if quiet else logging.INFO)
    # moto's server logs every request through werkzeug at INFO.
    logging.getLogger("werkzeug").setLevel(logging.WARNING if quiet else logging.INFO)


def forget_process_caches() -> None:
    """Forget what the process built from the previous environment (another endpoint or moto): the
    domain's one reset, :func:`leadtide.wiring.reset` (the wiring with its clients and services, the
    settings, PynamoDB's cached connections). Nothing is imported when the domain was not loaded yet."""
    wiring = sys.modules.get("leadtide.wiring")
    if wiring is not None:
        wiring.reset()
    else:
        settings = sys.modules.get("leadtide.settings")
        if settings is not None:
            settings.get_settings.cache_clear()


def build_pollers(
    resources: ResourceMap,
    specs: dict[str, FunctionSpec],
    *,
    invoke: Callable[[str, Any], Any],
    client: Callable[[], Any],
    retry_delay_seconds: float,
) -> list[QueuePoller]:
    """One poller per ``Type: SQS`` function event and per rule target that is a function.

    Args:
        resources: the created resources (queue URLs, rule deliveries).
        specs: the template's functions.
        invoke: ``invoke(function_logical_id, event) -> result``.
        client: makes a boto3 SQS client for one poller.
        retry_delay_seconds: how soon failed messages become visible again.
    """
    pollers: list[QueuePoller] = []
    for spec in specs.values():
        for event in spec.events:
            if event.type != "SQS":
                continue
            props = resources.resolve(event.properties)
            if props.get("Enabled") in (False, "false"):
                continue
            queue_id = resources.queue_for_arn(str(props.get("Queue")))
            if queue_id is None:
                _log.warning(
                    "%s.%s: queue %s is not in the template; not polled",
                    spec.logical_id,
                    event.name,
                    props.get("Queue"),
                )
                continue
            patterns = [
                json.loads(f["Pattern"]) if isinstance(f.get("Pattern"), str) else f.get("Pattern") or {}
                for f in (props.get("FilterCriteria") or {}).get("Filters") or []
            ]
            pollers.append(
                SqsEventSourceMapping(
                    name=f"{spec.logical_id}.{event.name}",
                    function_logical_id=spec.logical_id,
                    queue=resources.queues[queue_id],
                    invoke=invoke,
                    client=client(),
                    retry_delay_seconds=retry_delay_seconds,
                    region=resources.region,
                    batch_size=int(props.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (props.get("FunctionResponseTypes") or []),
                    filter_patterns=patterns,
                )
            )
    for delivery in resources.deliveries:
        pollers.append(
            RuleDeliveryPoller(
                name=delivery.source,
                function_logical_id=delivery.function_logical_id,
                queue=delivery.queue,
                invoke=invoke,
                client=client(),
                retry_delay_seconds=retry_delay_seconds,
                region=resources.region,
                delivery=delivery,
                account_id=resources.account_id,
            )
        )
    return pollers


_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # do not wait for idle keep-alive connections on close
    gateway: HttpApiGateway
    quiet: bool


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "leadtide-local"
    timeout = 60  # seconds an idle keep-alive connection is kept
    server: _Server

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self._read_body(),
            source_ip=self.client_address[0],
            server_port=self.server.server_address[1],
            protocol=self.request_version,
        )
        response = self.server.gateway.handle(request)
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in _HOP_BY_HOP:  # framing is the server's, as API Gateway's is
                self.send_header(name, value)
        no_content = response.status == 204  # no body, and no Content-Length either (RFC 9110, 8.6)
        if not no_content:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body and not no_content:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def __getattr__(self, name: str) -> Any:
        """Every other method too (``do_TRACE``, ``do_PROPFIND``...): http.server answers a method it has
        no ``do_`` attribute for with its own HTML 501, where API Gateway finds no route and answers 404
        ``{"message":"Not Found"}``; the gateway pipeline decides, as for any request."""
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"[leadtide-local] {self.address_string()} {format % args}\n")


class LocalStack:
    """The template's functions, HTTP API, queues and rules running locally against moto's server.

    Use :meth:`start` (or ``with LocalStack.start() as stack:``). Attributes:

    * ``base_url``: ``"http://127.0.0.1:<port>"`` of the HTTP API;
    * ``moto_endpoint``: ``"http://127.0.0.1:<port>"`` of moto's server;
    * ``resources``: the :class:`~leadtide_local.resources.ResourceMap` (physical names);
    * ``functions``: ``{logical_id: LocalFunction}``; ``routes``: the HTTP routes;
      ``pollers``: SQS event source mappings and rule deliveries; ``schedules``: by lookup key.
    """

    base_url: str
    moto_endpoint: str
    resources: ResourceMap

    def __init__(self) -> None:
        raise TypeError("use LocalStack.start(...)")

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def start(
        cls,
        *,
        template_path: str | Path | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        background_workers: bool = True,
        quiet: bool = True,
        retry_delay_seconds: float = 1.0,
        stack_name: str = DEFAULT_STACK_NAME,
        parameter_overrides: dict[str, Any] | None = None,
        signing_key_path: str | Path | None = None,
    ) -> LocalStack:
        """Start moto, create the resources, set the environment, serve HTTP and start the pollers.

        Args:
            template_path: the SAM template; default ``<repo>/template.yaml``. CodeUri paths are
                relative to its directory.
            port: HTTP port of the API (0: a free port; see ``base_url``).
            host: interface to bind the API to.
            background_workers: poll queues continuously (one thread per mapping, ~1 s long polls);
                if false, queues are only polled inside :meth:`drain`.
            quiet: Powertools at WARNING, no access log, no moto request log.
            retry_delay_seconds: how soon a failed SQS message or EventBridge event is retried.
            stack_name: prefix of physical names.
            parameter_overrides: template parameters, e.g. ``{"Stage": "dev"}``.
            signing_key_path: the JWT key file; default ``<repo>/.leadtide/local-signing-key``.

        Raises:
            RuntimeError: another LocalStack is running in this process.
            EnvironmentConflictError: two functions set one variable to different values.
            OSError: the HTTP port is taken.
        """
        global _active
        with _ACTIVE_LOCK:
            if _active is not None:
                raise RuntimeError(
                    f"a LocalStack is already running in this process ({_active.base_url}); stop it first"
                )
            stack = object.__new__(cls)
            stack._init(quiet=quiet, retry_delay_seconds=retry_delay_seconds)
            _active = stack
        try:
            stack._start(
                template_path=Path(template_path)
                if template_path is not None
                else repo_root() / "template.yaml",
                port=port,
                host=host,
                background_workers=background_workers,
                stack_name=stack_name,
                parameter_overrides=parameter_overrides,
                signing_key_path=signing_key_path,
            )
        except BaseException:
            stack.stop()
            raise
        return stack

    def _init(self, *, quiet: bool, retry_delay_seconds: float) -> None:
        self.quiet = quiet
        self.retry_delay_seconds = retry_delay_seconds
        self.base_url = ""
        self.moto_endpoint = ""
        self.functions: dict[str, LocalFunction] = {}
        self.routes: list[Route] = []
        self.pollers: list[QueuePoller] = []
        self.schedules: dict[str, list[Schedule]] = {}
        self.template: dict[str, Any] = {}
        self._stopping = threading.Event()
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self._moto: Any = None
        self._http: _Server | None = None
        self._saved_env: dict[str, str | None] = {}
        self._session: boto3.session.Session | None = None
        self._client_lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._key = b""

    def _start(
        self,
        *,
        template_path: Path,
        port: int,
        host: str,
        background_workers: bool,
        stack_name: str,
        parameter_overrides: dict[str, Any] | None,
        signing_key_path: str | Path | None,
    ) -> None:
        from moto.server import ThreadedMotoServer  # heavy import: only when a stack starts

        from leadtide_local import moto_patches

        moto_patches.install()  # moto at scale (see the module); fails loudly on a moto it was not written for
        _configure_logging(self.quiet)
        self.template = load_template(template_path)
        specs = functions(self.template, base_dir=template_path.parent)
        self._key = load_signing_key(signing_key_path)

        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        moto_host, moto_port = self._moto.get_host_and_port()
        self.moto_endpoint = f"http://{moto_host}:{moto_port}"
        self._reset_moto()
        self._session = boto3.session.Session(region_name="us-east-1", **_TEST_CREDENTIALS)

        self.resources = create_resources(
            self.template,
            session=self._session,
            endpoint_url=self.moto_endpoint,
            stack_name=stack_name,
            parameter_overrides=parameter_overrides,
            base_dir=template_path.parent,
        )
        self._apply_environment(self._environment(specs))

        for logical_id, spec in specs.items():
            self.functions[logical_id] = LocalFunction(
                spec=spec,
                function_name=self.resources.physical_name(logical_id),
                function_arn=self.resources.function_arn(logical_id),
            )
        self.routes = routes_from_template(self.template, specs)
        gateway = HttpApiGateway(
            self.routes,
            self.invoke,
            self._key,
            cors=cors_from_template(self.template, self.resources),
            admin=self._admin,
            account_id=self.resources.account_id,
        )
        server = _Server((host, port), _RequestHandler)
        server.gateway = gateway
        server.quiet = self.quiet
        bound_port = server.server_address[1]
        self.base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{bound_port}"  # noqa: S104
        self._spawn("leadtide-local-http", server.serve_forever)
        self._http = server  # only once serving: shutdown() waits for serve_forever

        self.pollers = self._build_pollers(specs)
        self.schedules = self._index_schedules(specs)
        if background_workers:
            for poller in self.pollers:
                self._spawn(f"leadtide-local-poller-{poller.name}", self._poll_forever, poller)
        _log.info("local stack up: API %s, moto %s", self.base_url, self.moto_endpoint)

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _reset_moto(self) -> None:
        request = urllib.request.Request(f"{self.moto_endpoint}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own local server
            response.read()

    def _environment(self, specs: dict[str, FunctionSpec]) -> dict[str, str]:
        merged: dict[str, str] = {}
        owner: dict[str, str] = {}
        conflicts = []
        for logical_id in specs:
            for name, value in function_environment(self.template, logical_id, self.resources).items():
                if name in merged and merged[name] != value:
                    conflicts.append(f"{name}: {owner[name]}={merged[name]!r} vs {logical_id}={value!r}")
                    continue
                merged.setdefault(name, value)
                owner.setdefault(name, logical_id)
        if conflicts:
            raise EnvironmentConflictError(
                "functions share one process locally, so they must agree on environment variables: "
                + "; ".join(conflicts)
            )
        merged.update(
            {
                "AWS_ENDPOINT_URL": self.moto_endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": self.resources.region,
                "AWS_REGION": self.resources.region,
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        if self.quiet:
            merged["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        return merged

    def _apply_environment(self, variables: dict[str, str]) -> None:
        cleared = [k for k in os.environ if k.startswith(_CLEARED_PREFIXES) or k in _CLEARED]
        for name in [*cleared, *variables]:
            self._saved_env.setdefault(name, os.environ.get(name))
        for name in cleared:
            os.environ.pop(name, None)
        os.environ.update(variables)
        forget_process_caches()

    def _restore_environment(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        forget_process_caches()

    def stop(self) -> None:
        """Stop pollers, the HTTP server and moto (its state reset); restore the environment. Idempotent."""
        global _active
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._moto is not None:
            with contextlib.suppress(Exception):
                self._reset_moto()
            with contextlib.suppress(Exception):
                self._moto.stop()
        self._restore_environment()
        with _ACTIVE_LOCK:
            if _active is self:
                _active = None

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LocalStack api={self.base_url} moto={self.moto_endpoint}>"

    # ------------------------------------------------------------------ wiring
    def _build_pollers(self, specs: dict[str, FunctionSpec]) -> list[QueuePoller]:
        return build_pollers(
            self.resources,
            specs,
            invoke=self.invoke,
            client=lambda: self.client("sqs", fresh=True),
            retry_delay_seconds=self.retry_delay_seconds,
        )

    def _index_schedules(self, specs: dict[str, FunctionSpec]) -> dict[str, list[Schedule]]:
        index: dict[str, list[Schedule]] = {}
        for spec in specs.values():
            for event in spec.events:
                if event.type not in ("ScheduleV2", "Schedule"):
                    continue
                props = self.resources.resolve(event.properties)
                name = props.get("Name")
                schedule = Schedule(spec.logical_id, event.name, event.type, name, props)
                for key in {event.name, f"{spec.logical_id}.{event.name}", *([name] if name else [])}:
                    index.setdefault(key, []).append(schedule)
        return index

    def _poll_forever(self, poller: QueuePoller) -> None:
        while not self._stopping.is_set():
            try:
                poller.poll_once(wait_seconds=1)
            except Exception:  # poller boundary: one failed poll must not stop the queue's delivery
                if self._stopping.is_set():
                    return
                _log.exception("poller %s failed; retrying in 1 s", poller.name)
                self._stopping.wait(1.0)

    # ------------------------------------------------------------------ public API
    def client(self, service: str, *, fresh: bool = False) -> Any:
        """A boto3 client for ``service`` pointed at moto (test credentials, ``us-east-1``).

        Clients are cached per service unless ``fresh`` is true.
        """
        with self._client_lock:
            if fresh or service not in self._clients:
                assert self._session is not None, "the stack is not started"
                created = self._session.client(
                    service, endpoint_url=self.moto_endpoint, region_name=self.resources.region
                )
                if fresh:
                    return created
                self._clients[service] = created
            return self._clients[service]

    def token(
        self,
        tenant_id: str,
        role: str,
        user_id: str = "local-user",
        email: str | None = None,
        ttl_seconds: int = 43200,
    ) -> str:
        """A JWT the local authorizer accepts (see :func:`leadtide_local.auth.issue_token`).

        Raises:
            ValueError: role is not admin, manager or rep.
        """
        return issue_token(tenant_id, role, user_id, email, ttl_seconds, key=self._key)

    def invoke(self, function_logical_id: str, event: Any) -> Any:
        """Invoke a function synchronously with ``event``; return its result.

        Raises:
            KeyError: no such function.
            Exception: whatever the handler raised (ImportError if its code is missing).
        """
        try:
            function = self.functions[function_logical_id]
        except KeyError:
            raise KeyError(f"no function {function_logical_id!r}; known: {sorted(self.functions)}") from None
        return function.invoke(event)

    def _queue_backlog(self, poller: QueuePoller) -> int:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=poller.queue.url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def _busy(self) -> dict[str, int]:
        busy: dict[str, int] = {}
        for poller in self.pollers:
            backlog = self._queue_backlog(poller)
            if backlog or poller.busy:
                busy[poller.queue.name] = busy.get(poller.queue.name, 0) + backlog
        return busy

    def _delivered(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for poller in self.pollers:
            counts[poller.function_logical_id] = counts.get(poller.function_logical_id, 0) + poller.delivered
        return counts

    def drain(self, timeout: float = 30.0) -> dict[str, int]:
        """Deliver queued messages until every polled queue is empty and nothing is in flight.

        Polls every SQS event source mapping and rule delivery queue (whatever the handlers publish
        meanwhile is delivered too), waiting out retry delays, until all are empty (visible, in flight
        and delayed) and no batch is being processed. Works with or without background workers.

        Args:
            timeout: seconds before giving up.

        Returns:
            Messages delivered during the call per function logical id (each attempt counts), e.g.
            ``{"IngestWorkerFunction": 3, "ScoringWorkerFunction": 3}``; every polled function appears.

        Raises:
            TimeoutError: queues still busy at the deadline; the message names them with their backlog.
        """
        deadline = time.monotonic() + timeout
        before = self._delivered()
        while True:
            progressed = False
            for poller in self.pollers:
                if poller.poll_once(wait_seconds=0).delivered:
                    progressed = True
            if not progressed:
                busy = self._busy()
                if not busy:
                    break
            if time.monotonic() > deadline:
                busy = self._busy()
                if not busy:
                    break
                detail = ", ".join(f"{name} ({count} message(s))" for name, count in sorted(busy.items()))
                raise TimeoutError(f"drain timed out after {timeout:g} s; queues still busy: {detail}")
            if not progressed:
                time.sleep(0.05)
        after = self._delivered()
        return {name: after[name] - before.get(name, 0) for name in after}

    def schedule(self, name: str) -> Schedule:
        """Find a schedule by event name, resolved ``Name`` property or ``"<Function>.<Event>"``.

        Raises:
            KeyError: no schedule has that name.
            ValueError: several schedules share it (use ``"<Function>.<Event>"``).
        """
        matches = self.schedules.get(name)
        if not matches:
            raise KeyError(f"no schedule {name!r}; known: {sorted(self.schedules)}")
        if len(matches) > 1:
            options = sorted(f"{s.function_logical_id}.{s.event_name}" for s in matches)
            raise ValueError(f"schedule name {name!r} is ambiguous: use one of {options}")
        return matches[0]

    def schedule_event(self, schedule: Schedule) -> Any:
        """The event a schedule delivers: its ``Input`` JSON parsed, else ``{}`` for EventBridge
        Scheduler (ScheduleV2) or the ``"Scheduled Event"`` envelope for an EventBridge rule (Schedule).
        """
        raw = schedule.properties.get("Input")
        if raw is not None:
            return json.loads(raw) if isinstance(raw, str) else raw
        if schedule.type == "ScheduleV2":
            return {}
        rule_name = (
            schedule.name
            or f"{self.resources.stack_name}-{schedule.function_logical_id}{schedule.event_name}"
        )
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.resources.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.resources.region,
            "resources": [
                f"arn:aws:events:{self.resources.region}:{self.resources.account_id}:rule/{rule_name}"
            ],
            "detail": {},
        }

    def fire_schedule(self, name: str) -> Any:
        """Invoke a schedule's function now with the event the schedule would deliver; return the result.

        Args:
            name: the event name (``"Nightly"``), the schedule's resolved ``Name``
                (``"leadtide-dev-nightly-rescore"``) or ``"<FunctionLogicalId>.<EventName>"``.

        Raises:
            KeyError, ValueError: see :meth:`schedule`.
            Exception: whatever the handler raised.
        """
        schedule = self.schedule(name)
        return self.invoke(schedule.function_logical_id, self.schedule_event(schedule))

    def dead_letters(self, queue_logical_id: str) -> list[dict[str, Any]]:
        """The messages currently in a queue, left in it (peeked).

        Receives everything (which increments each message's receive count) and makes it visible again.

        Returns:
            boto3 ``Messages`` items: ``MessageId``, ``Body``, ``Attributes`` (incl.
            ``ApproximateReceiveCount``), ``MessageAttributes``, ``MD5OfBody``, ``ReceiptHandle``.

        Raises:
            KeyError: no such queue in the template.
        """
        try:
            queue = self.resources.queues[queue_logical_id]
        except KeyError:
            raise KeyError(f"no queue {queue_logical_id!r}; known: {sorted(self.resources.queues)}") from None
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            received = (
                sqs.receive_message(
                    QueueUrl=queue.url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=30,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages")
                or []
            )
            if not received:
                break
            messages.extend(received)
        for message in messages:
            sqs.change_message_visibility(
                QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return messages

    # ------------------------------------------------------------------ admin endpoints
    def _admin(self, request: HttpRequest) -> HttpResponse:
        path = request.raw_path[len(LOCAL_PREFIX) :].strip("/")
        parts = [unquote(part) for part in path.split("/")] if path else []
        query = parse_qs(request.raw_query)
        if request.method == "GET" and parts == ["health"]:
            return json_response(
                200, {"status": "ok", "base_url": self.base_url, "moto_endpoint": self.moto_endpoint}
            )
        if request.method == "GET" and parts == ["routes"]:
            return json_response(
                200,
                [
                    {
                        "routeKey": r.route_key,
                        "function": r.function_logical_id,
                        "authorized": r.authorizer is not None,
                    }
                    for r in self.routes
                ],
            )
        if request.method == "GET" and parts == ["resources"]:
            r = self.resources
            return json_response(
                200,
                {
                    "tables": r.tables,
                    "queues": {k: vars(v) for k, v in r.queues.items()},
                    "buses": r.buses,
                    "buckets": r.buckets,
                    "rules": {k: vars(v) for k, v in r.rules.items()},
                },
            )
        if request.method == "POST" and len(parts) == 3 and parts[0] == "schedules" and parts[2] == "fire":
            try:
                schedule = self.schedule(parts[1])
            except (KeyError, ValueError) as error:
                return json_response(404, {"message": str(error.args[0])})
            result = self.invoke(schedule.function_logical_id, self.schedule_event(schedule))
            return json_response(
                200, {"schedule": f"{schedule.function_logical_id}.{schedule.event_name}", "result": result}
            )
        if request.method == "POST" and parts == ["drain"]:
            timeout = float(query.get("timeout", ["30"])[0])
            if not math.isfinite(timeout) or timeout <= 0:
                return json_response(400, {"message": "timeout must be a positive number of seconds"})
            try:
                return json_response(200, {"delivered": self.drain(timeout=timeout)})
            except TimeoutError as error:
                return json_response(504, {"message": str(error)})
        return json_response(404, {"message": "Not Found"})


@contextlib.contextmanager
def running_stack(**options: Any) -> Iterator[LocalStack]:
    """``with running_stack(...) as stack:`` - :meth:`LocalStack.start` with the same options."""
    stack = LocalStack.start(**options)
    try:
        yield stack
    finally:
        stack.stop()
