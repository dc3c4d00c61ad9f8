"""Physical resources for a SAM template: names, intrinsic resolution, creation in moto, function specs.

Everything here is derived from the template, never from a hand-copied list: tables get the template's
key schema and indexes, queues their redrive policies, rules their event patterns and targets.

Naming (deterministic, so a name can be computed before anything exists):

=========================  ===================================================================
resource                   physical name
=========================  ===================================================================
AWS::DynamoDB::Table       ``TableName`` or ``f"{stack_name}-{LogicalId}"``
AWS::SQS::Queue            ``QueueName`` or ``f"{stack_name}-{LogicalId}"`` (+ ``.fifo``)
AWS::Events::EventBus      ``Name`` (required by CloudFormation)
AWS::Events::Rule          ``Name`` or ``f"{stack_name}-{LogicalId}"``
AWS::S3::Bucket            ``BucketName`` or ``f"{stack_name}-{LogicalId}"`` lower-cased
AWS::Serverless::Function  ``FunctionName`` or ``f"{stack_name}-{LogicalId}"``
=========================  ===================================================================

EventBridge rule targets that are Lambda functions (and SAM function events of type
``EventBridgeRule``/``CloudWatchEvent``) cannot be delivered by moto, which only delivers to SQS, logs,
archives and buses. For each of them :func:`create_resources` creates a hidden *delivery queue* as the
rule's target instead; the local runtime polls it and invokes the function with the event, as
EventBridge's asynchronous Lambda invocation would (see :class:`RuleDelivery`).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from leadtide_local.template import repo_root

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_STACK_NAME",
    "NO_VALUE",
    "REGION",
    "EventSpec",
    "FunctionSpec",
    "QueueInfo",
    "ResourceMap",
    "RuleDelivery",
    "RuleInfo",
    "function_environment",
    "functions",
    "plan_resources",
    "to_cfn_string",
]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DEFAULT_STACK_NAME = "leadtide-local"
_PARTITION = "aws"
_URL_SUFFIX = "amazonaws.com"
_CONDITION_FUNCTIONS = frozenset({"Fn::If", "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not"})

_TABLE = "AWS::DynamoDB::Table"
_QUEUE = "AWS::SQS::Queue"
_BUS = "AWS::Events::EventBus"
_RULE = "AWS::Events::Rule"
_BUCKET = "AWS::S3::Bucket"
_SAM_FUNCTION = "AWS::Serverless::Function"
_LAMBDA_FUNCTION = "AWS::Lambda::Function"
_HTTP_API = "AWS::Serverless::HttpApi"


class _NoValue:
    """The value of ``{"Ref": "AWS::NoValue"}``: removes the enclosing property or list item."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = _NoValue()


@dataclass(frozen=True)
class QueueInfo:
    """An SQS queue: ``url`` (as the endpoint returned it), ``arn`` and ``name``."""

    url: str
    arn: str
    name: str


@dataclass(frozen=True)
class RuleInfo:
    """An EventBridge rule: its ``name``, ``arn`` and the ``event_bus`` name it lives on."""

    name: str
    arn: str
    event_bus: str


@dataclass(frozen=True)
class RuleDelivery:
    """A rule target that is a Lambda function, delivered locally through a hidden SQS queue.

    Attributes:
        source: ``"<RuleLogicalId>.<TargetId>"`` for an AWS::Events::Rule target, or
            ``"<FunctionLogicalId>.<EventName>"`` for a SAM ``EventBridgeRule``/``CloudWatchEvent`` event.
        function_logical_id: the function to invoke.
        rule: the rule in moto that routes matching events to ``queue``.
        queue: the hidden queue moto sends the (InputTransformer-applied) event envelope to.
        input: the target's constant ``Input`` JSON text, which replaces the event (moto ignores it).
        input_path: the target's ``InputPath`` (``$.detail`` style), applied locally (moto ignores it).
    """

    source: str
    function_logical_id: str
    rule: RuleInfo
    queue: QueueInfo
    input: str | None = None
    input_path: str | None = None


class EventSpec(NamedTuple):
    """One entry of a SAM function's ``Events``: ``(name, type, properties)``, properties unresolved."""

    name: str
    type: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    """An ``AWS::Serverless::Function`` with ``Globals.Function`` merged in (SAM's merge rules).

    Attributes:
        logical_id: the template's logical id, e.g. ``"ApiFunction"``.
        code_uri: ``CodeUri`` as written, e.g. ``"functions/api/"``.
        handler: ``Handler`` as written, ``"module.function"`` (module may be dotted: ``"pkg.mod.fn"``).
        timeout: ``Timeout`` in seconds (SAM default 3).
        memory_size: ``MemorySize`` in MB (default 128).
        runtime: ``Runtime``, e.g. ``"python3.11"``.
        events: the function's events in template order.
        code_dir: absolute directory of the code (``code_uri`` against the template's directory).
        properties: every merged property, unresolved.
    """

    logical_id: str
    code_uri: str
    handler: str
    timeout: int
    memory_size: int
    runtime: str
    events: list[EventSpec]
    code_dir: Path
    properties: dict[str, Any] = field(repr=False)

    @property
    def handler_module(self) -> str:
        """The module part of ``handler``: ``"handle_webhook"`` for ``"handle_webhook.lambda_handler"``."""
        return self.handler.rsplit(".", 1)[0]

    @property
    def handler_function(self) -> str:
        """The function part of ``handler`` (``"lambda_handler"``)."""
        return self.handler.rsplit(".", 1)[1]


def to_cfn_string(value: Any) -> str:
    """Render a resolved value as CloudFormation renders it into a string property.

    ``True`` -> ``"true"``, ``3`` -> ``"3"``, lists -> comma-joined, dicts -> JSON.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return ",".join(to_cfn_string(item) for item in value)
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


def _is_intrinsic(value: Any) -> bool:
    """True for ``{"Ref": ...}``, ``{"Condition": ...}`` and ``{"Fn::...": ...}``."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


@dataclass
class ResourceMap:
    """Physical names per logical id for one template, and an evaluator for its intrinsic functions.

    Build one with :func:`plan_resources` (names only) or :func:`create_resources` (names, and the
    resources created in moto, queue URLs as the endpoint returned them).

    Attributes:
        template: the template (long-form intrinsics, see :func:`leadtide_local.template.load_template`).
        stack_name: prefix of generated names (``"leadtide-local"``).
        region: ``AWS::Region`` (``"us-east-1"``).
        account_id: ``AWS::AccountId`` (``"123456789012"``, moto's default account).
        parameters: parameter values (``Default`` unless overridden), e.g. ``{"Stage": "dev"}``.
        tables: ``{logical_id: table_name}``.
        queues: ``{logical_id: QueueInfo}``.
        buses: ``{logical_id: bus_name}``.
        buckets: ``{logical_id: bucket_name}``.
        rules: ``{logical_id: RuleInfo}``.
        functions: ``{logical_id: function_name}`` for SAM and plain Lambda functions.
        stream_arns: ``{table_logical_id: stream_arn}`` for tables with a stream (after creation).
        deliveries: rule targets that are functions (see :class:`RuleDelivery`), after creation.
    """

    template: dict[str, Any]
    stack_name: str = DEFAULT_STACK_NAME
    region: str = REGION
    account_id: str = ACCOUNT_ID
    parameters: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    queues: dict[str, QueueInfo] = field(default_factory=dict)
    buses: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)
    rules: dict[str, RuleInfo] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    stream_arns: dict[str, str] = field(default_factory=dict)
    deliveries: list[RuleDelivery] = field(default_factory=list)
    _conditions: dict[str, bool] = field(default_factory=dict, repr=False)
    _names: dict[str, str] = field(default_factory=dict, repr=False)
    _naming: set[str] = field(default_factory=set, repr=False)

    # ------------------------------------------------------------------ lookups
    @property
    def resource_definitions(self) -> dict[str, dict[str, Any]]:
        """The template's ``Resources`` section."""
        return self.template.get("Resources", {})

    def resource_type(self, logical_id: str) -> str:
        """Return the ``Type`` of a resource.

        Raises:
            KeyError: no resource has that logical id.
        """
        try:
            return self.resource_definitions[logical_id]["Type"]
        except KeyError:
            raise KeyError(f"no resource {logical_id!r} in the template") from None

    def function_arn(self, logical_id: str) -> str:
        """ARN of a function: ``arn:aws:lambda:<region>:<account>:function:<name>``."""
        name = self.physical_name(logical_id)
        return f"arn:{_PARTITION}:lambda:{self.region}:{self.account_id}:function:{name}"

    def function_for_arn(self, arn: str) -> str | None:
        """Return the logical id of the function with this ARN (aliases/versions ignored), else None."""
        parts = arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
            return None
        for logical_id, name in self.functions.items():
            if parts[6] == name:
                return logical_id
        return None

    def queue_for_arn(self, arn: str) -> str | None:
        """Return the logical id of the queue with this ARN, else None."""
        for logical_id, info in self.queues.items():
            if info.arn == arn:
                return logical_id
        return None

    def enabled(self, logical_id: str) -> bool:
        """Whether a resource exists for the current parameters (its ``Condition``, if any, is true)."""
        condition = self.resource_definitions[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    # ------------------------------------------------------------------ names
    def physical_name(self, logical_id: str) -> str:
        """Return the physical name of a resource (see the module docstring for the rules).

        Types without a local counterpart (Cognito pools, layers, ...) get ``f"{stack_name}-{LogicalId}"``;
        an HttpApi's id is ``"local"``.

        Raises:
            KeyError: unknown logical id.
            ValueError: a name depends on itself.
        """
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._naming:
            raise ValueError(f"the name of {logical_id!r} depends on itself")
        self._naming.add(logical_id)
        try:
            name = self._compute_name(logical_id)
        finally:
            self._naming.discard(logical_id)
        self._names[logical_id] = name
        return name

    def _compute_name(self, logical_id: str) -> str:
        kind = self.resource_type(logical_id)
        props = self.resource_definitions[logical_id].get("Properties") or {}
        default = f"{self.stack_name}-{logical_id}"

        def prop(key: str) -> str | None:
            return to_cfn_string(self.resolve(props[key])) if key in props else None

        if kind == _TABLE:
            return prop("TableName") or default
        if kind == _QUEUE:
            name = prop("QueueName") or default
            if self.resolve(props.get("FifoQueue", False)) in (True, "true") and not name.endswith(".fifo"):
                name += ".fifo"
            return name
        if kind == _BUS:
            return prop("Name") or default
        if kind == _RULE:
            return prop("Name") or default[:64]
        if kind == _BUCKET:
            return (prop("BucketName") or default).lower()
        if kind in (_SAM_FUNCTION, _LAMBDA_FUNCTION):
            return prop("FunctionName") or default
        if kind == _HTTP_API:
            return "local"
        return default

    def queue_url(self, logical_id: str) -> str:
        """URL of a queue: as created, else the AWS form ``https://sqs.<region>.amazonaws.com/<acct>/<name>``."""
        if logical_id in self.queues:
            return self.queues[logical_id].url
        return f"https://sqs.{self.region}.{_URL_SUFFIX}/{self.account_id}/{self.physical_name(logical_id)}"

    def arn(self, logical_id: str) -> str:
        """ARN of a resource, in the form AWS gives it for the resource's type."""
        kind = self.resource_type(logical_id)
        name = self.physical_name(logical_id)
        region, account = self.region, self.account_id
        if kind == _QUEUE:
            return f"arn:{_PARTITION}:sqs:{region}:{account}:{name}"
        if kind == _TABLE:
            return f"arn:{_PARTITION}:dynamodb:{region}:{account}:table/{name}"
        if kind == _BUS:
            return f"arn:{_PARTITION}:events:{region}:{account}:event-bus/{name}"
        if kind == _RULE:
            bus = self._rule_bus(logical_id)
            path = name if bus == "default" else f"{bus}/{name}"
            return f"arn:{_PARTITION}:events:{region}:{account}:rule/{path}"
        if kind == _BUCKET:
            return f"arn:{_PARTITION}:s3:::{name}"
        if kind in (_SAM_FUNCTION, _LAMBDA_FUNCTION):
            return self.function_arn(logical_id)
        service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "local"
        return f"arn:{_PARTITION}:{service}:{region}:{account}:{logical_id.lower()}/{name}"

    def _rule_bus(self, logical_id: str) -> str:
        props = self.resource_definitions[logical_id].get("Properties") or {}
        return _bus_name(self.resolve(props.get("EventBusName", "default")))

    # ------------------------------------------------------------------ intrinsics
    def condition(self, name: str) -> bool:
        """Evaluate a template condition by name (memoised).

        Raises:
            KeyError: the template has no such condition.
        """
        if name not in self._conditions:
            try:
                expression = self.template.get("Conditions", {})[name]
            except KeyError:
                raise KeyError(f"no condition {name!r} in the template") from None
            self._conditions[name] = bool(self.resolve(expression))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic function in ``value`` and return plain data.

        Supports ``Ref`` (resources, parameters, pseudo parameters ``AWS::Region``, ``AWS::AccountId``,
        ``AWS::StackName``, ``AWS::StackId``, ``AWS::Partition``, ``AWS::URLSuffix``,
        ``AWS::NotificationARNs``, ``AWS::NoValue``), ``Fn::GetAtt`` (``Arn`` for every type; SQS
        ``QueueName``/``QueueUrl``; DynamoDB ``StreamArn``; S3 ``DomainName``/``RegionalDomainName``;
        EventBus ``Name``), ``Fn::Sub`` (both forms, ``${!Literal}`` escapes), ``Fn::If``,
        ``Fn::Equals``, ``Fn::And``, ``Fn::Or``, ``Fn::Not``, ``Condition``, ``Fn::Join``,
        ``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``, ``Fn::Base64``, ``Fn::GetAZs``,
        ``Fn::ToJsonString`` and ``Fn::Length``. ``AWS::NoValue`` removes the enclosing key or list
        item; at the top level it yields None.

        Raises:
            KeyError: a Ref/GetAtt names an unknown resource, parameter or condition.
            ValueError: an unsupported function (``Fn::ImportValue``: there are no other stacks locally)
                or attribute.
        """
        result = self._resolve(value)
        return None if result is NO_VALUE else result

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                key, argument = next(iter(value.items()))
                if key == "Ref":
                    return self._ref(self._resolve(argument))
                if key == "Condition" and isinstance(argument, str):
                    return self.condition(argument)
                if key.startswith("Fn::"):
                    return self._function(key, argument)
            resolved = {}
            for key, item in value.items():
                result = self._resolve(item)
                if result is not NO_VALUE:
                    resolved[key] = result
            return resolved
        if isinstance(value, list):
            return [result for item in value if (result := self._resolve(item)) is not NO_VALUE]
        return value

    def _pseudo(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:{_PARTITION}:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/"
                "00000000-0000-0000-0000-000000000000"
            ),
            "AWS::Partition": _PARTITION,
            "AWS::URLSuffix": _URL_SUFFIX,
            "AWS::NotificationARNs": [],
        }
        return pseudo[name]

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise ValueError(f"Ref needs a name, got {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name.startswith("AWS::"):
            try:
                return self._pseudo(name)
            except KeyError:
                raise KeyError(f"unknown pseudo parameter {name!r}") from None
        if name in self.parameters:
            return self.parameters[name]
        kind = self.resource_type(name)  # KeyError for unknown names
        if kind == _QUEUE:
            return self.queue_url(name)
        return self.physical_name(name)

    def _get_att(self, argument: Any) -> Any:
        argument = self._resolve(argument)
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        else:
            logical_id, attribute = argument[0], argument[1]
        kind = self.resource_type(logical_id)
        if attribute == "Arn":
            return self.arn(logical_id)
        name = self.physical_name(logical_id)
        if kind == _QUEUE and attribute == "QueueName":
            return name
        if kind == _QUEUE and attribute == "QueueUrl":
            return self.queue_url(logical_id)
        if kind == _TABLE and attribute == "StreamArn":
            if logical_id in self.stream_arns:
                return self.stream_arns[logical_id]
            return f"{self.arn(logical_id)}/stream/1970-01-01T00:00:00.000"
        if kind == _BUCKET and attribute == "DomainName":
            return f"{name}.s3.{_URL_SUFFIX}"
        if kind == _BUCKET and attribute == "RegionalDomainName":
            return f"{name}.s3.{self.region}.{_URL_SUFFIX}"
        if kind == _BUS and attribute == "Name":
            return name
        raise ValueError(f"Fn::GetAtt {logical_id}.{attribute} ({kind}) is not supported locally")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self._resolve(v) for k, v in (argument[1] or {}).items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return to_cfn_string(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                return to_cfn_string(self._get_att(expression.split(".", 1)))
            return to_cfn_string(self._ref(expression))

        return re.sub(r"\$\{([^}]*)\}", replace, text)

    def _function(self, key: str, argument: Any) -> Any:
        """The value of the intrinsic function ``{key: argument}`` (the condition functions:
        :meth:`_condition_function`)."""
        if key in _CONDITION_FUNCTIONS:
            return self._condition_function(key, argument)
        if key == "Fn::GetAtt":
            return self._get_att(argument)
        if key == "Fn::Sub":
            return self._sub(argument)
        if key == "Fn::Join":
            delimiter, items = argument
            return delimiter.join(to_cfn_string(item) for item in self._resolve(items))
        if key == "Fn::Select":
            index, items = argument
            return self._resolve(items)[int(self._resolve(index))]
        if key == "Fn::Split":
            delimiter, text = argument
            return to_cfn_string(self._resolve(text)).split(delimiter)
        if key == "Fn::FindInMap":
            map_name, top, second = (self._resolve(item) for item in argument[:3])
            try:
                return self.template["Mappings"][map_name][top][second]
            except KeyError:
                raise KeyError(f"Fn::FindInMap {map_name}/{top}/{second} not found") from None
        if key == "Fn::Base64":
            return base64.b64encode(to_cfn_string(self._resolve(argument)).encode()).decode()
        if key == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if key == "Fn::ToJsonString":
            return json.dumps(self._resolve(argument), separators=(",", ":"))
        if key == "Fn::Length":
            return len(self._resolve(argument))
        if key == "Fn::ImportValue":
            raise ValueError("Fn::ImportValue is not supported locally: there are no other stacks")
        raise ValueError(f"intrinsic function {key} is not supported locally")

    def _condition_function(self, key: str, argument: Any) -> Any:
        """``Fn::If`` (the branch its condition picks, resolved), ``Fn::Equals``, ``Fn::And``, ``Fn::Or``,
        ``Fn::Not``."""
        if key == "Fn::If":
            condition, if_true, if_false = argument
            return self._resolve(if_true if self.condition(condition) else if_false)
        if key == "Fn::Equals":
            left, right = (self._resolve(item) for item in argument)
            return to_cfn_string(left) == to_cfn_string(right)
        if key == "Fn::And":
            return all(self._truth(item) for item in argument)
        if key == "Fn::Or":
            return any(self._truth(item) for item in argument)
        return not self._truth(argument[0])  # Fn::Not

    def _truth(self, item: Any) -> bool:
        if isinstance(item, dict) and set(item) == {"Condition"}:
            return self.condition(item["Condition"])
        return bool(self._resolve(item))


def _bus_name(value: Any) -> str:
    """EventBusName may be a name or an ARN (``...:event-bus/<name>``)."""
    text = to_cfn_string(value) or "default"
    return text.split("event-bus/", 1)[1] if "event-bus/" in text else text


def _parameter_values(template: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    overrides = dict(overrides or {})
    for name, spec in (template.get("Parameters") or {}).items():
        if name in overrides:
            value = overrides.pop(name)
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise ValueError(f"parameter {name!r} has no Default: pass it in parameter_overrides")
        allowed = spec.get("AllowedValues")
        if allowed is not None and to_cfn_string(value) not in [to_cfn_string(v) for v in allowed]:
            raise ValueError(f"parameter {name}={value!r} is not one of {allowed}")
        kind = spec.get("Type", "String")
        if kind == "CommaDelimitedList" or (kind.startswith("List<") and isinstance(value, str)):
            value = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
        values[name] = value
    if overrides:
        raise ValueError(f"unknown parameters in overrides: {sorted(overrides)}")
    return values


def plan_resources(
    template: dict[str, Any],
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    parameter_overrides: dict[str, Any] | None = None,
    region: str = REGION,
    account_id: str = ACCOUNT_ID,
) -> ResourceMap:
    """Compute physical names for a template's resources without creating anything.

    Queue URLs are in the AWS form until :func:`create_resources` replaces them with the endpoint's.
    Resources whose ``Condition`` is false are left out.

    Raises:
        ValueError: a parameter has no default and no override, or an override is unknown/not allowed.
    """
    resources = ResourceMap(
        template=template,
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=_parameter_values(template, parameter_overrides),
    )
    for logical_id, definition in resources.resource_definitions.items():
        if not resources.enabled(logical_id):
            continue
        kind = definition.get("Type")
        if kind == _TABLE:
            resources.tables[logical_id] = resources.physical_name(logical_id)
        elif kind == _QUEUE:
            name = resources.physical_name(logical_id)
            resources.queues[logical_id] = QueueInfo(
                url=resources.queue_url(logical_id), arn=resources.arn(logical_id), name=name
            )
        elif kind == _BUS:
            resources.buses[logical_id] = resources.physical_name(logical_id)
        elif kind == _BUCKET:
            resources.buckets[logical_id] = resources.physical_name(logical_id)
        elif kind == _RULE:
            resources.rules[logical_id] = RuleInfo(
                name=resources.physical_name(logical_id),
                arn=resources.arn(logical_id),
                event_bus=resources._rule_bus(logical_id),
            )
        elif kind in (_SAM_FUNCTION, _LAMBDA_FUNCTION):
            resources.functions[logical_id] = resources.physical_name(logical_id)
    return resources


# ---------------------------------------------------------------------- functions


def _merge_globals(global_value: Any, own_value: Any) -> Any:
    """SAM's Globals merge: maps merge key by key, lists concatenate (globals first), scalars override.

    An intrinsic function on either side is a scalar. Source: SAM developer guide, "Globals section of
    the AWS SAM template" (Overridable properties).
    """
    if (
        isinstance(global_value, dict)
        and isinstance(own_value, dict)
        and not _is_intrinsic(global_value)
        and not _is_intrinsic(own_value)
    ):
        merged = dict(global_value)
        for key, value in own_value.items():
            merged[key] = _merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(own_value, list):
        return global_value + own_value
    return own_value


def functions(template: dict[str, Any], *, base_dir: str | Path | None = None) -> dict[str, FunctionSpec]:
    """Return every ``AWS::Serverless::Function`` of the template, Globals merged, in template order.

    Args:
        template: a loaded template.
        base_dir: directory ``CodeUri`` is relative to (the template's directory); default the repo root.

    Raises:
        ValueError: a function has no ``Handler`` or a ``CodeUri`` that is not a local directory path.
    """
    base = Path(base_dir) if base_dir is not None else repo_root()
    global_props = ((template.get("Globals") or {}).get("Function")) or {}
    specs: dict[str, FunctionSpec] = {}
    for logical_id, definition in (template.get("Resources") or {}).items():
        if definition.get("Type") != _SAM_FUNCTION:
            continue
        props = _merge_globals(global_props, definition.get("Properties") or {})
        handler = props.get("Handler")
        code_uri = props.get("CodeUri", ".")
        if not isinstance(handler, str) or "." not in handler:
            raise ValueError(f"{logical_id}: Handler must be 'module.function', got {handler!r}")
        if not isinstance(code_uri, str):
            raise ValueError(f"{logical_id}: CodeUri {code_uri!r} is not a local path")
        events = [
            EventSpec(name, event.get("Type", ""), event.get("Properties") or {})
            for name, event in (props.get("Events") or {}).items()
        ]
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=code_uri,
            handler=handler,
            timeout=int(props.get("Timeout", 3)),
            memory_size=int(props.get("MemorySize", 128)),
            runtime=str(props.get("Runtime", "python3.11")),
            events=events,
            code_dir=(base / code_uri).resolve(),
            properties=props,
        )
    return specs


def function_environment(
    template: dict[str, Any], function_logical_id: str, resources: ResourceMap
) -> dict[str, str]:
    """Return a function's environment: ``Globals.Function.Environment.Variables`` merged with its own.

    Values are resolved against ``resources`` and rendered as strings the way CloudFormation does
    (``true``/``false`` for booleans). A variable whose value is ``AWS::NoValue`` is left out.

    Raises:
        KeyError: no such function, or a reference to an unknown resource/parameter.
    """
    specs = functions(template, base_dir=Path("."))
    if function_logical_id not in specs:
        raise KeyError(f"no AWS::Serverless::Function {function_logical_id!r} in the template")
    variables = ((specs[function_logical_id].properties.get("Environment") or {}).get("Variables")) or {}
    resolved = resources.resolve(variables) or {}
    return {name: to_cfn_string(value) for name, value in resolved.items()}


# ---------------------------------------------------------------------- creation
