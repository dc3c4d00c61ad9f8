"""leadtide_local.template: CloudFormation short tags become long-form intrinsics."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from leadtide_local.template import load_template, repo_root


def _load(tmp_path: Path, text: str) -> dict:
    file = tmp_path / "template.yaml"
    file.write_text(textwrap.dedent(text))
    return load_template(file)


def test_short_tags_become_long_forms(tmp_path):
    # Given a template using every short tag form
    template = _load(
        tmp_path,
        """
        AWSTemplateFormatVersion: 2010-09-09
        Conditions:
          IsProd: !Equals [!Ref Stage, prod]
          Both: !And [!Condition IsProd, !Not [!Condition IsProd]]
          Either: !Or [!Condition IsProd, !Condition IsProd]
        Resources:
          Thing:
            Type: AWS::SQS::Queue
            Properties:
              A: !Ref Other
              B: !GetAtt Other.Arn
              C: !GetAtt [Other, QueueName]
              D: !GetAtt Db.Endpoint.Address
              E: !Sub "x-${AWS::Region}"
              F: !Sub ["${A}-b", { A: !Ref Other }]
              G: !If [IsProd, 1, 2]
              H: !Join ["-", [a, b]]
              I: !Select [0, !Split [",", "a,b"]]
              J: !FindInMap [M, k, v]
              K: !ImportValue shared-output
              L: !Base64 text
              N: !GetAZs ""
        """,
    )
    # When reading it back
    props = template["Resources"]["Thing"]["Properties"]
    # Then each tag has its long JSON form
    assert props["A"] == {"Ref": "Other"}
    assert props["B"] == {"Fn::GetAtt": ["Other", "Arn"]}
    assert props["C"] == {"Fn::GetAtt": ["Other", "QueueName"]}
    assert props["D"] == {"Fn::GetAtt": ["Db", "Endpoint.Address"]}
    assert props["E"] == {"Fn::Sub": "x-${AWS::Region}"}
    assert props["F"] == {"Fn::Sub": ["${A}-b", {"A": {"Ref": "Other"}}]}
    assert props["G"] == {"Fn::If": ["IsProd", 1, 2]}
    assert props["H"] == {"Fn::Join": ["-", ["a", "b"]]}
    assert props["I"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert props["J"] == {"Fn::FindInMap": ["M", "k", "v"]}
    assert props["K"] == {"Fn::ImportValue": "shared-output"}
    assert props["L"] == {"Fn::Base64": "text"}
    assert props["N"] == {"Fn::GetAZs": ""}
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert template["Conditions"]["Both"] == {
        "Fn::And": [{"Condition": "IsProd"}, {"Fn::Not": [{"Condition": "IsProd"}]}]
    }
    # And an unquoted date stays the string CloudFormation sees
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"


def test_get_att_without_attribute_is_rejected(tmp_path):
    # Given a !GetAtt with no attribute
    # When loading / Then the YAML error names the problem
    with pytest.raises(yaml.YAMLError, match=r"Resource\.Attribute"):
        _load(tmp_path, "Resources:\n  A:\n    Type: X\n    Properties: { B: !GetAtt Other }\n")


def test_a_document_without_resources_is_not_a_template(tmp_path):
    # Given YAML that is not a template
    # When loading / Then ValueError
    with pytest.raises(ValueError, match="no Resources"):
        _load(tmp_path, "just: text\n")


def test_the_plain_safe_loader_is_left_untouched():
    # Given the loader subclass was configured at import
    # When the stock SafeLoader reads a date and a tag
    # Then it still makes a date and still rejects the tag (our changes did not leak into it)
    assert not isinstance(yaml.safe_load("d: 2010-09-09")["d"], str)
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load("a: !Ref B")


def test_repo_template_loads_with_its_globals_and_functions():
    # Given the real template.yaml
    # When loading it from the default location
    template = load_template()
    # Then Globals keep their intrinsics and the repo root is where template.yaml is
    assert (repo_root() / "template.yaml").is_file()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["LEADS_TABLE"] == {"Ref": "LeadsTable"}
    assert variables["SECRETS_PREFIX"] == {"Fn::Sub": "leadtide/${Stage}"}
    assert template["Resources"]["IngestQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]
    }
