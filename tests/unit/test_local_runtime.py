"""leadtide_local.runtime: handlers loaded lazily from CodeUri, one invocation at a time."""

from __future__ import annotations

import logging
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from leadtide_local.resources import FunctionSpec
from leadtide_local.runtime import LocalFunction


def _function(
    code_dir: Path, handler: str = "app.handler", logical_id: str = "Fn", timeout: int = 5
) -> LocalFunction:
    spec = FunctionSpec(
        logical_id=logical_id,
        code_uri=str(code_dir),
        handler=handler,
        timeout=timeout,
        memory_size=512,
        runtime="python3.11",
        events=[],
        code_dir=code_dir,
        properties={},
    )
    return LocalFunction(
        spec, f"stack-{logical_id}", f"arn:aws:lambda:us-east-1:123456789012:function:stack-{logical_id}"
    )


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


def test_handler_is_imported_on_first_invocation_with_a_context(tmp_path):
    # Given a handler that reports its context
    code = _write(
        tmp_path / "fn",
        {
            "app.py": """
            IMPORTED = True
            def handler(event, context):
                return {
                    "event": event,
                    "name": context.function_name,
                    "version": context.function_version,
                    "arn": context.invoked_function_arn,
                    "memory": context.memory_limit_in_mb,
                    "request": context.aws_request_id,
                    "group": context.log_group_name,
                    "remaining": context.get_remaining_time_in_millis(),
                }
            """
        },
    )
    function = _function(code)
    # When nothing was invoked yet / Then nothing was imported (a cold start happens on first use)
    assert function.module is None
    # When invoking twice
    first = function.invoke({"n": 1})
    second = function.invoke({"n": 2})
    # Then the handler got the event and a Lambda-like context, with a fresh request id each time
    assert first["event"] == {"n": 1}
    assert (first["name"], first["version"], first["memory"]) == ("stack-Fn", "$LATEST", 512)
    assert first["arn"].endswith(":function:stack-Fn")
    assert first["group"] == "/aws/lambda/stack-Fn"
    assert 4000 < first["remaining"] <= 5000
    assert first["request"] != second["request"]
    assert function.module.__name__ == "leadtide_fn_Fn_app"
    assert sys.modules["leadtide_fn_Fn_app"] is function.module
    assert function.invocations == 2


def test_sibling_modules_of_two_functions_do_not_shadow_each_other(tmp_path):
    # Given two code directories each with its own helpers.py
    for name in ("one", "two"):
        _write(
            tmp_path / name,
            {
                "helpers.py": f"WHO = {name!r}\n",
                "app.py": "import helpers\ndef handler(event, context):\n    return helpers.WHO\n",
            },
        )
    one = _function(tmp_path / "one", logical_id="One")
    two = _function(tmp_path / "two", logical_id="Two")
    try:
        # When both are invoked
        # Then each sees its own sibling module
        assert one.invoke({}) == "one"
        assert two.invoke({}) == "two"
        assert one.invoke({}) == "one"
        # And the code directories were only on sys.path while importing
        assert str(tmp_path / "one") not in sys.path and str(tmp_path / "two") not in sys.path
    finally:
        sys.modules.pop("helpers", None)


def test_missing_module_or_function_is_a_clear_import_error(tmp_path):
    # Given a directory without the handler's module, and a module without the function
    code = _write(tmp_path / "fn", {"app.py": "x = 1\n"})
    # When invoking / Then ImportError says what is missing
    with pytest.raises(ImportError, match="handler module 'nothere' not found"):
        _function(code, handler="nothere.handler").invoke({})
    with pytest.raises(ImportError, match=r"app\.handler is not a callable"):
        _function(code).invoke({})


def test_an_import_failure_names_the_file(tmp_path):
    # Given a module that raises at import
    code = _write(tmp_path / "fn", {"app.py": "raise RuntimeError('bad import')\n"})
    # When invoking / Then the ImportError names the file and the cause, and nothing is half-registered
    with pytest.raises(ImportError, match=r"app\.py failed: RuntimeError: bad import"):
        _function(code).invoke({})
    assert "leadtide_fn_Fn_app" not in sys.modules


def test_one_invocation_at_a_time(tmp_path):
    # Given a slow handler that tracks how many calls overlap
    code = _write(
        tmp_path / "fn",
        {
            "app.py": """
            import threading, time
            active = 0
            peak = 0
            lock = threading.Lock()
            def handler(event, context):
                global active, peak
                with lock:
                    active += 1
                    peak = max(peak, active)
                time.sleep(0.02)
                with lock:
                    active -= 1
                return peak
            """
        },
    )
    function = _function(code)
    # When eight threads invoke it at once
    threads = [threading.Thread(target=function.invoke, args=({},)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the calls never overlapped
    assert function.module.peak == 1
    assert function.invocations == 8


def test_running_past_the_timeout_is_logged_as_an_error(tmp_path, caplog):
    # Given a function whose Timeout is shorter than its work
    code = _write(
        tmp_path / "fn",
        {"app.py": "import time\ndef handler(e, c):\n    time.sleep(1.05)\n    return 'done'\n"},
    )
    function = _function(code, timeout=1)
    # When invoking
    with caplog.at_level(logging.ERROR, logger="leadtide_local.runtime"):
        started = time.monotonic()
        result = function.invoke({})
    # Then the result is returned but the overrun is reported
    assert result == "done" and time.monotonic() - started >= 1.0
    assert any("past its Timeout of 1 s" in record.getMessage() for record in caplog.records)
