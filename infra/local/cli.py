"""The ``leadtide`` command: the local runtime and the demo.

::

    leadtide local serve [--port 3000] [--host 127.0.0.1] [--verbose] [--template PATH]
    leadtide local token --tenant T --role admin|manager|rep [--user U] [--email E] [--ttl SECONDS]
    leadtide local fire NAME [--url http://127.0.0.1:3000]
    leadtide local drain [--url http://127.0.0.1:3000] [--timeout 30]
    leadtide demo            (also: leadtide local demo)
    leadtide model train [--starter] [--tenant T] [--dataset xeducation] [--rows N]
    leadtide model evaluate --dataset xeducation|bank|olist|all [--data-dir ../shared/data] [--write docs/benchmarks.md]
    leadtide import FILE [--strategy skip|update|create] [--key email] [--mapping-name N]
                    [--invalid-values drop_field|reject_row] [--endpoint URL]
    leadtide import --rollback IMPORT_ID --endpoint URL

``fire`` and ``drain`` talk to a running ``serve`` through its ``/_local/`` admin endpoints.
Exit status: 0 on success, 1 when a request to ``serve`` failed, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

__all__ = ["main"]

_DEFAULT_URL = "http://127.0.0.1:3000"


def _serve(args: argparse.Namespace) -> int:
    import signal

    from leadtide_local.stack import LocalStack

    stack = LocalStack.start(
        template_path=args.template,
        port=args.port,
        host=args.host,
        background_workers=True,
        quiet=not args.verbose,
    )
    stopped = threading.Event()

    def request_stop(*_: object) -> None:
        stopped.set()

    # Our own handlers: a SIGINT inherited as ignored (a background job) must still stop the server.
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"Leadtide local API   {stack.base_url}")
        print(f"moto endpoint        {stack.moto_endpoint}   (AWS_ENDPOINT_URL for the AWS CLI/boto3)")
        print(f"routes               {len(stack.routes)}; queues polled: {len(stack.pollers)}")
        print("token                leadtide local token --tenant acme --role admin")
        example = "$(leadtide local token --tenant acme --role admin)"
        print(f'                     curl -H "Authorization: Bearer {example}" {stack.base_url}/leads')
        names = ", ".join(sorted(stack.schedules)) or "none"
        print(f"schedules            leadtide local fire NAME --url {stack.base_url}   ({names})")
        print("Ctrl-C to stop.", flush=True)
        while not stopped.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("\nstopping...", flush=True)
        stack.stop()
    return 0


def _token(args: argparse.Namespace) -> int:
    from leadtide_local.auth import issue_token

    try:
        print(issue_token(args.tenant, args.role, args.user, args.email, args.ttl))
    except ValueError as error:
        print(f"leadtide local token: {error}", file=sys.stderr)
        return 2
    return 0


def _post(url: str) -> tuple[int, object]:
    request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 - a local URL the user gives
    try:
        with urllib.request.urlopen(request, timeout=900) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body)
        except ValueError:
            return error.code, body.decode(errors="replace")


def _call_server(url: str) -> int:
    try:
        status, payload = _post(url)
    except urllib.error.URLError as error:
        print(
            f"cannot reach {url}: {error.reason} (is `leadtide local serve` running there?)", file=sys.stderr
        )
        return 1
    print(json.dumps(payload, indent=2, default=str))
    return 0 if 200 <= status < 300 else 1


def _fire(args: argparse.Namespace) -> int:
    return _call_server(f"{args.url.rstrip('/')}/_local/schedules/{quote(args.name, safe='')}/fire")


def _drain(args: argparse.Namespace) -> int:
    return _call_server(f"{args.url.rstrip('/')}/_local/drain?timeout={args.timeout:g}")


def _demo(args: argparse.Namespace) -> int:
    demo = importlib.import_module("leadtide_local.demo")  # imported on demand: it pulls in requests
    result = demo.main()
    return result if isinstance(result, int) else 0


def _model_train(args: argparse.Namespace) -> int:
    ml_demo = importlib.import_module("leadtide_local.ml_demo")  # on demand: pulls in scikit-learn
    return int(
        ml_demo.main(
            starter=args.starter,
            tenant=args.tenant,
            dataset=args.dataset,
            rows=args.rows,
            scoring_model_id=args.scoring_model,
            data_dir=args.data_dir,
        )
    )


def _model_evaluate(args: argparse.Namespace) -> int:
    from leadtide_local.ml_evaluate import main as evaluate_main  # on demand: pulls in scikit-learn

    return evaluate_main(args.dataset, args.data_dir, args.write, throughput=not args.no_throughput)


def _import(args: argparse.Namespace) -> int:
    command = importlib.import_module("leadtide_local.import_command")
    return int(command.main(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadtide", description="Leadtide developer commands.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the demo on the embedded local stack")
    demo.set_defaults(run=_demo)

    local = commands.add_parser("local", help="the local runtime (moto + in-process Lambda handlers)")
    actions = local.add_subparsers(dest="action", required=True)

    serve = actions.add_parser("serve", help="serve the HTTP API and run the workers until Ctrl-C")
    serve.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000; 0 for any free port)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument(
        "--verbose", action="store_true", help="access log, moto requests, Powertools at template level"
    )
    serve.add_argument("--template", default=None, help="SAM template (default <repo>/template.yaml)")
    serve.set_defaults(run=_serve)

    token = actions.add_parser("token", help="print a JWT the local API accepts")
    token.add_argument("--tenant", required=True, help="custom:tenant_id")
    token.add_argument("--role", required=True, choices=["admin", "manager", "rep"], help="custom:role")
    token.add_argument("--user", default="local-user", help="sub (default local-user)")
    token.add_argument("--email", default=None, help="email (default <user>@<tenant>.local)")
    token.add_argument("--ttl", type=int, default=43200, help="lifetime in seconds (default 43200)")
    token.set_defaults(run=_token)

    fire = actions.add_parser("fire", help="fire a schedule on a running `serve`")
    fire.add_argument("name", help='event name ("Nightly"), schedule Name, or "<Function>.<Event>"')
    fire.add_argument("--url", default=_DEFAULT_URL, help=f"base URL of `serve` (default {_DEFAULT_URL})")
    fire.set_defaults(run=_fire)

    drain = actions.add_parser("drain", help="deliver every queued message on a running `serve`")
    drain.add_argument("--url", default=_DEFAULT_URL, help=f"base URL of `serve` (default {_DEFAULT_URL})")
    drain.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    drain.set_defaults(run=_drain)

    local_demo = actions.add_parser("demo", help="same as `leadtide demo`")
    local_demo.set_defaults(run=_demo)

    model = commands.add_parser("model", help="predictive scoring models (train, evaluate)")
    model_actions = model.add_subparsers(dest="action", required=True)
    train = model_actions.add_parser(
        "train", help="train on X Education leads on the local stack, store, register and predict"
    )
    train.add_argument("--starter", action="store_true", help="train and store the shared starter model")
    train.add_argument(
        "--tenant", default="xedu-demo", help="tenant to import the sample into (default xedu-demo)"
    )
    train.add_argument("--dataset", default="xeducation", choices=["xeducation"], help="sample data set")
    train.add_argument("--rows", type=int, default=1500, help="closed leads to import (default 1500)")
    train.add_argument("--scoring-model", default="default", help="scoring model id (default 'default')")
    train.add_argument("--data-dir", type=Path, default=None, help="folder of xeducation_leads.csv")
    train.set_defaults(run=_model_train)
    evaluate = model_actions.add_parser(
        "evaluate",
        help="Leadtide's model vs logistic regression and Odoo naive Bayes on public lead datasets",
    )
    evaluate.add_argument("--dataset", default="all", choices=["xeducation", "bank", "olist", "all"])
    evaluate.add_argument(
        "--data-dir", type=Path, default=None, help="default ../shared/data beside the repo"
    )
    evaluate.add_argument(
        "--write", type=Path, default=None, help="replace the bench:ml section of this file"
    )
    evaluate.add_argument("--no-throughput", action="store_true", help="skip the scoring-throughput timing")
    evaluate.set_defaults(run=_model_evaluate)

    imp = commands.add_parser("import", help="import a CSV/TSV/XLSX of leads (embedded stack or --endpoint)")
    imp.add_argument("file", nargs="?", help="the file to import")
    imp.add_argument("--strategy", default="skip", choices=["skip", "update", "create"], help="on a match")
    imp.add_argument("--key", default="email", help="match on email (default), phone or custom:<key>")
    imp.add_argument("--update-mode", default="fill_empty", choices=["fill_empty", "overwrite"])
    imp.add_argument("--mapping-name", default=None, help="a saved column mapping to use")
    imp.add_argument(
        "--invalid-values",
        default="drop_field",
        choices=["drop_field", "reject_row"],
        help="an unusable value (bad phone, email, custom value): drop it and import the row (default) "
        "or reject the row",
    )
    imp.add_argument("--endpoint", default=None, help="base URL of a running `leadtide local serve`")
    imp.add_argument("--rollback", default=None, metavar="IMPORT_ID", help="roll this import back instead")
    imp.add_argument("--tenant", default="acme", help="tenant (default acme)")
    imp.add_argument("--user", default="local-user", help="user id of the admin token (default local-user)")
    imp.set_defaults(run=_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``leadtide`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = _parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
