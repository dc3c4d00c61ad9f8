"""Check that every function's unzipped size (its code plus its layers) stays under Lambda's 250 MB limit.

Usage: python infra/check_package_sizes.py .aws-sam/build  (after `sam build`). Prints a table and exits
1 when a function is over the limit. Source of the limit: AWS Lambda quotas, "Deployment package (.zip
file archive) size: 250 MB (unzipped, including layers)".
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

LIMIT_BYTES = 250 * 1024 * 1024


class _Loader(yaml.SafeLoader):
    """Reads the built template, ignoring CloudFormation short tags."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def tree_size(path: Path) -> int:
    """Total bytes of the regular files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def function_sizes(build_dir: Path) -> dict[str, tuple[int, int]]:
    """{function logical id: (own code bytes, code + layers bytes)} from the built template."""
    template = yaml.load((build_dir / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    resources = template["Resources"]
    layer_bytes = {
        name: tree_size(build_dir / name)
        for name, res in resources.items()
        if res["Type"] == "AWS::Serverless::LayerVersion"
    }
    global_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    sizes = {}
    for name, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        own = tree_size(build_dir / name)
        # SAM appends a function's own Layers to the Globals list (it does not replace it).
        layers = [*global_layers, *(res["Properties"].get("Layers") or [])]
        # Layers are written as {"Ref": Name} (or "Name" after the short-tag loader drops the tag).
        names = [layer.get("Ref") if isinstance(layer, dict) else layer for layer in layers]
        total = (
            own + sum(layer_bytes.get(n, 0) for n in names if n)
            if any(names)
            else own + sum(layer_bytes.values())
        )
        sizes[name] = (own, total)
    return sizes


def main(argv: list[str]) -> int:
    build_dir = Path(argv[1] if len(argv) > 1 else ".aws-sam/build")
    sizes = function_sizes(build_dir)
    worst = 0
    print(f"{'function':32} {'code MB':>9} {'code+layers MB':>15}  limit 250 MB")
    for name, (own, total) in sorted(sizes.items()):
        print(
            f"{name:32} {own / 2**20:9.2f} {total / 2**20:15.2f}  {'OK' if total < LIMIT_BYTES else 'OVER'}"
        )
        worst = max(worst, total)
    return 0 if worst < LIMIT_BYTES else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
