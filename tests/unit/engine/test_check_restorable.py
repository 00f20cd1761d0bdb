"""`CheckRestorable`: the platform's ValidateOnly, then whether the target is among the source's
restore candidates (reference §3.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from engine import answers as a
from engine import commands as c
from engine.execute import execute
from shared.power_platform import RestoreCandidate

SOURCE = "11111111-1111-1111-1111-111111111111"
OTHER = "22222222-2222-2222-2222-222222222222"
POINT = datetime(2026, 11, 21, 11, 30, tzinfo=UTC)


class FakePlatform:
    def __init__(self, candidates: list[str]) -> None:
        self.candidates = candidates
        self.validated: list[tuple[str, str]] = []

    def validate_restore(self, target: str, source: str, point: datetime, **_: Any) -> None:
        self.validated.append((target, source))

    def list_restore_candidates(self, source: str) -> list[RestoreCandidate]:
        return [RestoreCandidate(e, e, None) for e in self.candidates]


def check(platform: FakePlatform, target: str, source: str) -> a.Answer:
    ctx: Any = SimpleNamespace(platform=platform)
    return execute(ctx, c.CheckRestorable(target, source, POINT, True), operation_id="op")


def test_a_restore_onto_itself_does_not_need_the_source_among_its_candidates() -> None:
    # Whether restoreCandidates names the source itself is not documented; ValidateOnly passed.
    platform = FakePlatform([OTHER])
    assert check(platform, SOURCE, SOURCE) == a.Restorable(True)
    assert platform.validated == [(SOURCE, SOURCE)]


def test_another_target_must_be_a_candidate() -> None:
    assert check(FakePlatform([]), OTHER, SOURCE) == a.Restorable(False)
    assert check(FakePlatform([OTHER.upper()]), OTHER, SOURCE) == a.Restorable(True)
