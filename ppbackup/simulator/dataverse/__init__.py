"""The simulator's Dataverse Web API: every environment's organisation at
`<simulator>/orgs/<environment id>/api/data/v9.2/` (its BAP record's `instanceApiUrl`).

Faithful to `../shared/reference/dataverse-web-api.md` (section 11 is the checklist): metadata,
paged reads with annotations and ETags, change tracking, writes with conditional headers and
`@odata.bind`, `$batch`, service protection limits; steered by `control.py`. Module map in
`ppbackup/simulator/README.md`.
"""

from __future__ import annotations

from ppbackup.simulator.dataverse.api import DataverseApi, is_dataverse_path
from ppbackup.simulator.dataverse.errors import (
    CONCURRENCY_EXCEEDED,
    EXECUTION_TIME_EXCEEDED,
    EXPIRED_VERSION_STAMP,
    OBJECT_DOES_NOT_EXIST,
    PRIVILEGE_DENIED,
    REQUESTS_EXCEEDED,
)
from ppbackup.simulator.dataverse.query import MAX_PAGE_SIZE
from ppbackup.simulator.dataverse.schema import Table, build_schema
from ppbackup.simulator.dataverse.store import Org, WriteRecord

__all__ = [
    "CONCURRENCY_EXCEEDED",
    "EXECUTION_TIME_EXCEEDED",
    "EXPIRED_VERSION_STAMP",
    "MAX_PAGE_SIZE",
    "OBJECT_DOES_NOT_EXIST",
    "PRIVILEGE_DENIED",
    "REQUESTS_EXCEEDED",
    "DataverseApi",
    "Org",
    "Table",
    "WriteRecord",
    "build_schema",
    "is_dataverse_path",
]
