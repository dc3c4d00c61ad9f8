"""Print the Api function's OpenAPI document (``make openapi`` writes it to docs/openapi.json)."""

from __future__ import annotations

import importlib.util
import json
import sys

from leadtide_local.template import repo_root


def api_openapi_json() -> str:
    """Import the Api handler from functions/api and return its generated OpenAPI JSON (indented, sorted)."""
    path = repo_root() / "functions" / "api" / "handle_api_request.py"
    spec = importlib.util.spec_from_file_location("leadtide_api_handler", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return json.dumps(json.loads(module.openapi_json()), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(api_openapi_json())
