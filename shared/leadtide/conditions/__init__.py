"""The condition language shared by segments and automations: rule trees over a lead record.

See :mod:`leadtide.conditions.language` for the format and :mod:`leadtide.conditions.fields` for the
fields and operators.
"""

from leadtide.conditions.fields import LEAD_FIELDS, FieldType, Op, storage_attribute
from leadtide.conditions.language import (
    MAX_DEPTH,
    MAX_LEAVES,
    CompiledCondition,
    ConditionError,
    Node,
    compile_condition,
    compile_rules,
    parse_condition,
)
from leadtide.models.common import to_epoch

__all__ = [
    "LEAD_FIELDS",
    "MAX_DEPTH",
    "MAX_LEAVES",
    "CompiledCondition",
    "ConditionError",
    "FieldType",
    "Node",
    "Op",
    "compile_condition",
    "compile_rules",
    "parse_condition",
    "storage_attribute",
    "to_epoch",
]
