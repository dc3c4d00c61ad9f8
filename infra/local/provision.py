"""Creating a planned stack's resources (:func:`create_resources`): the template's tables, buckets, queues,
buses and rules, in moto (in-process or its server) or wherever botocore points. The plan - names, ARNs,
intrinsics - is :mod:`leadtide_local.resources`'s; function event rules get hidden delivery queues (see
that module's docstring)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3

from leadtide_local.resources import (
    _PARTITION,
    DEFAULT_STACK_NAME,
    EventSpec,
    FunctionSpec,
    QueueInfo,
    ResourceMap,
    RuleDelivery,
    RuleInfo,
    _bus_name,
    functions,
    plan_resources,
    to_cfn_string,
)

__all__ = ["create_resources"]

_QUEUE_POLICY = "AWS::SQS::QueuePolicy"

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
