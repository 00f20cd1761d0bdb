"""A timer round's labels: what the environment's name puts into a label never gets the backup
refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_triggers.rounds import ScopedEnvironment, render_label
from shared.validation import MAX_LABEL, parse_backup_request

GUID = "51f48b59-205a-4945-aa35-a0d6a2fe05ea"
SLOT = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
HEBREW = "\u05de\u05db\u05d9\u05e8\u05d5\u05ea\u200f"  # "sales" and a right-to-left mark: kept


def _label(name: str, template: str = "Pre-update {env} {date}") -> str:
    return render_label(template, SLOT, ScopedEnvironment(GUID, name, "Production"))


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Contoso\tSales", "Pre-update Contoso Sales 2026-12-05"),
        ("Contoso\u200b Sales", "Pre-update Contoso Sales 2026-12-05"),
        ("Sales \u202eDEV", "Pre-update Sales DEV 2026-12-05"),
        ("Line\nbreak\u2028here", "Pre-update Line break here 2026-12-05"),
        (HEBREW, f"Pre-update {HEBREW} 2026-12-05"),
    ],
)
def test_an_environment_name_goes_into_a_label_as_it_reads(name: str, label: str) -> None:
    assert _label(name) == label
    assert parse_backup_request({"environmentId": GUID, "label": label}).label == label


def test_a_name_of_nothing_readable_is_the_environment_id() -> None:
    assert _label("\u200b\u2060", "{env}") == GUID


@given(st.text(), st.sampled_from(["{env}", "Pre-update {date} {time}Z ({env})", "x" * 300]))
def test_a_timer_backup_is_never_refused_for_its_environment_name(name: str,
                                                                  template: str) -> None:
    label = _label(name, template)
    assert len(label) <= MAX_LABEL
    assert parse_backup_request({"environmentId": GUID, "label": label}).label == label
