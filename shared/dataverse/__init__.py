"""Client for one environment's Dataverse Web API: metadata, paged and change-tracked reads,
conditional writes and `$batch` (reference docs: ../shared/reference/dataverse-web-api.md).

Importing this package loads no token library; they load on the first token, as for the
platform client.
"""

from __future__ import annotations

from shared.dataverse.batch import (
    MAX_BATCH_REQUESTS,
    BatchItem,
    BatchRequest,
    BatchResponse,
    ChangeSet,
    decode_batch,
    encode_batch,
)
from shared.dataverse.client import API_PATH, DataverseClient, WriteResult
from shared.dataverse.errors import (
    ChangeTokenExpired,
    ConnectionMissing,
    NoDataverse,
    PreconditionFailed,
    TableNotFound,
)
from shared.dataverse.metadata import (
    ColumnInfo,
    LookupRelationship,
    TableInfo,
    navigation_property,
)
from shared.dataverse.pages import MAX_PAGE_SIZE, DeletedRow, Page, PageCursor
from shared.dataverse.restore_calls import (
    RestoreOutcome,
    WriteOutcome,
    bin_rows,
    in_recycle_bin,
    restore_deleted,
    rows_by_ids,
    write_batch,
)

__all__ = [
    "API_PATH",
    "MAX_BATCH_REQUESTS",
    "MAX_PAGE_SIZE",
    "BatchItem",
    "BatchRequest",
    "BatchResponse",
    "ChangeSet",
    "ChangeTokenExpired",
    "ColumnInfo",
    "ConnectionMissing",
    "DataverseClient",
    "DeletedRow",
    "LookupRelationship",
    "NoDataverse",
    "Page",
    "PageCursor",
    "PreconditionFailed",
    "RestoreOutcome",
    "TableInfo",
    "TableNotFound",
    "WriteOutcome",
    "WriteResult",
    "bin_rows",
    "decode_batch",
    "encode_batch",
    "in_recycle_bin",
    "navigation_property",
    "restore_deleted",
    "rows_by_ids",
    "write_batch",
]
