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
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import boto3

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
    "create_resources",
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

_TABLE = "AWS::DynamoDB::Table"
_QUEUE = "AWS::SQS::Queue"
_QUEUE_POLICY = "AWS::SQS::QueuePolicy"
_BUS = "AWS::Events::EventBus"
_RULE = "AWS::Events::Rule"
_BUCKET = "AWS::S3::Bucket"
_SAM_FUNCTION = "AWS::Serverless::Function"
_LAMBDA_FUNCTION = "AWS::Lambda::Function"
_HTTP_API = "AWS::Serverless::HttpApi"

# CloudFormation AWS::SQS::Queue property -> SQS queue attribute name.
_QUEUE_ATTRIBUTES = {
    "ContentBasedDeduplication": "ContentBasedDeduplication",
    "DeduplicationScope": "DeduplicationScope",
    "DelaySeconds": "DelaySeconds",
    "FifoQueue": "FifoQueue",
    "FifoThroughputLimit": "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId": "KmsMasterKeyId",
    "MaximumMessageSize": "MaximumMessageSize",
    "MessageRetentionPeriod": "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy": "RedriveAllowPolicy",
    "RedrivePolicy": "RedrivePolicy",
    "SqsManagedSseEnabled": "SqsManagedSseEnabled",
    "VisibilityTimeout": "VisibilityTimeout",
}

# EventBridge target keys that PutTargets accepts and moto stores.
_TARGET_KEYS = (
    "Id",
    "Arn",
    "RoleArn",
    "Input",
    "InputPath",
    "InputTransformer",
    "SqsParameters",
    "RetryPolicy",
    "DeadLetterConfig",
    "HttpParameters",
)

_EVENT_RULE_TYPES = ("EventBridgeRule", "CloudWatchEvent")


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
        if key == "Fn::GetAtt":
            return self._get_att(argument)
        if key == "Fn::Sub":
            return self._sub(argument)
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
        if key == "Fn::Not":
            return not self._truth(argument[0])
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

    def _truth(self, item: Any) -> bool:
        if isinstance(item, dict) and set(item) == {"Condition"}:
            return self.condition(item["Condition"])
        return bool(self._resolve(item))


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation ``AWS::S3::Bucket`` lifecycle ``Rule`` in the S3 API's shape
    (``put_bucket_lifecycle_configuration``): ``Id`` -> ``ID``, ``Prefix`` -> ``Filter.Prefix`` (empty:
    the whole bucket), ``ExpirationInDays``/``ExpirationDate``/``ExpiredObjectDeleteMarker`` ->
    ``Expiration``, ``NoncurrentVersionExpirationInDays`` -> ``NoncurrentVersionExpiration``;
    ``NoncurrentVersionExpiration`` and ``AbortIncompleteMultipartUpload`` keep their shape. Transitions
    and tag filters are left out (storage classes mean nothing locally)."""
    out: dict[str, Any] = {
        "Status": rule.get("Status", "Enabled"),
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "Id" in rule:
        out["ID"] = rule["Id"]
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpirationDate" in rule:
        expiration["Date"] = rule["ExpirationDate"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = rule["ExpiredObjectDeleteMarker"] in (True, "true")
    if expiration:
        out["Expiration"] = expiration
    noncurrent = dict(rule.get("NoncurrentVersionExpiration") or {})
    if "NoncurrentVersionExpirationInDays" in rule:
        noncurrent["NoncurrentDays"] = rule["NoncurrentVersionExpirationInDays"]
    if noncurrent:
        out["NoncurrentVersionExpiration"] = {k: int(v) for k, v in noncurrent.items()}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
    return out


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


def _referenced_ids(value: Any) -> set[str]:
    """Logical ids a value refers to through Ref, Fn::GetAtt or Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item.split(".")[0] if isinstance(item, str) else item[0])
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) else item
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]*)\}", text))
                if isinstance(item, list):
                    found.update(_referenced_ids(item[1:]))
            else:
                found.update(_referenced_ids(item))
    elif isinstance(value, list):
        for item in value:
            found.update(_referenced_ids(item))
    return found


def _dependency_order(ids: Iterable[str], definitions: dict[str, dict[str, Any]]) -> list[str]:
    """Order ids so that each comes after the ids (from the same set) it refers to.

    Raises:
        ValueError: the references form a cycle.
    """
    pending = list(ids)
    wanted = set(pending)
    ordered: list[str] = []
    done: set[str] = set()
    while pending:
        progressed = False
        for logical_id in list(pending):
            needs = (_referenced_ids(definitions[logical_id].get("Properties")) & wanted) - {logical_id}
            if needs <= done:
                ordered.append(logical_id)
                done.add(logical_id)
                pending.remove(logical_id)
                progressed = True
        if not progressed:
            raise ValueError(f"circular references between {sorted(pending)}")
    return ordered


def _safe_queue_name(*parts: str) -> str:
    """A queue name (``[A-Za-z0-9_-]``, at most 80 characters) unique for ``parts``."""
    raw = "-".join(parts)
    name = re.sub(r"[^A-Za-z0-9_-]", "-", raw)
    if len(name) > 80:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
        name = f"{name[:71]}-{digest}"
    return name


class _Creator:
    """Creates a planned ResourceMap's resources through boto3 clients."""

    def __init__(self, resources: ResourceMap, session: boto3.session.Session, endpoint_url: str | None):
        self.resources = resources
        self.session = session
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, region_name=self.resources.region, endpoint_url=self.endpoint_url
            )
        return self._clients[service]

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources.resolve(self.resources.resource_definitions[logical_id].get("Properties") or {})

    # -- DynamoDB
    def create_table(self, logical_id: str) -> None:
        props = self.props(logical_id)
        name = self.resources.tables[logical_id]
        provisioned = props.get("BillingMode", "PROVISIONED") != "PAY_PER_REQUEST"

        def throughput(value: dict[str, Any] | None) -> dict[str, int]:
            value = value or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            return {k: int(value[k]) for k in ("ReadCapacityUnits", "WriteCapacityUnits")}

        params: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
        }
        if provisioned:
            params["ProvisionedThroughput"] = throughput(props.get("ProvisionedThroughput"))
        else:
            params["BillingMode"] = "PAY_PER_REQUEST"
        indexes = []
        for index in props.get("GlobalSecondaryIndexes") or []:
            entry = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
            if provisioned:
                entry["ProvisionedThroughput"] = throughput(index.get("ProvisionedThroughput"))
            indexes.append(entry)
        if indexes:
            params["GlobalSecondaryIndexes"] = indexes
        local_indexes = [
            {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
            for index in props.get("LocalSecondaryIndexes") or []
        ]
        if local_indexes:
            params["LocalSecondaryIndexes"] = local_indexes
        stream = props.get("StreamSpecification")
        if stream:
            params["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        dynamodb = self.client("dynamodb")
        description = dynamodb.create_table(**params)["TableDescription"]
        if description.get("LatestStreamArn"):
            self.resources.stream_arns[logical_id] = description["LatestStreamArn"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled") in (True, "true"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )

    # -- SQS
    def create_queue(self, logical_id: str) -> None:
        props = self.props(logical_id)
        attributes: dict[str, str] = {}
        for cfn_key, sqs_key in _QUEUE_ATTRIBUTES.items():
            if cfn_key not in props:
                continue
            value = props[cfn_key]
            if cfn_key in ("RedrivePolicy", "RedriveAllowPolicy") and isinstance(value, dict):
                value = json.dumps(value)
            attributes[sqs_key] = to_cfn_string(value)
        name = self.resources.queues[logical_id].name
        self._put_queue(logical_id, name, attributes)

    def _put_queue(self, logical_id: str | None, name: str, attributes: dict[str, str]) -> QueueInfo:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        info = QueueInfo(url=url, arn=arn, name=name)
        if logical_id is not None:
            self.resources.queues[logical_id] = info
        return info

    def apply_queue_policy(self, logical_id: str) -> None:
        props = self.props(logical_id)
        policy = props.get("PolicyDocument")
        for url in props.get("Queues") or []:
            self.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})

    # -- S3
    def create_bucket(self, logical_id: str) -> None:
        props = self.props(logical_id)
        name = self.resources.buckets[logical_id]
        s3 = self.client("s3")
        if self.resources.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.resources.region}
            )
        versioning = (props.get("VersioningConfiguration") or {}).get("Status")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
        # S3 -> EventBridge notifications ("Object Created" on the default bus); moto delivers them to the
        # rules whose pattern matches. Queue/topic/Lambda notification targets are not applied locally.
        notifications = props.get("NotificationConfiguration") or {}
        if (notifications.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled") in (True, "true"):
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        cors = (props.get("CorsConfiguration") or {}).get("CorsRules")
        if cors:
            # CloudFormation's CorsRule names differ from the S3 API's.
            renamed = {"MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders", "Id": "ID"}
            rules = [{renamed.get(k, k): v for k, v in rule.items()} for rule in cors]
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
        lifecycle = (props.get("LifecycleConfiguration") or {}).get("Rules")
        if lifecycle:
            # moto stores the rules (it never expires anything); applying them checks they translate.
            s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in lifecycle]}
            )

    # -- EventBridge
    def create_bus(self, logical_id: str) -> None:
        name = self.resources.buses[logical_id]
        if name != "default":
            self.client("events").create_event_bus(Name=name)

    def _delivery_queue(self, *parts: str, timeout: int) -> QueueInfo:
        name = _safe_queue_name(self.resources.stack_name, "delivery", *parts)
        return self._put_queue(None, name, {"VisibilityTimeout": str(max(timeout, 30))})

    def _function_timeout(self, function_logical_id: str) -> int:
        definition = self.resources.resource_definitions.get(function_logical_id, {})
        own = (definition.get("Properties") or {}).get("Timeout")
        global_timeout = ((self.resources.template.get("Globals") or {}).get("Function") or {}).get("Timeout")
        return int(own or global_timeout or 3)

    def create_rule(self, logical_id: str) -> None:
        props = self.props(logical_id)
        rule = self.resources.rules[logical_id]
        events = self.client("events")
        params: dict[str, Any] = {
            "Name": rule.name,
            "EventBusName": rule.event_bus,
            "State": props.get("State", "ENABLED"),
        }
        pattern = props.get("EventPattern")
        if pattern is not None:
            params["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        for key in ("ScheduleExpression", "Description"):
            if key in props:
                params[key] = props[key]
        events.put_rule(**params)
        targets = []
        for target in props.get("Targets") or []:
            function_id = self.resources.function_for_arn(to_cfn_string(target["Arn"]))
            if function_id is None:
                targets.append({k: target[k] for k in _TARGET_KEYS if k in target})
                continue
            queue = self._delivery_queue(
                logical_id, target["Id"], timeout=self._function_timeout(function_id)
            )
            entry = {"Id": target["Id"], "Arn": queue.arn}
            if "InputTransformer" in target:
                entry["InputTransformer"] = target["InputTransformer"]
            targets.append(entry)
            self.resources.deliveries.append(
                RuleDelivery(
                    source=f"{logical_id}.{target['Id']}",
                    function_logical_id=function_id,
                    rule=rule,
                    queue=queue,
                    input=target.get("Input"),
                    input_path=target.get("InputPath"),
                )
            )
        if targets:
            events.put_targets(Rule=rule.name, EventBusName=rule.event_bus, Targets=targets)

    def create_function_event_rule(self, spec: FunctionSpec, event: EventSpec) -> None:
        """SAM ``EventBridgeRule``/``CloudWatchEvent`` events: a rule whose target is the function."""
        props = self.resources.resolve(event.properties)
        bus = _bus_name(props.get("EventBusName", "default"))
        name = props.get("RuleName") or f"{self.resources.stack_name}-{spec.logical_id}-{event.name}"[:64]
        path = name if bus == "default" else f"{bus}/{name}"
        region, account = self.resources.region, self.resources.account_id
        rule = RuleInfo(
            name=name, arn=f"arn:{_PARTITION}:events:{region}:{account}:rule/{path}", event_bus=bus
        )
        events = self.client("events")
        events.put_rule(
            Name=name,
            EventBusName=bus,
            EventPattern=json.dumps(props.get("Pattern") or {}),
            State=props.get("State", "ENABLED"),
        )
        target_id = (props.get("Target") or {}).get("Id") or f"{spec.logical_id}{event.name}Target"[:64]
        queue = self._delivery_queue(spec.logical_id, event.name, timeout=spec.timeout)
        entry: dict[str, Any] = {"Id": target_id, "Arn": queue.arn}
        if "InputTransformer" in props:
            entry["InputTransformer"] = props["InputTransformer"]
        events.put_targets(Rule=name, EventBusName=bus, Targets=[entry])
        self.resources.deliveries.append(
            RuleDelivery(
                source=f"{spec.logical_id}.{event.name}",
                function_logical_id=spec.logical_id,
                rule=rule,
                queue=queue,
                input=props.get("Input"),
                input_path=props.get("InputPath"),
            )
        )


def create_resources(
    template: dict[str, Any],
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
    parameter_overrides: dict[str, Any] | None = None,
    base_dir: str | Path | None = None,
) -> ResourceMap:
    """Create the template's tables, queues, buses, rules and buckets, and return their names.

    Works against moto's server (``endpoint_url="http://127.0.0.1:<port>"``) and inside
    ``moto.mock_aws()`` in-process (``endpoint_url=None``; clients then follow the usual botocore
    configuration, including ``AWS_ENDPOINT_URL``).

    Created, in this order: AWS::DynamoDB::Table (KeySchema, AttributeDefinitions, GSIs, LSIs,
    BillingMode, StreamSpecification, TimeToLiveSpecification); AWS::S3::Bucket (versioning, CORS,
    EventBridge notifications, lifecycle rules); AWS::SQS::Queue (attributes; queues referenced by a
    RedrivePolicy first);
    AWS::SQS::QueuePolicy;
    AWS::Events::EventBus; AWS::Events::Rule (put_rule + put_targets, resolved ARNs); one rule per SAM
    function event of type EventBridgeRule/CloudWatchEvent. Function targets go through hidden delivery
    queues (see the module docstring). Encryption, PITR, tags and the like are ignored.

    Args:
        template: a loaded template (:func:`leadtide_local.template.load_template`).
        session: boto3 session for the clients; default a new one in ``us-east-1``.
        endpoint_url: where to send the calls; None for botocore's default resolution.
        stack_name: prefix for generated names.
        parameter_overrides: ``{"Stage": "prod"}``; others keep their ``Default``.
        base_dir: directory CodeUri paths are relative to (only used to list functions).

    Returns:
        The ResourceMap, queue URLs as the endpoint returned them.

    Raises:
        botocore.exceptions.ClientError: a resource already exists or moto rejected a definition.
        ValueError: see :func:`plan_resources`; circular queue references.
    """
    resources = plan_resources(template, stack_name=stack_name, parameter_overrides=parameter_overrides)
    creator = _Creator(
        resources, session or boto3.session.Session(region_name=resources.region), endpoint_url
    )
    definitions = resources.resource_definitions
    for logical_id in resources.tables:
        creator.create_table(logical_id)
    for logical_id in resources.buckets:
        creator.create_bucket(logical_id)
    for logical_id in _dependency_order(resources.queues, definitions):
        creator.create_queue(logical_id)
    for logical_id, definition in definitions.items():
        if definition.get("Type") == _QUEUE_POLICY and resources.enabled(logical_id):
            creator.apply_queue_policy(logical_id)
    for logical_id in resources.buses:
        creator.create_bus(logical_id)
    for logical_id in resources.rules:
        creator.create_rule(logical_id)
    for spec in functions(template, base_dir=base_dir if base_dir is not None else Path(".")).values():
        if spec.logical_id not in resources.functions:
            continue
        for event in spec.events:
            if event.type in _EVENT_RULE_TYPES:
                creator.create_function_event_rule(spec, event)
    return resources
