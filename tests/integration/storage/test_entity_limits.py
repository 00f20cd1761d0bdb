"""Entity limits and key properties. Mostly pure checks (Azurite does not enforce the entity size
or property count, so only our own code can), plus one round trip of the worst case."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.operations import (
    MAX_DETAIL_CHARS,
    MAX_REQUEST_IDS_PER_STEP,
    RESTORE_STEPS,
    Operation,
    OperationError,
    OperationKind,
    OperationStatus,
    StepStatus,
    add_request_ids,
    finish,
    new_operation,
    new_operation_id,
    to_millis,
    update_step,
)
from shared.storage.entities import (
    MAX_ENTITY_BYTES,
    MAX_STRING_UNITS,
    entity_internal,
    entity_operation,
    entity_size,
    join_string,
    operation_entity,
    split_string,
    utf16_units,
)
from shared.storage.history import HistoryStore
from shared.storage.keys import (
    decode_continuation,
    encode_continuation,
    environment_shard,
    normalize_environment_id,
    row_key,
    row_key_or_none,
)

from .conftest import BASE, ENV_A


def worst_case_restore() -> Operation:
    """A restore with every step at the model's caps, filled with the costliest characters.

    Details of characters JSON must escape six-fold (control characters) and astral characters
    (two UTF-16 units each), 20 long request ids per step, long free-text fields as intake might
    let through.
    """
    at = BASE
    operation = new_operation(
        OperationKind.RESTORE,
        ENV_A,
        at,
        source_environment_id=ENV_A,
        environment_name="Contoso Production " * 5,
        label="L" * 1000,
        notes="N" * 4000,
        reason="R" * 2000,
        requested_by="someone.with.a.long.name@contoso.example.com",
        request_id="r" * 200,
        backup_id="b" * 100,
        restore_point=at - timedelta(days=1),
        options={
            "dryRun": False,
            "skipAuditData": True,
            "safetyBackup": True,
            "confirmProduction": "Contoso Production",
            "plan": list(RESTORE_STEPS),
        },
    )
    costly = ("\u0001" * (MAX_DETAIL_CHARS // 2)) + ("😀" * (MAX_DETAIL_CHARS // 2))
    for name in RESTORE_STEPS:
        operation = update_step(
            operation,
            name,
            at,
            status=StepStatus.FAILED,
            detail=costly,
            platform_operation_id="p" * 100,
        )
        ids = tuple(f"{name}-{i:02d}-" + "x" * 90 for i in range(MAX_REQUEST_IDS_PER_STEP + 5))
        operation = add_request_ids(operation, name, ids)
    return finish(
        operation,
        OperationStatus.NEEDS_ATTENTION,
        at + timedelta(hours=30),
        error=OperationError("SwitchBackFailed", "E" * MAX_DETAIL_CHARS),
    )


def test_worst_case_restore_record_fits_table_limits() -> None:
    operation = worst_case_restore()
    assert all(len(s.request_ids) == MAX_REQUEST_IDS_PER_STEP for s in operation.steps)
    internal = {"attempt": 99, "poll": "u" * 2000}

    entity = operation_entity(operation, partition_key="ops", row_key="r", internal=internal)

    # Larger than one string property may hold, so it is split, and far from the entity limit.
    assert entity["recordParts"] > 1
    assert entity_size(entity) < MAX_ENTITY_BYTES / 2
    assert all(utf16_units(v) <= MAX_STRING_UNITS for v in entity.values() if isinstance(v, str))
    assert len(entity) < 20
    assert None not in entity.values()
    assert entity_operation(entity) == operation
    assert entity_internal(entity) == internal


@pytest.mark.azurite
def test_worst_case_restore_record_round_trips_through_azurite(store: HistoryStore) -> None:
    operation = worst_case_restore()
    store.create(operation, internal={"k": "v" * 50_000})
    read = store.get(operation.operation_id)
    assert read.operation == operation
    assert read.internal == {"k": "v" * 50_000}
    assert store.list(environment_id=ENV_A).items == [operation]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("notes", "n" * (MAX_STRING_UNITS + 1)),
        ("label", "😀" * (MAX_STRING_UNITS // 2 + 1)),  # astral: 2 units each
        ("options", {"x": "y" * 3 * MAX_STRING_UNITS}),
    ],
)
def test_long_values_are_split_within_the_string_limit(field: str, value: object) -> None:
    fields: dict[str, Any] = {field: value}
    operation = replace(new_operation(OperationKind.BACKUP, ENV_A, BASE), **fields)
    entity = operation_entity(operation, partition_key="ops", row_key="r")
    assert all(utf16_units(v) <= MAX_STRING_UNITS for v in entity.values() if isinstance(v, str))
    assert entity_operation(entity) == operation


@given(st.text(alphabet=st.sampled_from('aé😀\x00"\\')), st.integers(min_value=2, max_value=9))
def test_split_strings_join_back_and_respect_the_limit(text: str, units: int) -> None:
    properties = split_string("p", text, units=units)
    assert join_string(properties, "p") == text
    for value in properties.values():
        if isinstance(value, str):
            assert utf16_units(value) <= units
            value.encode("utf-8")  # no lone surrogate: no astral character was cut in two


def test_record_missing_a_part_is_a_clear_error() -> None:
    operation = replace(new_operation(OperationKind.BACKUP, ENV_A, BASE), notes="n" * 70_000)
    entity = operation_entity(operation, partition_key="ops", row_key="r")
    del entity["record2"]
    with pytest.raises(ValueError, match="missing part"):
        entity_operation(entity)


def test_total_entity_size_is_enforced() -> None:
    operation = new_operation(OperationKind.RESTORE, ENV_A, BASE, notes="q" * 300_000)
    operation_entity(operation, partition_key="ops", row_key="r")  # 600 KB: fits
    with pytest.raises(ValueError, match=r"entity is \d+ bytes; Table Storage allows 1048576"):
        operation_entity(operation, partition_key="ops", row_key="r", internal={"a": "z" * 250_000})
    with pytest.raises(ValueError, match=r"entity is \d+ bytes"):
        operation_entity(replace(operation, notes="q" * 600_000), partition_key="ops", row_key="r")


def test_naive_datetimes_are_refused() -> None:
    operation = replace(
        new_operation(OperationKind.BACKUP, ENV_A, BASE), backup_point=datetime(2026, 1, 1)
    )
    with pytest.raises(ValueError, match="naive"):
        operation_entity(operation, partition_key="ops", row_key="r")


# -- keys ----------------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2280, 1, 1), timezones=st.just(UTC)
)


@given(instants, instants, st.sampled_from(list(OperationKind)))
def test_row_key_order_is_newest_first(a: datetime, b: datetime, kind: OperationKind) -> None:
    id_a, id_b = new_operation_id(kind, a), new_operation_id(kind, b)
    if to_millis(a) < to_millis(b):
        assert row_key(id_b) < row_key(id_a)
    elif to_millis(b) < to_millis(a):
        assert row_key(id_a) < row_key(id_b)
    assert len(row_key(id_a).split("-", 1)[0]) == 13


@given(instants, st.sampled_from(list(OperationKind)))
def test_continuation_token_round_trips(at: datetime, kind: OperationKind) -> None:
    key = row_key(new_operation_id(kind, at))
    token = encode_continuation(key)
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")
    assert decode_continuation(token).row_key == key


@given(st.text(max_size=80))
def test_any_text_as_a_token_decodes_or_raises_value_error(text: str) -> None:
    try:
        resume = decode_continuation(text)
    except ValueError:
        return
    if resume.row_key is None:
        return  # the service's own position: the service judges it
    assert row_key(resume.row_key.split("-", 1)[1]) == resume.row_key


@given(st.text(max_size=60))
def test_environment_keys_are_key_safe_and_shards_stable(text: str) -> None:
    key = normalize_environment_id(text)
    if key is None:
        return
    assert not set(key) & set("/\\#?'% ")
    assert key == key.lower()
    shard = environment_shard(key)
    assert len(shard) == 2 and int(shard, 16) < 64
    assert environment_shard(key) == environment_shard(normalize_environment_id(key.upper()) or "")


@pytest.mark.parametrize(
    "operation_id",
    ["backup-2026112\u0661T010000000Z-abc", "restore-\uff12\uff10261121T010000000Z-abc",
     "backup-20261121T010000000Z-ab/c", "backup-20261321T010000000Z-abc"],
)
def test_look_alike_operation_ids_make_no_key(operation_id: str) -> None:
    assert row_key_or_none(operation_id) is None


def test_shards_spread_environments() -> None:
    shards = {environment_shard(f"{i:08x}-0000-4000-8000-000000000000") for i in range(1000)}
    assert len(shards) == 64
