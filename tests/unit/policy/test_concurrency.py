"""The parallelism against a server that paces its users: halved when it asks for fewer
requests at once, one more after clean work, never above its recommendation nor below one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.policy.concurrency import next_concurrency

counts = st.integers(-3, 64)


@given(counts, counts, st.booleans(), st.booleans())
def test_it_stays_between_one_and_the_ceiling(current: int, ceiling: int, slowed: bool,
                                              clean: bool) -> None:
    assert 1 <= next_concurrency(current, ceiling, slowed=slowed, clean=clean) <= max(1, ceiling)


@given(st.integers(1, 64), st.integers(1, 64), st.booleans())
def test_a_refusal_halves_it_whatever_else_happened(current: int, ceiling: int,
                                                    clean: bool) -> None:
    ran = min(current, ceiling)
    assert next_concurrency(current, ceiling, slowed=True, clean=clean) == max(1, ran // 2)


@given(st.integers(1, 64), st.integers(1, 64))
def test_clean_work_adds_one_up_to_the_ceiling_and_anything_else_keeps_it(
        current: int, ceiling: int) -> None:
    ran = min(current, ceiling)
    assert next_concurrency(current, ceiling, slowed=False, clean=True) == min(ceiling, ran + 1)
    assert next_concurrency(current, ceiling, slowed=False, clean=False) == ran


def test_from_the_recommendation_down_and_back() -> None:
    seen, current = [], 8
    for slowed in (True, True, True, True, False, False, False):
        current = next_concurrency(current, 8, slowed=slowed, clean=not slowed)
        seen.append(current)
    assert seen == [4, 2, 1, 1, 2, 3, 4]
