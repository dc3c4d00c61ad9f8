"""The local runtime's moto patch (leadtide_local.moto_patches): TransactWriteItems rolls back per item
with moto's semantics (all or nothing, reasons per item, validation errors), without copying tables."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from leadtide_local import moto_patches

TABLE = "Things"


@pytest.fixture
def ddb(monkeypatch):
    """A moto DynamoDB (pk/sk table) with the patch installed and whole-table copies forbidden."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    moto_patches.install()

    def no_table_copies(self: Any, memo: Any) -> Any:
        raise AssertionError("a whole table was deep-copied")

    monkeypatch.setattr(Table, "__deepcopy__", no_table_copies, raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def key(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def put(pk: str, sk: str = "A", *, condition: str | None = None, **attrs: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "TableName": TABLE,
        "Item": {**key(pk, sk), **{k: {"S": v} for k, v in attrs.items()}},
    }
    if condition:
        op["ConditionExpression"] = condition
    return {"Put": op}


def everything(client) -> dict[tuple[str, str], dict[str, Any]]:
    items = client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return {(i["pk"]["S"], i["sk"]["S"]): i for i in items}


def seed(client) -> None:
    for pk, sk, value in [("p1", "A", "one"), ("p1", "B", "two"), ("p2", "A", "three"), ("p3", "A", "four")]:
        client.put_item(TableName=TABLE, Item={**key(pk, sk), "v": {"S": value}, "n": {"N": "1"}})


def test_a_cancelled_transaction_leaves_every_item_as_before(ddb):
    # Given four items
    seed(ddb)
    before = everything(ddb)
    # When one transaction creates, overwrites, updates in place, deletes, creates through an update in a
    # new partition, and then fails a condition on its last item
    items = [
        put("p1", "C", v="created"),
        put("p1", "A", v="overwritten"),
        {
            "Update": {
                "TableName": TABLE,
                "Key": key("p2"),
                "UpdateExpression": "SET v = :v, n = n + :one",
                "ExpressionAttributeValues": {":v": {"S": "updated"}, ":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": key("p1", "B")}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": key("p9", "Z"),
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": {"S": "new partition"}},
            }
        },
        put("p3", condition="attribute_not_exists(pk)", v="refused"),
    ]
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=items)
    # Then it is cancelled with one reason per item, only the last one failed
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    codes = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert codes == ["None", "None", "None", "None", "None", "ConditionalCheckFailed"]
    # And every item is exactly as before (nothing created, overwritten, updated or deleted)
    assert everything(ddb) == before
    assert ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"] == 4
    assert (
        ddb.query(
            TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p9"}}
        )["Items"]
        == []
    )


def test_a_successful_transaction_applies_every_item(ddb):
    seed(ddb)
    ddb.transact_write_items(
        TransactItems=[
            put("p1", "C", condition="attribute_not_exists(pk)", v="created"),
            {
                "Delete": {
                    "TableName": TABLE,
                    "Key": key("p1", "B"),
                    "ConditionExpression": "v = :v",
                    "ExpressionAttributeValues": {":v": {"S": "two"}},
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key("p2"),
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": key("p3"),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
    )
    after = everything(ddb)
    assert after[("p1", "C")]["v"] == {"S": "created"}
    assert ("p1", "B") not in after
    assert after[("p2", "A")]["n"] == {"N": "2"}
    assert set(after) == {("p1", "A"), ("p1", "C"), ("p2", "A"), ("p3", "A")}


def test_reasons_are_reported_per_item_with_old_values_when_asked(ddb):
    seed(ddb)
    items = [
        put("p1", condition="attribute_not_exists(pk)"),
        put("p4", condition="attribute_not_exists(pk)"),
        {
            "Put": {
                "TableName": TABLE,
                "Item": {**key("p2"), "v": {"S": "x"}},
                "ConditionExpression": "v = :v",
                "ExpressionAttributeValues": {":v": {"S": "not three"}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        put("p5"),
    ]
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=items)
    reasons = raised.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == [
        "ConditionalCheckFailed",
        "None",
        "ConditionalCheckFailed",
        "None",
    ]
    assert reasons[2]["Item"]["v"] == {"S": "three"}
    assert ("p4", "A") not in everything(ddb) and ("p5", "A") not in everything(ddb)


def test_validation_errors_apply_nothing(ddb):
    seed(ddb)
    before = everything(ddb)
    # The same item twice: ValidationException, the first write undone
    with pytest.raises(ClientError) as twice:
        ddb.transact_write_items(TransactItems=[put("p7", v="a"), put("p1", v="b"), put("p7", v="c")])
    assert twice.value.response["Error"]["Code"] == "ValidationException"
    assert everything(ddb) == before
    # More than 100 items
    with pytest.raises(ClientError) as many:
        ddb.transact_write_items(TransactItems=[put(f"q{i}") for i in range(101)])
    assert many.value.response["Error"]["Code"] == "ValidationException"
    assert everything(ddb) == before


def test_concurrent_transactions_are_all_or_nothing(ddb):
    # Given 8 threads each claiming the same 40 keys for itself, with a condition on each
    def claim(owner: str, errors: list[str]) -> None:
        client = boto3.client("dynamodb", region_name="us-east-1")
        items = [
            put(f"id{i}", "IDENTITY", condition="attribute_not_exists(pk)", owner=owner) for i in range(40)
        ]
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as err:
            errors.append(err.response["Error"]["Code"])

    errors: list[str] = []
    threads = [threading.Thread(target=claim, args=(f"o{n}", errors)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one transaction won every key, the 7 others were cancelled as a whole
    owners = {item["owner"]["S"] for item in everything(ddb).values()}
    assert len(everything(ddb)) == 40
    assert len(owners) == 1
    assert errors == ["TransactionCanceledException"] * 7


def test_install_refuses_a_moto_it_was_not_written_for(monkeypatch):
    # Given moto's method replaced by something else (a different moto)
    monkeypatch.setattr(moto_patches, "_originals", {})
    query = Table.query

    def other(self, transact_items):  # a stand-in for a changed moto
        return None

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", other)
    # Then installing fails loudly and patches nothing
    with pytest.raises(moto_patches.MotoPatchError, match="moto"):
        moto_patches.install()
    assert DynamoDBBackend.transact_write_items is other
    assert Table.query is query


def test_a_query_on_the_table_reads_only_its_partition_with_motos_results(ddb, monkeypatch):
    # Given 300 partitions, one with 30 items
    for n in range(300):
        ddb.put_item(TableName=TABLE, Item={**key(f"p{n:03d}"), "v": {"S": str(n)}})
    for n in range(30):
        ddb.put_item(
            TableName=TABLE,
            Item={**key("target", f"C#{n:02d}"), "state": {"S": "failed" if n % 3 else "done"}},
        )

    def whole_table(self):
        raise AssertionError("the whole table was listed for a query")

    monkeypatch.setitem(moto_patches._originals, "moto.dynamodb.models.table:Table.all_items", whole_table)
    # When it is queried with a range condition, a filter, newest first, 4 at a time
    pages, start = [], None
    while True:
        params: dict[str, Any] = {
            "TableName": TABLE,
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :c)",
            "FilterExpression": "#s = :f",
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": {":p": {"S": "target"}, ":c": {"S": "C#"}, ":f": {"S": "failed"}},
            "ScanIndexForward": False,
            "Limit": 4,
        }
        if start:
            params["ExclusiveStartKey"] = start
        page = ddb.query(**params)
        pages.append([item["sk"]["S"] for item in page["Items"]])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    # Then the items are the partition's failed ones, in descending order, paged 4 evaluated at a time
    found = [sk for page in pages for sk in page]
    assert found == [f"C#{n:02d}" for n in range(29, -1, -1) if n % 3]
    assert len(pages) == 8  # 30 items evaluated 4 per page
    # And an absent partition is empty without creating anything
    assert (
        ddb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "nobody"}},
        )["Items"]
        == []
    )
    monkeypatch.undo()
    assert ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"] == 330


def test_the_integration_stack_runs_with_the_patch(stack):
    assert moto_patches.installed()
    assert DynamoDBBackend.transact_write_items is moto_patches.transact_write_items
