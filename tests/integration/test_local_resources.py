"""create_resources builds the real template.yaml's resources inside moto.mock_aws (in-process).

The expectations are read from the template itself where possible, so this test fails if the local
runtime drifts from the template rather than from a hand-copied list.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from leadtide_local.provision import create_resources
from leadtide_local.template import load_template

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "local_template" / "template.yaml"
pytestmark = pytest.mark.integration


@pytest.fixture
def aws(monkeypatch):
    """moto in-process, with test credentials and no endpoint override."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


@pytest.fixture
def template() -> dict:
    return load_template(REPO / "template.yaml")


def _key_schema(schema: list[dict]) -> list[tuple[str, str]]:
    return [(key["AttributeName"], key["KeyType"]) for key in schema]


def test_tables_have_the_templates_keys_and_indexes(aws, template):
    # Given the real template
    # When creating its resources in moto
    resources = create_resources(template)
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    # Then every table exists with the template's key schema, billing mode and GSIs
    declared = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"}
    assert set(resources.tables) == set(declared) == {"LeadsTable", "ChannelsTable"}
    for logical_id, definition in declared.items():
        table = dynamodb.describe_table(TableName=resources.tables[logical_id])["Table"]
        props = definition["Properties"]
        assert _key_schema(table["KeySchema"]) == _key_schema(props["KeySchema"])
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        created = {
            i["IndexName"]: _key_schema(i["KeySchema"]) for i in table.get("GlobalSecondaryIndexes", [])
        }
        wanted = {
            i["IndexName"]: _key_schema(i["KeySchema"]) for i in props.get("GlobalSecondaryIndexes", [])
        }
        assert created == wanted
    leads = dynamodb.describe_table(TableName="leadtide-local-LeadsTable")["Table"]
    assert {i["IndexName"] for i in leads["GlobalSecondaryIndexes"]} == {
        "leads_by_created",
        "leads_by_activity",
        "leads_by_score",
        "leads_by_condition_shard",
    }
    projections = {i["IndexName"]: i["Projection"] for i in leads["GlobalSecondaryIndexes"]}
    condition = projections.pop("leads_by_condition_shard")
    assert all(p["ProjectionType"] == "ALL" for p in projections.values())
    assert condition["ProjectionType"] == "INCLUDE" and "status" in condition["NonKeyAttributes"]


def test_queues_have_their_attributes_and_redrive_policies(aws, template):
    # Given the real template
    # When creating its resources
    resources = create_resources(template)
    sqs = boto3.client("sqs", region_name="us-east-1")
    # Then each work queue redrives to its dead-letter queue after the template's maxReceiveCount
    for queue, dead_letters in (
        ("IngestQueue", "IngestDeadLetterQueue"),
        ("ScoringQueue", "ScoringDeadLetterQueue"),
    ):
        attributes = sqs.get_queue_attributes(QueueUrl=resources.queues[queue].url, AttributeNames=["All"])[
            "Attributes"
        ]
        props = template["Resources"][queue]["Properties"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == resources.queues[dead_letters].arn
        assert int(redrive["maxReceiveCount"]) == props["RedrivePolicy"]["maxReceiveCount"] == 5
        assert attributes["VisibilityTimeout"] == str(props["VisibilityTimeout"])
        assert attributes["MessageRetentionPeriod"] == str(props["MessageRetentionPeriod"])
    # And the queue URLs are the ones the endpoint returned (what the functions' environment gets)
    assert (
        resources.queues["IngestQueue"].url
        == sqs.get_queue_url(QueueName="leadtide-local-IngestQueue")["QueueUrl"]
    )
    # And the queue policy letting the rule send to the scoring queue is applied
    policy = sqs.get_queue_attributes(
        QueueUrl=resources.queues["ScoringQueue"].url, AttributeNames=["Policy"]
    )
    statement = json.loads(policy["Attributes"]["Policy"])["Statement"][0]
    assert (
        statement["Condition"]["ArnEquals"]["aws:SourceArn"]
        == resources.rules["LeadActivityToScoringRule"].arn
    )


def test_the_event_rule_routes_lead_events_to_the_scoring_queue(aws, template):
    # Given the real template's bus, rule and scoring queue
    resources = create_resources(template)
    events = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    rule = resources.rules["LeadActivityToScoringRule"]
    described = events.describe_rule(Name=rule.name, EventBusName=rule.event_bus)
    assert (
        json.loads(described["EventPattern"])
        == template["Resources"]["LeadActivityToScoringRule"]["Properties"]["EventPattern"]
    )
    targets = events.list_targets_by_rule(Rule=rule.name, EventBusName=rule.event_bus)["Targets"]
    assert [t["Arn"] for t in targets] == [resources.queues["ScoringQueue"].arn]
    # When a matching and a non-matching event are put on the bus
    events.put_events(
        Entries=[
            {
                "Source": "leadtide.leads",
                "DetailType": "lead.created",
                "Detail": '{"lead_id": "L1"}',
                "EventBusName": rule.event_bus,
            },
            {
                "Source": "leadtide.leads",
                "DetailType": "lead.score_changed",  # the scoring worker's own output: never routed back
                "Detail": '{"lead_id": "L2"}',
                "EventBusName": rule.event_bus,
            },
        ]
    )
    # Then only the matching one reaches the scoring queue, as the EventBridge envelope
    messages = sqs.receive_message(QueueUrl=resources.queues["ScoringQueue"].url, MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert [json.loads(m["Body"])["detail"] for m in messages] == [{"lead_id": "L1"}]


def test_bus_and_bucket_exist_and_parameters_are_honoured(aws, template):
    # Given Stage=prod
    # When creating the resources
    resources = create_resources(template, parameter_overrides={"Stage": "prod"}, stack_name="it")
    # Then the bus is named for the stage, the bucket exists lower-cased and versioned
    assert resources.buses == {"LeadtideEventBus": "leadtide-prod"}
    assert (
        boto3.client("events", region_name="us-east-1").describe_event_bus(Name="leadtide-prod")["Name"]
        == "leadtide-prod"
    )
    s3 = boto3.client("s3", region_name="us-east-1")
    assert resources.buckets == {"ArtifactsBucket": "it-artifactsbucket"}
    assert s3.get_bucket_versioning(Bucket="it-artifactsbucket")["Status"] == "Enabled"


def test_function_targets_get_delivery_queues(aws):
    # Given the fixture template: a rule targeting a function and a SAM EventBridgeRule event
    resources = create_resources(load_template(FIXTURE), base_dir=FIXTURE.parent)
    events = boto3.client("events", region_name="us-east-1")
    # When listing what was created
    deliveries = {d.source: d for d in resources.deliveries}
    # Then each function target is a hidden queue the rule sends to, with the target's InputPath kept
    assert set(deliveries) == {"TargetedToFunctionRule.DirectFunction", "DirectFunction.DirectRule"}
    targeted = deliveries["TargetedToFunctionRule.DirectFunction"]
    assert targeted.input_path == "$.detail"
    rule = resources.rules["TargetedToFunctionRule"]
    assert [
        t["Arn"] for t in events.list_targets_by_rule(Rule=rule.name, EventBusName="fixture-dev")["Targets"]
    ] == [targeted.queue.arn]
    sam_rule = deliveries["DirectFunction.DirectRule"].rule
    pattern = json.loads(events.describe_rule(Name=sam_rule.name, EventBusName="fixture-dev")["EventPattern"])
    assert pattern == {"source": ["fixture.direct"], "detail": {"priority": [{"numeric": [">", 5]}]}}


def test_streams_local_indexes_ttl_provisioned_and_fifo(aws, tmp_path):
    # Given a template with the less common shapes
    file = tmp_path / "template.yaml"
    file.write_text(
        textwrap.dedent(
            """
            Resources:
              Table:
                Type: AWS::DynamoDB::Table
                Properties:
                  AttributeDefinitions:
                    - { AttributeName: pk, AttributeType: S }
                    - { AttributeName: sk, AttributeType: S }
                    - { AttributeName: at, AttributeType: N }
                  KeySchema:
                    - { AttributeName: pk, KeyType: HASH }
                    - { AttributeName: sk, KeyType: RANGE }
                  ProvisionedThroughput: { ReadCapacityUnits: 2, WriteCapacityUnits: "3" }
                  LocalSecondaryIndexes:
                    - IndexName: by_at
                      KeySchema:
                        - { AttributeName: pk, KeyType: HASH }
                        - { AttributeName: at, KeyType: RANGE }
                      Projection: { ProjectionType: KEYS_ONLY }
                  StreamSpecification: { StreamViewType: NEW_AND_OLD_IMAGES }
                  TimeToLiveSpecification: { AttributeName: expires_at, Enabled: true }
              Jobs:
                Type: AWS::SQS::Queue
                Properties: { FifoQueue: true, ContentBasedDeduplication: true }
              Delayed:
                Type: AWS::SQS::Queue
                Properties: { DelaySeconds: 1 }
            """
        )
    )
    # When creating them
    resources = create_resources(load_template(file))
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    table = dynamodb.describe_table(TableName=resources.tables["Table"])["Table"]
    # Then the stream, LSI, throughput and TTL are as declared, and the FIFO queue got its suffix
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert resources.stream_arns["Table"] == table["LatestStreamArn"]
    assert resources.resolve({"Fn::GetAtt": ["Table", "StreamArn"]}) == table["LatestStreamArn"]
    assert table["LocalSecondaryIndexes"][0]["IndexName"] == "by_at"
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    ttl = dynamodb.describe_time_to_live(TableName=resources.tables["Table"])["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert resources.queues["Jobs"].name.endswith(".fifo")
    attributes = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=resources.queues["Jobs"].url, AttributeNames=["All"]
    )["Attributes"]
    assert (attributes["FifoQueue"], attributes["ContentBasedDeduplication"]) == ("true", "true")
    delayed = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=resources.queues["Delayed"].url, AttributeNames=["DelaySeconds"]
    )
    assert delayed["Attributes"]["DelaySeconds"] == "1"
