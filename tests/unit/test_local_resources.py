"""leadtide_local.resources without AWS: names, intrinsic resolution, Globals merge, environments."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from leadtide_local.resources import (
    NO_VALUE,
    ResourceMap,
    function_environment,
    functions,
    plan_resources,
    to_cfn_string,
)
from leadtide_local.template import load_template

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "local_template" / "template.yaml"


@pytest.fixture(scope="module")
def fixture_template() -> dict:
    return load_template(FIXTURE)


def _template(tmp_path: Path, text: str) -> dict:
    file = tmp_path / "template.yaml"
    file.write_text(textwrap.dedent(text))
    return load_template(file)


def test_physical_names_follow_the_naming_rules(fixture_template):
    # Given the fixture template and the default stack name
    # When planning its resources
    resources = plan_resources(fixture_template)
    # Then names are derived from the template, not hand-copied
    assert resources.tables == {"RecordsTable": "leadtide-local-RecordsTable"}
    assert resources.queues["WorkQueue"].name == "leadtide-local-WorkQueue"
    assert resources.queues["WorkQueue"].arn == "arn:aws:sqs:us-east-1:123456789012:leadtide-local-WorkQueue"
    assert resources.queues["WorkQueue"].url == (
        "https://sqs.us-east-1.amazonaws.com/123456789012/leadtide-local-WorkQueue"
    )
    assert resources.buses == {"Bus": "fixture-dev"}
    assert resources.rules["ThingsToEventsQueueRule"].arn == (
        "arn:aws:events:us-east-1:123456789012:rule/fixture-dev/leadtide-local-ThingsToEventsQueueRule"
    )
    assert resources.functions["EchoFunction"] == "leadtide-local-EchoFunction"
    assert resources.function_for_arn(resources.function_arn("EchoFunction") + ":live") == "EchoFunction"
    assert resources.queue_for_arn(resources.queues["EventsQueue"].arn) == "EventsQueue"


def test_refs_getatts_and_subs_resolve(fixture_template):
    # Given planned resources
    resources = plan_resources(fixture_template, stack_name="st")
    # When resolving intrinsics
    # Then resources, attributes, pseudo parameters and parameters all resolve
    assert resources.resolve({"Ref": "RecordsTable"}) == "st-RecordsTable"
    assert resources.resolve({"Ref": "WorkQueue"}).endswith("/123456789012/st-WorkQueue")
    assert resources.resolve({"Fn::GetAtt": ["WorkQueue", "QueueName"]}) == "st-WorkQueue"
    assert resources.resolve({"Fn::GetAtt": ["WorkQueue", "QueueUrl"]}) == resources.queue_url("WorkQueue")
    assert resources.resolve({"Fn::GetAtt": ["RecordsTable", "Arn"]}) == (
        "arn:aws:dynamodb:us-east-1:123456789012:table/st-RecordsTable"
    )
    assert resources.resolve({"Fn::Sub": "${AWS::StackName}/${AWS::Region}/${AWS::AccountId}"}) == (
        "st/us-east-1/123456789012"
    )
    assert resources.resolve({"Fn::Sub": "${AWS::Partition}.${AWS::URLSuffix}"}) == "aws.amazonaws.com"
    assert resources.resolve({"Fn::Sub": "${Bus}|${WorkQueue.Arn}|${Stage}"}) == (
        "fixture-dev|arn:aws:sqs:us-east-1:123456789012:st-WorkQueue|dev"
    )
    assert resources.resolve({"Fn::Sub": ["${X}-${!Literal}", {"X": {"Ref": "Stage"}}]}) == "dev-${Literal}"


def test_conditions_follow_parameter_defaults_and_overrides(fixture_template):
    # Given the IsProd condition (Stage defaults to dev)
    dev = plan_resources(fixture_template)
    prod = plan_resources(fixture_template, parameter_overrides={"Stage": "prod"})
    expression = {"Fn::If": ["IsProd", "strict", "relaxed"]}
    # When evaluating Fn::If / Then the branch follows the parameter
    assert dev.resolve(expression) == "relaxed"
    assert prod.resolve(expression) == "strict"
    assert prod.buses == {"Bus": "fixture-prod"}


def test_parameter_overrides_are_validated(fixture_template):
    # Given a value outside AllowedValues and an unknown parameter
    # When planning / Then both are refused
    with pytest.raises(ValueError, match="not one of"):
        plan_resources(fixture_template, parameter_overrides={"Stage": "qa"})
    with pytest.raises(ValueError, match="unknown parameters"):
        plan_resources(fixture_template, parameter_overrides={"Nope": "x"})


def test_other_intrinsics_and_no_value(tmp_path):
    # Given a template with mappings, conditions and a resource gated by a false condition
    template = _template(
        tmp_path,
        """
        Parameters:
          Stage: { Type: String, Default: dev }
          Zones: { Type: CommaDelimitedList, Default: "a,b" }
        Mappings:
          Sizes: { dev: { memory: 256 } }
        Conditions:
          IsDev: !Equals [!Ref Stage, dev]
          IsProd: !Not [!Condition IsDev]
          Any: !Or [!Condition IsDev, !Condition IsProd]
          All: !And [!Condition IsDev, !Condition IsProd]
        Resources:
          OnlyInProd:
            Type: AWS::SQS::Queue
            Condition: IsProd
          Table:
            Type: AWS::DynamoDB::Table
            Properties: { TableName: !Sub "t-${Stage}" }
        """,
    )
    resources = plan_resources(template)
    # When resolving / Then each function behaves as CloudFormation's
    assert resources.resolve({"Fn::Join": ["-", ["a", 1, True]]}) == "a-1-true"
    assert resources.resolve({"Fn::Select": [1, {"Ref": "Zones"}]}) == "b"
    assert resources.resolve({"Fn::Split": [",", "x,y"]}) == ["x", "y"]
    assert resources.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "memory"]}) == 256
    assert resources.resolve({"Fn::Base64": "hi"}) == "aGk="
    assert resources.resolve({"Fn::GetAZs": ""}) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert resources.resolve({"Fn::ToJsonString": {"a": 1}}) == '{"a":1}'
    assert resources.condition("Any") is True
    assert resources.condition("All") is False
    # And AWS::NoValue removes keys and list items
    assert resources.resolve(
        {"a": {"Ref": "AWS::NoValue"}, "b": [1, {"Fn::If": ["IsProd", 2, {"Ref": "AWS::NoValue"}]}]}
    ) == {"b": [1]}
    assert resources._resolve({"Ref": "AWS::NoValue"}) is NO_VALUE
    # And the conditional resource does not exist while the named table does
    assert "OnlyInProd" not in resources.queues
    assert resources.tables == {"Table": "t-dev"}


def test_unsupported_or_unknown_references_fail_clearly(fixture_template):
    # Given planned resources
    resources = plan_resources(fixture_template)
    # When resolving what cannot be resolved locally / Then the error says what
    with pytest.raises(KeyError, match="NoSuchThing"):
        resources.resolve({"Ref": "NoSuchThing"})
    with pytest.raises(ValueError, match="ImportValue"):
        resources.resolve({"Fn::ImportValue": "x"})
    with pytest.raises(ValueError, match="not supported locally"):
        resources.resolve({"Fn::GetAtt": ["WorkQueue", "Nope"]})


def test_functions_merge_globals_as_sam_does(fixture_template):
    # Given functions with Globals (Timeout 10, MemorySize 256) and their own overrides
    specs = functions(fixture_template, base_dir=FIXTURE.parent)
    # When listing them
    worker = specs["WorkerFunction"]
    echo = specs["EchoFunction"]
    # Then own values win, Globals fill the rest, and CodeUri is made absolute
    assert worker.timeout == 20
    assert echo.timeout == 10
    assert echo.memory_size == 256
    assert echo.code_dir == (FIXTURE.parent / "functions" / "echo").resolve()
    assert (echo.handler_module, echo.handler_function) == ("handle_echo", "lambda_handler")
    assert [(e.name, e.type) for e in worker.events] == [("WorkQueueMessages", "SQS")]
    assert worker.events[0].properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert set(specs) == {
        "EchoFunction",
        "PowertoolsApiFunction",
        "WorkerFunction",
        "EventsWorkerFunction",
        "DirectFunction",
        "NightlyFunction",
    }


def test_function_environment_merges_and_stringifies(tmp_path):
    # Given Globals variables, a function overriding one and adding a boolean and a NoValue
    template = _template(
        tmp_path,
        """
        Globals:
          Function:
            Environment:
              Variables: { A: global, B: !Ref Q, C: 3 }
        Resources:
          Q: { Type: AWS::SQS::Queue }
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Handler: m.h
              Environment:
                Variables: { A: own, D: true, E: !Ref AWS::NoValue }
        """,
    )
    resources = plan_resources(template)
    # When computing its environment
    environment = function_environment(template, "Fn", resources)
    # Then the function's own values win and every value is a string
    assert environment == {"A": "own", "B": resources.queue_url("Q"), "C": "3", "D": "true"}
    with pytest.raises(KeyError):
        function_environment(template, "Missing", resources)


def test_real_template_environment_resolves_every_global():
    # Given the real template.yaml
    template = load_template()
    resources = plan_resources(template)
    # When resolving an API function's environment
    environment = function_environment(template, "LeadsApiFunction", resources)
    # Then every Globals variable is a resolved string
    assert environment["LEADS_TABLE"] == "leadtide-local-LeadsTable"
    assert environment["SECRETS_PREFIX"] == "leadtide/dev"
    assert environment["EVENT_BUS_NAME"] == "leadtide-dev"
    assert environment["INGEST_QUEUE_URL"].endswith("/leadtide-local-IngestQueue")
    assert all(isinstance(value, str) for value in environment.values())


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (7, "7"),
        ("x", "x"),
        (["a", 1], "a,1"),
        ({"k": 1}, '{"k":1}'),
        (None, ""),
    ],
)
def test_to_cfn_string(value, text):
    # Given a resolved value / When rendered into a string property / Then as CloudFormation renders it
    assert to_cfn_string(value) == text


def test_a_name_depending_on_itself_is_reported():
    # Given a table whose name refers to itself
    template = {
        "Resources": {"T": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": {"Ref": "T"}}}}
    }
    # When planning / Then the cycle is reported rather than recursing forever
    with pytest.raises(ValueError, match="depends on itself"):
        ResourceMap(template=template).physical_name("T")
