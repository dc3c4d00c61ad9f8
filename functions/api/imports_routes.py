"""Import routes: upload a CSV/TSV/XLSX of leads, follow its progress, correct its mapping, download the
error report, roll it back; saved column mappings.

The file goes straight to S3 through a presigned PUT URL; its ``Object Created`` event starts the
background pipeline (jobs queue). Admins and managers only.
"""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.imports.models import (
    IMPORT_ID_PATTERN,
    ErrorReportLink,
    ImportCreate,
    ImportCreated,
    ImportJob,
    ImportPage,
    ImportPreview,
    MappingUpdate,
    SavedMappingList,
)
from leadtide.models.errors import ImportNotFoundError
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

ImportId = Annotated[str, Path(description="import id (32 hex characters)")]
MappingName = Annotated[str, Path(description="saved mapping name", max_length=64)]
_ID = re.compile(IMPORT_ID_PATTERN)


def _id(import_id: str) -> str:
    if not _ID.match(import_id):
        raise ImportNotFoundError(f"import {import_id} not found")
    return import_id


@router.post(
    "/imports",
    summary="Start an import: get a presigned URL to PUT the file to (admins and managers)",
    responses={
        201: {"description": "Created; upload the file next", "content": {JSON: {"model": ImportCreated}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def create_import(request: Annotated[ImportCreate, Body()]) -> Response[ImportCreated]:
    """CSV, TSV, TXT or XLSX up to 50 MB. `PUT` the raw file to `upload.url` with `upload.headers`
    within an hour; the analysis starts when the upload lands. `dedupe` says how rows match existing leads
    (`key`: email, phone or custom:<key>) and what a match does (`strategy`: skip, update with
    `update_mode` fill_empty/overwrite, or create). Give `mapping` (header -> field or null, the shape
    `PUT /imports/{import_id}/mapping` takes too) or `mapping_name` (a saved mapping), or let Leadtide
    propose one. Deprecated: the nested `{"mapping": {"columns": {...}}}` of earlier versions is still
    accepted during a deprecation period. With `auto_start` (default) a valid mapping starts
    processing at once; otherwise the import waits in `awaiting_mapping`. `invalid_values` says what an
    unusable value does: `drop_field` (default) imports the row without it and lists it in the error
    report (outcome `values_dropped`), `reject_row` rejects the row; a row whose every email, phone or
    unique-key value is invalid, or whose invalid value was required, is rejected either way."""
    created = get_wiring().import_service.create(current_principal(router), request)
    return Response(status_code=201, content_type=JSON, body=created)


@router.get(
    "/imports",
    summary="Import history, newest first",
    responses={
        200: {"description": "One page of imports", "content": {JSON: {"model": ImportPage}}},
        **documented_errors(400, 401, 403, 422),
    },
)
def list_imports(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", max_length=2048)
    ] = None,
) -> ImportPage:
    """Every import of the tenant with its status and counts."""
    return get_wiring().import_service.history(current_principal(router), limit=limit, cursor=cursor)


@router.get(
    "/imports/<import_id>",
    summary="An import's status, progress and outcome counts",
    responses={
        200: {"description": "The import", "content": {JSON: {"model": ImportJob}}},
        **documented_errors(401, 403, 404, 422),
    },
)
def get_import(import_id: ImportId) -> ImportJob:
    """`status`: awaiting_upload, analysing, awaiting_mapping (see `error` for why), queued, processing,
    completed, completed_with_errors, failed (see `error`), rolling_back, rolled_back. Counts: created,
    updated, skipped (existing leads left as they were), failed (rejected rows and rows of failed chunks)."""
    return get_wiring().import_service.get(current_principal(router), _id(import_id))


@router.get(
    "/imports/<import_id>/preview",
    summary="The analysed file: headers, proposed mapping with confidence, first rows as they would import",
    responses={
        200: {"description": "The preview", "content": {JSON: {"model": ImportPreview}}},
        **documented_errors(401, 403, 404, 409, 422),
    },
)
def preview_import(import_id: ImportId) -> ImportPreview:
    """Available once the upload was analysed (409 before)."""
    return get_wiring().import_service.preview(current_principal(router), _id(import_id))


@router.put(
    "/imports/<import_id>/mapping",
    summary="Correct the column mapping of an import awaiting one (optionally save it by name)",
    responses={
        200: {"description": "The preview with the new mapping", "content": {JSON: {"model": ImportPreview}}},
        **documented_errors(400, 401, 403, 404, 409, 410, 422),
    },
)
def update_mapping(import_id: ImportId, update: Annotated[MappingUpdate, Body()]) -> ImportPreview:
    """`mapping`: header -> target (`email`, `first_name`, `custom:<key>`...) or null to ignore a column,
    the shape `POST /imports` takes. Deprecated: `columns`, the earlier name of `mapping`, is still
    accepted during a deprecation period (both at once only when equal). `invalid_values` changes the
    import's option. `save_as` stores it for later imports (`mapping_name`; it is also suggested automatically when a
    file's headers match it exactly). Then `POST /imports/{import_id}/start`. 410 (`upload_expired`)
    after the import's `start_until`: its uploaded file is deleted."""
    return get_wiring().import_service.set_mapping(current_principal(router), _id(import_id), update)


@router.post(
    "/imports/<import_id>/start",
    summary="Start processing an import awaiting its mapping or an explicit start",
    responses={
        202: {"description": "Queued", "content": {JSON: {"model": ImportJob}}},
        **documented_errors(401, 403, 404, 409, 410, 422),
    },
)
def start_import(import_id: ImportId) -> Response[ImportJob]:
    """409 unless the import is awaiting_mapping; 422 when its mapping is still unusable; 410
    (`upload_expired`) after its `start_until` (the uploaded file is deleted 30 days after the upload)."""
    job = get_wiring().import_service.start(current_principal(router), _id(import_id))
    return Response(status_code=202, content_type=JSON, body=job)


@router.get(
    "/imports/<import_id>/errors",
    summary="Download link of the error report (CSV of rejected rows and dropped values, with reasons)",
    responses={
        200: {
            "description": "A presigned link, valid 15 minutes",
            "content": {JSON: {"model": ErrorReportLink}},
        },
        **documented_errors(401, 403, 404, 410, 422),
    },
)
def error_report(import_id: ImportId) -> ErrorReportLink:
    """The CSV has `row_number`, `outcome` (`rejected`, or `values_dropped`: the row was imported
    without the values `reasons` names), `reasons` and the row's original columns. 404 when no row was
    rejected and no value dropped. Existing leads skipped by the strategy are not errors. 410
    (`error_report_expired`) once the import's files are past their retention (30 days)."""
    return get_wiring().import_service.error_report(current_principal(router), _id(import_id))


@router.post(
    "/imports/<import_id>/rollback",
    summary="Undo a completed import: delete the leads it created, restore those it updated",
    responses={
        202: {"description": "Rolling back", "content": {JSON: {"model": ImportJob}}},
        **documented_errors(401, 403, 404, 409, 410, 422),
    },
)
def rollback_import(import_id: ImportId) -> Response[ImportJob]:
    """Runs in the background (`rolling_back` -> `rolled_back`). Updated leads get their exact previous
    values back, even if someone changed them after the import (`rollback.changed_since_import` counts
    them). 409 unless the import is completed or completed_with_errors; 410 (`rollback_expired`, naming
    the date) after the import's `rollback_until`: its before-images are deleted with its files."""
    job = get_wiring().import_service.rollback(current_principal(router), _id(import_id))
    return Response(status_code=202, content_type=JSON, body=job)


@router.get(
    "/import-mappings",
    summary="Saved column mappings",
    responses={
        200: {"description": "Mappings by name", "content": {JSON: {"model": SavedMappingList}}},
        **documented_errors(401, 403),
    },
)
def list_mappings() -> SavedMappingList:
    """Mappings saved with `PUT /imports/{import_id}/mapping` (`save_as`)."""
    return get_wiring().import_service.list_mappings(current_principal(router))


@router.delete(
    "/import-mappings/<name>",
    summary="Delete a saved column mapping",
    responses={204: {"description": "Deleted"}, **documented_errors(401, 403, 404, 422)},
)
def delete_mapping(name: MappingName) -> Response[None]:
    """Imports that used it keep their own copy of the mapping."""
    get_wiring().import_service.delete_mapping(current_principal(router), name)
    return Response(status_code=204, body="")
