"""Print the API's OpenAPI document (``make openapi`` writes it to docs/openapi.json)."""

from __future__ import annotations

import json
import sys

from leadtide_local.runtime import import_isolated
from leadtide_local.template import repo_root


def api_openapi_json() -> str:
    """Import the Api docs handler from functions/api and return the generated OpenAPI JSON of every API
    area (indented, sorted)."""
    module = import_isolated(
        repo_root() / "functions" / "api", "handle_api_docs", "leadtide_api_docs_handler"
    )
    return json.dumps(json.loads(module.openapi_json()), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(api_openapi_json())
