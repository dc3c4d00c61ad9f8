"""The import API's request shapes: one mapping shape (`mapping`: header -> target) on POST /imports and
PUT /imports/{id}/mapping, the deprecated spellings (`{"mapping": {"columns": ...}}`, `columns`) still
accepted."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from leadtide.imports.models import ColumnMapping, ImportCreate, MappingUpdate, SavedMapping

COLUMNS = {"Mail": "email", "Given": "first_name", "Notes": None}


def test_post_imports_takes_the_mapping_as_header_to_target():
    assert ImportCreate(filename="a.csv", mapping=COLUMNS).mapping == COLUMNS
    # a header that happens to be called "columns" is a header like any other
    assert ImportCreate(filename="a.csv", mapping={"columns": "email"}).mapping == {"columns": "email"}


def test_post_imports_still_accepts_the_deprecated_nested_columns():
    assert ImportCreate(filename="a.csv", mapping={"columns": COLUMNS}).mapping == COLUMNS
    assert ImportCreate(filename="a.csv", mapping=ColumnMapping(columns=COLUMNS)).mapping == COLUMNS
    with pytest.raises(ValidationError):
        ImportCreate(filename="a.csv", mapping={"columns": COLUMNS, "extra": {"x": "y"}})


def test_put_mapping_takes_the_same_shape_and_the_deprecated_columns():
    assert MappingUpdate(mapping=COLUMNS).mapping == COLUMNS
    assert MappingUpdate.model_validate({"mapping": {"columns": COLUMNS}}).mapping == COLUMNS
    assert MappingUpdate.model_validate({"columns": COLUMNS, "save_as": "crm"}).mapping == COLUMNS
    assert MappingUpdate.model_validate({"mapping": COLUMNS, "columns": COLUMNS}).mapping == COLUMNS


def test_put_mapping_needs_one_mapping_and_refuses_two_different_ones():
    with pytest.raises(ValidationError, match="mapping"):
        MappingUpdate.model_validate({"save_as": "crm"})
    with pytest.raises(ValidationError, match="columns is the deprecated spelling of mapping"):
        MappingUpdate.model_validate({"mapping": COLUMNS, "columns": {"Mail": "phone"}})


def test_saved_mappings_show_the_mapping_and_keep_columns_for_old_clients():
    saved = SavedMapping(
        name="crm", columns=COLUMNS, headers=list(COLUMNS), saved_by="u", saved_at="2025-01-01T00:00:00Z"
    )
    assert saved.mapping == saved.columns == COLUMNS
    assert SavedMapping.model_json_schema()["properties"]["columns"]["deprecated"] is True


def test_the_deprecated_spellings_are_marked_in_the_schema():
    schema = MappingUpdate.model_json_schema()
    assert schema["properties"]["columns"]["deprecated"] is True
    assert "deprecated" in schema["properties"]["columns"]["description"]
    assert {"required": ["mapping"]} in schema["anyOf"] and {"required": ["columns"]} in schema["anyOf"]
    assert "deprecated" in ImportCreate.model_json_schema()["properties"]["mapping"]["description"].lower()
