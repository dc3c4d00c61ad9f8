"""Load a SAM/CloudFormation template with its short-form intrinsic tags.

CloudFormation YAML allows short tags (``!Ref X``, ``!GetAtt A.B``, ``!Sub "..."``) that plain YAML
loaders reject. :func:`load_template` turns each into its long JSON form (``{"Ref": "X"}``,
``{"Fn::GetAtt": ["A", "B"]}``, ``{"Fn::Sub": "..."}``) so the rest of the local runtime only has to
understand one syntax. Source: AWS CloudFormation User Guide, "Intrinsic function reference".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["CloudFormationLoader", "load_template", "repo_root"]

# Short tag -> long-form key. !Ref, !GetAtt and !Condition are special-cased below.
_FN_TAGS = (
    "Sub",
    "If",
    "Equals",
    "Join",
    "Select",
    "Split",
    "And",
    "Or",
    "Not",
    "FindInMap",
    "ImportValue",
    "Base64",
    "GetAZs",
    "Cidr",
    "Length",
    "ToJsonString",
    "Transform",
)


class CloudFormationLoader(yaml.SafeLoader):
    """A ``yaml.SafeLoader`` that understands CloudFormation's short-form intrinsic tags.

    It also leaves unquoted ISO dates (``AWSTemplateFormatVersion: 2010-09-09``) as strings, as
    CloudFormation does, instead of turning them into ``datetime.date``.
    """


# Drop the implicit timestamp resolver (copy the table first: it is shared with SafeLoader).
CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_any(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _construct_any(loader, node)}


def _condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _construct_any(loader, node)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct_any(loader, node)
    if isinstance(value, str):
        # "Resource.Attribute" - attributes may themselves contain dots (Endpoint.Address).
        resource, _, attribute = value.partition(".")
        if not attribute:
            raise yaml.constructor.ConstructorError(
                None, None, f"!GetAtt {value!r} needs the form Resource.Attribute", node.start_mark
            )
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


def _make_fn(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _construct_any(loader, node)}

    return construct


CloudFormationLoader.add_constructor("!Ref", _ref)
CloudFormationLoader.add_constructor("!Condition", _condition)
CloudFormationLoader.add_constructor("!GetAtt", _get_att)
for _name in _FN_TAGS:
    CloudFormationLoader.add_constructor(f"!{_name}", _make_fn(_name))


def repo_root() -> Path:
    """Return the repository root: the directory that holds ``template.yaml``.

    Looks next to this package first (``<repo>/infra/local``, the editable install), then in the
    current directory and its parents.

    Raises:
        FileNotFoundError: no ``template.yaml`` was found in either place.
    """
    here = Path(__file__).resolve().parents[2]
    if (here / "template.yaml").is_file():
        return here
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if (candidate / "template.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no template.yaml found above {here} or {cwd}")


def load_template(path: str | Path | None = None) -> dict[str, Any]:
    """Read a SAM template and return it as a dict with intrinsics in long form.

    Args:
        path: the template file; default ``<repo>/template.yaml``.

    Returns:
        The template as nested dicts/lists, e.g. ``{"Resources": {"Q": {"Type": "AWS::SQS::Queue",
        "Properties": {"RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["DLQ", "Arn"]}}}}}}``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a YAML mapping with a ``Resources`` section.
        yaml.YAMLError: the YAML itself is malformed.
    """
    file = Path(path) if path is not None else repo_root() / "template.yaml"
    with file.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise ValueError(f"{file} is not a CloudFormation template (no Resources mapping)")
    return document
