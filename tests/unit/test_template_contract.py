"""template.yaml keeps its promises: encryption, recovery, dead-letter queues, least privilege, public routes."""

import pytest

from leadtide_local.template import load_template
from tests.conftest import REPO_ROOT

TEMPLATE = load_template(REPO_ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]


def _of_type(kind: str) -> dict:
    return {name: res for name, res in RESOURCES.items() if res["Type"] == kind}


def test_tables_are_on_demand_encrypted_and_recoverable():
    tables = _of_type("AWS::DynamoDB::Table")
    assert set(tables) == {"LeadsTable", "ChannelsTable"}
    for name, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        assert table["DeletionPolicy"] == "Retain", name


def test_every_work_queue_has_a_dead_letter_queue():
    queues = _of_type("AWS::SQS::Queue")
    work = {n: q for n, q in queues.items() if "DeadLetter" not in n}
    assert work, "no queues"
    for name, queue in work.items():
        redrive = queue["Properties"]["RedrivePolicy"]
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert dlq in queues and 1 < redrive["maxReceiveCount"] <= 10, name
        # "Using Lambda with Amazon SQS": set the queue's visibility timeout to at least six times the
        # function's timeout, so retries after throttling do not redeliver a record still being processed.
        consumers = [
            f
            for f in _of_type("AWS::Serverless::Function").values()
            for e in f["Properties"].get("Events", {}).values()
            if e["Type"] == "SQS" and e["Properties"]["Queue"]["Fn::GetAtt"][0] == name
        ]
        for fn in consumers:
            assert queue["Properties"]["VisibilityTimeout"] >= 6 * fn["Properties"]["Timeout"], name


def test_sqs_consumers_report_partial_batch_failures():
    for name, fn in _of_type("AWS::Serverless::Function").items():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name


def test_bucket_is_encrypted_private_and_tls_only():
    props = RESOURCES["ArtifactsBucket"]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    (statement,) = RESOURCES["ArtifactsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


PUBLIC_ROUTES = {
    ("GET", "/webhooks/whatsapp"),
    ("POST", "/webhooks/whatsapp"),
    ("GET", "/webhooks/instagram"),
    ("POST", "/webhooks/instagram"),
    ("POST", "/webhooks/twilio"),
    ("POST", "/forms/{form_id}/submissions"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("POST", "/track/events"),  # tracking with an integration API key (checked in the Api function)
}


def test_only_webhooks_forms_and_docs_are_public():
    api = RESOURCES["HttpApi"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "CognitoJwt"
    public = set()
    for fn in _of_type("AWS::Serverless::Function").values():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi" and event["Properties"].get("Auth", {}).get("Authorizer") == "NONE":
                public.add((event["Properties"]["Method"], event["Properties"]["Path"]))
    assert public == PUBLIC_ROUTES


def _policy_text(function: str) -> str:
    return repr(RESOURCES[function]["Properties"].get("Policies", []))


@pytest.mark.parametrize(
    ("function", "allowed", "forbidden"),
    [
        (
            "WebhooksFunction",
            ["ChannelsTable", "IngestQueue", "GetSecretValue", "dynamodb:UpdateItem"],
            [
                "LeadsTable",
                "DynamoDBCrudPolicy",
                "CreateSecret",
                "EventBridgePutEventsPolicy",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
            ],
        ),
        (
            "IngestWorkerFunction",
            ["LeadsTable", "EventBridgePutEventsPolicy"],
            ["ChannelsTable", "secretsmanager", "SQSSendMessagePolicy"],
        ),
        ("ScoringWorkerFunction", ["LeadsTable"], ["ChannelsTable", "secretsmanager"]),
        (
            "NightlyRescoreFunction",
            ["DynamoDBReadPolicy", "ScoringQueue"],
            ["DynamoDBCrudPolicy", "ChannelsTable", "secretsmanager"],
        ),
        (
            "LeadsApiFunction",
            ["LeadsTable", "ChannelsTable", "CreateSecret"],
            ["GetSecretValue", "IngestQueue"],
        ),
        ("DataApiFunction", ["LeadsTable", "JobsQueue", "imports/*"], ["ChannelsTable", "secretsmanager"]),
        (
            "CollectionsApiFunction",
            ["LeadsTable", "JobsQueue"],
            ["ChannelsTable", "secretsmanager", "imports/*"],
        ),
        ("ScoringApiFunction", ["LeadsTable", "TrainingQueue"], ["ChannelsTable", "secretsmanager", "s3:"]),
        ("AdminApiFunction", ["LeadsTable", "JobsQueue"], ["ChannelsTable", "secretsmanager", "s3:"]),
        ("ApiDocsFunction", [], ["DynamoDB", "secretsmanager", "s3:", "SQS"]),
    ],
)
def test_least_privilege_per_function(function, allowed, forbidden):
    text = _policy_text(function)
    for needle in allowed:
        assert needle in text, f"{function} lacks {needle}"
    for needle in forbidden:
        assert needle not in text, f"{function} should not have {needle}"


def test_secrets_are_scoped_to_the_stage_prefix():
    for function in ("LeadsApiFunction", "WebhooksFunction"):
        statements = [
            p["Statement"] for p in RESOURCES[function]["Properties"]["Policies"] if "Statement" in p
        ]
        for statement in (s for group in statements for s in group):
            if "secretsmanager" not in repr(statement["Action"]):
                continue  # e.g. the Api function's scoped S3 read for presigned export downloads
            assert statement["Resource"]["Fn::Sub"].endswith(":secret:leadtide/${Stage}/*")


def _s3_grants(function: str) -> set[tuple[str, str]]:
    """(action, key prefix) pairs of a function's scoped S3 statements."""
    grants = set()
    for policy in RESOURCES[function]["Properties"]["Policies"]:
        for statement in policy.get("Statement", []):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for action in actions:
                for resource in resources:
                    text = resource.get("Fn::Sub", "") if isinstance(resource, dict) else str(resource)
                    if action.startswith("s3:") and "${ArtifactsBucket.Arn}/" in text:
                        grants.add((action, text.split("${ArtifactsBucket.Arn}/", 1)[1]))
    return grants


def test_claim_checked_deliveries_and_whole_texts_have_exactly_the_access_they_need():
    # The Webhooks function writes large deliveries, the Ingest worker reads them and writes whole texts,
    # the Leads API function presigns and deletes those texts; no other API function touches them.
    assert _s3_grants("WebhooksFunction") == {("s3:PutObject", "deliveries/*")}
    assert _s3_grants("IngestWorkerFunction") == {
        ("s3:GetObject", "deliveries/*"),
        ("s3:PutObject", "message-texts/*"),
    }
    api = _s3_grants("LeadsApiFunction")
    assert {("s3:GetObject", "message-texts/*"), ("s3:DeleteObject", "message-texts/*")} <= api
    assert not any(prefix == "deliveries/*" for _, prefix in api)
    for other in ("DataApiFunction", "CollectionsApiFunction", "ScoringApiFunction", "AdminApiFunction"):
        assert not any(prefix in ("deliveries/*", "message-texts/*") for _, prefix in _s3_grants(other)), (
            other
        )
    rules = {
        r["Id"]: r for r in RESOURCES["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    # kept past the ingest queue's and its dead-letter queue's retention, counted from the first enqueue
    retention = max(
        RESOURCES[q]["Properties"]["MessageRetentionPeriod"] for q in ("IngestQueue", "IngestDeadLetterQueue")
    )
    assert rules["ExpireClaimCheckedDeliveries"]["ExpirationInDays"] * 86400 > retention
    assert "ExpirationInDays" not in rules["ExpireDeletedMessageTexts"]  # kept as long as the lead
