"""The data backup's decisions, pure: which tables and how, what a page's answer means, waits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_backups import committing, copying, planning
from data_backups.commands import (
    Committed,
    PageCopied,
    PagesCopied,
    Swept,
    TableFacts,
    TablesRead,
    TokenExpired,
)
from data_backups.faults import fail
from data_backups.state import DataBackupState, Phase, TableStatus, TableWork
from engine.answers import Missing, Refused, Throttled, Unavailable
from engine.config import EngineConfig
from engine.decision import ContinueNow, Stop, WaitFor
from engine.record import Finish, StepUpdate
from shared.operations import OperationStatus, StepStatus
from shared.policy.backoff import MIN_WAIT_SECONDS, Backoff

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
CONFIG = EngineConfig(backoff=Backoff(base_seconds=15, cap_seconds=600, max_attempts=3))
ENV = "6b1c2d3e-0000-4000-8000-00000000e001"


def facts(name: str, **overrides: object) -> TableFacts:
    values: dict[str, object] = {
        "table": name, "entity_set": f"{name}s", "id_column": f"{name}id",
        "change_tracking": True, "readable": True,
    }
    values.update(overrides)
    return TableFacts(**values)  # type: ignore[arg-type]


def read(*tables: TableFacts) -> TablesRead:
    return TablesRead("https://org.example", "https://org.example", "20261203T020000000Z-0a0b0c0d",
                      tables)


def test_named_tables_that_cannot_be_read_fail_with_the_reason_and_the_rest_go_on() -> None:
    state = DataBackupState(ENV, requested=("account", "nosuch", "virtualthing"))
    decision = planning.decide(state, read(
        facts("account"), facts("virtualthing", entity_set=None, readable=False)), NOW, CONFIG)
    tables = {t.table: t for t in decision.state.tables}
    assert decision.state.phase is Phase.COPYING
    assert tables["account"].status is TableStatus.PENDING
    assert tables["nosuch"].status is TableStatus.FAILED
    assert "logical name" in (tables["nosuch"].detail or "")
    assert tables["virtualthing"].status is TableStatus.FAILED
    assert isinstance(decision.next, ContinueNow)


def test_a_request_that_names_nothing_readable_is_rejected() -> None:
    state = DataBackupState(ENV, requested=("nosuch",))
    decision = planning.decide(state, read(facts("account")), NOW, CONFIG)
    assert decision.state.phase is Phase.REJECTED
    assert isinstance(decision.next, Stop)
    [finish] = [c for c in decision.changes if isinstance(c, Finish)]
    assert finish.status is OperationStatus.REJECTED and finish.error is not None
    assert "nosuch" in finish.error.message



def test_a_change_link_of_the_environments_old_url_is_not_planned_from() -> None:
    # An admin changed the environment's URL since the last point: its links name the old host.
    old_link = "https://oldname.api.crm4.dynamics.com/api/data/v9.2/accounts?$deltatoken=9"
    new_link = "https://org.example/api/data/v9.2/contacts?$deltatoken=9"
    state = DataBackupState(ENV, requested=("account", "contact"))
    decision = planning.decide(state, read(
        facts("account", previous="p1", chain_length=2, delta_link=old_link),
        facts("contact", previous="p1", chain_length=2, delta_link=new_link)), NOW, CONFIG)
    account, contact = decision.state.tables
    assert (account.mode, account.since, account.previous) == ("full", None, None)
    assert "oldname.api.crm4.dynamics.com" in (account.detail or "")
    assert "URL" in (account.detail or "")
    assert (contact.mode, contact.since) == ("incremental", new_link)


def test_a_refusal_of_many_tables_names_a_few_and_counts_the_rest() -> None:
    # 500 unknown names of 127 characters: one sentence each would be a 130 KB message on record.
    names = tuple(f"nosuch{n:03d}" + "x" * 118 for n in range(500))
    decision = planning.decide(DataBackupState(ENV, requested=names), read(facts("account")),
                               NOW, CONFIG)
    [finish] = [c for c in decision.changes if isinstance(c, Finish)]
    assert finish.error is not None and len(finish.error.message) < 2000
    assert names[0] in finish.error.message and names[5] not in finish.error.message
    assert "and 495 more" in finish.error.message
    # Each table's own reason stays on its row.
    assert len(decision.state.tables) == 500
    assert all(t.status is TableStatus.FAILED and t.detail for t in decision.state.tables)

def test_all_means_every_readable_table_less_the_exclusions() -> None:
    state = DataBackupState(ENV, excluded=frozenset({"audit"}))
    decision = planning.decide(state, read(
        facts("contact"), facts("audit"), facts("account"),
        facts("virtual", entity_set=None, readable=False)), NOW, CONFIG)
    assert [t.table for t in decision.state.tables] == ["account", "contact"]


def test_full_or_incremental() -> None:
    state = DataBackupState(ENV)
    earlier = {"previous": "20261202T020000000Z-0a0b0c0d", "delta_link": "https://org.example/d"}
    decision = planning.decide(state, read(
        facts("first"),
        facts("tracked", chain_length=3, **earlier),
        facts("untracked", change_tracking=False, chain_length=0, **earlier),
        facts("longchain", chain_length=30, **earlier),
        facts("nolink", chain_length=0, previous=earlier["previous"]),
    ), NOW, CONFIG)
    modes = {t.table: t.mode for t in decision.state.tables}
    assert modes == {"first": "full", "tracked": "incremental", "untracked": "full",
                     "longchain": "full", "nolink": "full"}
    tracked = next(t for t in decision.state.tables if t.table == "tracked")
    assert (tracked.previous, tracked.since) == (earlier["previous"], earlier["delta_link"])
    forced = planning.decide(replace(state, full=True), read(
        facts("tracked", chain_length=3, **earlier)), NOW, CONFIG)
    assert forced.state.tables[0].mode == "full"


def copying_state(*names: str) -> DataBackupState:
    return DataBackupState(
        ENV, phase=Phase.COPYING, api_url="https://org.example", point_id="p", point_time=NOW,
        tables=tuple(TableWork(n, f"{n}s", f"{n}id") for n in names), concurrency=8,
        concurrency_limit=8,
    )


def test_a_page_moves_the_cursor_and_the_last_page_ends_the_table() -> None:
    state = copying_state("account", "contact")
    decision = copying.decide(state, PagesCopied({
        "account": PageCopied(5, 0, 100, {"url": "https://org.example/next", "pageSize": 5,
                                          "trackChanges": True}, 1, 0, dop_hint=2),
        "contact": PageCopied(3, 0, 60, None, 1, 0),
    }), NOW, CONFIG)
    account, contact = decision.state.tables
    assert account.status is TableStatus.COPYING and account.cursor is not None
    assert (account.row_chunks, account.changed) == (1, 5)
    assert contact.status is TableStatus.COPIED and contact.rows == 3
    assert decision.state.concurrency == 2  # the server's hint
    assert isinstance(decision.next, ContinueNow)
    last = copying.decide(decision.state,
                          PagesCopied({"account": PageCopied(2, 0, 40, None, 1, 0)}), NOW, CONFIG)
    assert last.state.phase is Phase.COMMITTING
    assert last.state.tables[0].rows == 7


def test_a_step_plans_a_bounded_run_of_pages_per_table() -> None:
    command = copying.plan(copying_state("account", "contact"), NOW, CONFIG)
    assert [job.table for job in command.jobs] == ["account", "contact"]
    assert command.max_pages == copying.PAGES_PER_STEP > 1
    assert 0 < command.budget_seconds <= 60  # within the runner's invocation budget


NEXT = {"url": "https://org.example/next", "pageSize": 5, "trackChanges": True}


def test_pages_before_a_fault_are_kept_and_the_fault_is_waited_out_or_fails_the_table() -> None:
    state = copying_state("account", "contact")
    state = replace(state, tables=(replace(state.tables[0], row_chunks=2, changed=10),
                                   state.tables[1]))
    throttled = copying.decide(state, PagesCopied({
        "account": PageCopied(15, 2, 300, NEXT, 3, 1, stopped=Throttled("429", retry_after=90)),
        "contact": PageCopied(5, 0, 50, NEXT, 1, 0),
    }), NOW, CONFIG)
    account, contact = throttled.state.tables
    assert contact.changed == 5 and contact.status is TableStatus.COPYING
    assert (account.row_chunks, account.deleted_chunks, account.changed, account.deleted) == (
        5, 1, 25, 2)
    assert account.cursor == NEXT and account.status is TableStatus.COPYING
    assert isinstance(throttled.next, WaitFor) and throttled.next.seconds >= 90
    assert throttled.state.attempts == 1  # pages moved: the count starts again at this wait
    refused = copying.decide(state, PagesCopied({
        "account": PageCopied(15, 0, 300, NEXT, 3, 0, stopped=Refused("Forbidden", "no role")),
    }), NOW, CONFIG)
    account = refused.state.tables[0]
    assert (account.status, account.detail, account.row_chunks) == (TableStatus.FAILED,
                                                                    "no role", 5)
    assert isinstance(refused.next, ContinueNow)  # contact goes on


def test_throttling_waits_for_retry_after_and_gives_up_per_table_after_the_budget() -> None:
    state = copying_state("account", "contact")
    throttled = PagesCopied({"account": Throttled("429", retry_after=120.0),
                             "contact": PageCopied(1, 0, 10, None, 1, 0)})
    decision = copying.decide(state, throttled, NOW, CONFIG)
    assert isinstance(decision.next, WaitFor) and decision.next.seconds >= 120
    assert decision.state.attempts == 1  # contact moved on: the count starts again
    stuck = decision.state
    for attempt in range(2, CONFIG.backoff.max_attempts + 1):
        decision = copying.decide(stuck, PagesCopied({"account": Unavailable("503")}), NOW, CONFIG)
        assert isinstance(decision.next, WaitFor)
        assert decision.state.attempts == attempt
        stuck = decision.state
    ended = copying.decide(stuck, PagesCopied({"account": Unavailable("503")}), NOW, CONFIG)
    account, contact = ended.state.tables
    assert account.status is TableStatus.FAILED and "Gave up" in (account.detail or "")
    assert contact.status is TableStatus.COPIED
    assert ended.state.phase is Phase.COMMITTING  # the point holds contact


def test_a_retry_after_counts_from_the_429_and_one_already_over_is_not_waited() -> None:
    from data_backups.execute import _waited

    pages = PageCopied(10, 0, 100, NEXT, 2, 0, stopped=Throttled("429", retry_after=5.0))
    assert _waited(pages, 100.0, 103.0).stopped.retry_after == 2.0
    assert _waited(pages, 100.0, 110.0).stopped.retry_after == 0.0
    # Not below the floor, where it would read as no Retry-After (and get the whole backoff).
    assert _waited(pages, 100.0, 104.9).stopped.retry_after == MIN_WAIT_SECONDS
    direct = Throttled("429", retry_after=5.0)  # no page read: waited out in full, as before
    assert _waited(direct, 100.0, 110.0) is direct
    state = copying_state("account", "contact")
    decision = copying.decide(state, PagesCopied({
        "account": _waited(pages, 100.0, 110.0), "contact": PageCopied(5, 0, 50, NEXT, 1, 0),
    }), NOW, CONFIG)
    assert isinstance(decision.next, ContinueNow) and decision.state.attempts == 0
    assert decision.state.tables[0].cursor == NEXT
    for ended, wait in ((103.0, 2.0), (104.9, MIN_WAIT_SECONDS)):
        still = copying.decide(state, PagesCopied({"account": _waited(pages, 100.0, ended)}),
                               NOW, CONFIG)
        assert isinstance(still.next, WaitFor) and still.next.seconds == wait


def test_an_expired_token_restarts_the_table_as_a_full_copy() -> None:
    state = copying_state("account")
    state = replace(state, tables=(replace(
        state.tables[0], mode="incremental", previous="x", since="https://org.example/d",
        row_chunks=2, changed=9),))
    decision = copying.decide(state, PagesCopied({"account": TokenExpired("expired")}), NOW,
                              CONFIG)
    [account] = decision.state.tables
    assert (account.mode, account.previous, account.since, account.cursor) == (
        "full", None, None, None)
    assert (account.row_chunks, account.changed, account.status) == (0, 0, TableStatus.PENDING)


@pytest.mark.parametrize("refusal", [
    Refused("0x0", "The $deltatoken value is not valid."),  # the environment was restored
    Refused("ForeignHost", "'old.example' is not this environment's Dataverse host"),
    Missing("Resource not found"),
], ids=["invalid-token", "foreign-host", "missing"])
def test_a_refused_change_link_restarts_the_table_as_a_full_copy_once(refusal: object) -> None:
    state = copying_state("account")
    state = replace(state, tables=(replace(
        state.tables[0], mode="incremental", previous="x", since="https://org.example/d"),))
    decision = copying.decide(state, PagesCopied({"account": refusal}), NOW, CONFIG)
    [account] = decision.state.tables
    assert (account.mode, account.since, account.status) == ("full", None, TableStatus.PENDING)
    assert "link" in (account.detail or "") and "refused" in (account.detail or "")
    assert refusal.message.rstrip(".") in (account.detail or "")
    assert isinstance(decision.next, ContinueNow)
    # The full copy refused too: the table fails, no third try.
    again = copying.decide(decision.state, PagesCopied({"account": refusal}), NOW, CONFIG)
    assert again.state.tables[0].status is TableStatus.FAILED


@pytest.mark.parametrize("fault", [Throttled("429", retry_after=5.0), Unavailable("503")])
def test_a_change_link_throttled_or_unavailable_is_waited_for_not_dropped(fault: object) -> None:
    state = copying_state("account")
    state = replace(state, tables=(replace(
        state.tables[0], mode="incremental", previous="x", since="https://org.example/d"),))
    decision = copying.decide(state, PagesCopied({"account": fault}), NOW, CONFIG)
    assert isinstance(decision.next, WaitFor)
    assert decision.state.tables[0].since == "https://org.example/d"


def test_a_refused_table_fails_and_when_every_table_failed_the_backup_fails() -> None:
    state = copying_state("account")
    decision = copying.decide(state, PagesCopied({"account": Refused(
        "Forbidden", "Assign the application user a security role")}), NOW, CONFIG)
    assert decision.state.phase is Phase.FAILED
    assert decision.state.tables[0].detail == "Assign the application user a security role"


names = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)
works = st.builds(
    TableWork, table=names, entity_set=names, id_column=names,
    mode=st.sampled_from(["full", "incremental"]), previous=st.none() | names,
    since=st.none() | st.just("https://org.example/d?$deltatoken=1"),
    row_chunks=st.integers(0, 10**6), changed=st.integers(0, 10**9),
    rows=st.none() | st.integers(0, 10**9), status=st.sampled_from(list(TableStatus)),
    detail=st.none() | st.text(max_size=50),
    delta_link=st.none() | st.just("https://org.example/d?$deltatoken=2"),
    rewritten=st.dictionaries(st.just("rows-000003"), st.just("rows-000003.0a1b2c3d4e5f6a7b")),
)


@given(st.builds(
    DataBackupState, environment_id=st.just(ENV), label=st.none() | st.text(max_size=20),
    requested=st.none() | st.tuples(names), excluded=st.frozensets(names, max_size=3),
    full=st.booleans(), seq=st.integers(0, 10**6), phase=st.sampled_from(list(Phase)),
    tables=st.tuples(works, works), concurrency=st.integers(1, 8),
    concurrency_limit=st.integers(1, 8),
    attempts=st.integers(0, 40), sweep_due=st.booleans(), swept=st.integers(0, 10**6),
))
def test_the_state_survives_its_json(state: DataBackupState) -> None:
    assert DataBackupState.from_json(state.to_json()) == state


def test_the_first_copy_step_reads_no_more_tables_at_once_than_the_server_recommends() -> None:
    many = tuple(facts(f"t{i}") for i in range(12))
    hinted = replace(read(*many), recommended_concurrency=2)
    assert planning.decide(DataBackupState(ENV), hinted, NOW, CONFIG).state.concurrency == 2
    eager = replace(read(*many), recommended_concurrency=50)
    state = planning.decide(DataBackupState(ENV), eager, NOW, CONFIG).state
    assert state.concurrency == copying.MAX_CONCURRENCY
    assert len(copying.plan(state, NOW, CONFIG).jobs) == copying.MAX_CONCURRENCY


def test_a_refusal_for_execution_time_halves_the_tables_read_at_once_and_clean_steps_add_back(
) -> None:
    names = [f"t{i}" for i in range(6)]
    state = replace(copying_state(*names), concurrency=5, concurrency_limit=5)
    assert len(copying.plan(state, NOW, CONFIG).jobs) == 5
    slow = Throttled("0x80072321: execution time", retry_after=1.0, fewer=True)
    refused = copying.decide(state, PagesCopied({
        "t0": PageCopied(5, 0, 50, NEXT, 1, 0, dop_hint=5, stopped=slow),
        **{n: PageCopied(5, 0, 50, NEXT, 1, 0, dop_hint=5) for n in names[1:5]},
    }), NOW, CONFIG)
    assert refused.state.concurrency == 2 and refused.state.concurrency_limit == 5
    assert isinstance(refused.next, WaitFor)  # the refusal is still waited out
    [said] = [c.detail for c in refused.changes if isinstance(c, StepUpdate)]
    assert "Reading 2 table(s) at a time (Dataverse asked for fewer requests" in (said or "")
    assert [job.table for job in copying.plan(refused.state, NOW, CONFIG).jobs] == ["t0", "t1"]
    # A read refused before any page (not even one row moved) halves it too.
    alone = copying.decide(refused.state, PagesCopied({"t0": slow, "t1": slow}), NOW, CONFIG)
    assert alone.state.concurrency == 1
    # Each step served without any refusal reads one more table, up to the server's hint.
    clean = alone.state
    for expected in (2, 3, 4, 5, 5):
        ran = [job.table for job in copying.plan(clean, NOW, CONFIG).jobs]
        clean = copying.decide(clean, PagesCopied(
            {n: PageCopied(5, 0, 50, NEXT, 1, 0, dop_hint=5) for n in ran}), NOW, CONFIG).state
        assert clean.concurrency == expected
    [said] = [c.detail for c in copying.after_copy(clean).changes if isinstance(c, StepUpdate)]
    assert said is not None and "at a time" not in said  # back at the hint: nothing to say
    # A step of fewer tables than the concurrency (the last ones left) is halved from what ran.
    two = copying.decide(replace(state, concurrency=5), PagesCopied({
        "t0": PageCopied(5, 0, 50, NEXT, 1, 0, stopped=slow),
        "t1": PageCopied(5, 0, 50, NEXT, 1, 0)}), NOW, CONFIG)
    assert two.state.concurrency == 1


def test_the_last_tables_left_read_without_refusal_keep_the_concurrency_and_say_nothing(
) -> None:
    # Two tables left of a step at 5: fewer ran because fewer were left, not because
    # Dataverse asked; nothing is lowered and the detail names no pacing.
    state = replace(copying_state("account", "contact"), concurrency=5, concurrency_limit=5)
    decision = copying.decide(state, PagesCopied({
        "account": PageCopied(5, 0, 50, NEXT, 1, 0), "contact": PageCopied(5, 0, 50, NEXT, 1, 0),
    }), NOW, CONFIG)
    assert decision.state.concurrency == 5
    [said] = [c.detail for c in decision.changes if isinstance(c, StepUpdate)]
    assert said is not None and "at a time" not in said


def test_a_refusal_for_the_request_count_keeps_the_concurrency() -> None:
    # Below the limit: a step with that refusal is not clean, so it does not grow either.
    state = replace(copying_state("account", "contact", "note"), concurrency=2,
                    concurrency_limit=3)
    count = Throttled("0x80072322: requests", retry_after=1.0)  # fewer at once would not help
    decision = copying.decide(state, PagesCopied({
        "account": PageCopied(5, 0, 50, NEXT, 1, 0, stopped=count),
        "contact": PageCopied(5, 0, 50, NEXT, 1, 0)}), NOW, CONFIG)
    assert decision.state.concurrency == 2
    assert isinstance(decision.next, WaitFor)
    # Its wait over by the step's end: nothing to wait for, and still no growth.
    passed = copying.decide(state, PagesCopied({
        "account": PageCopied(5, 0, 50, NEXT, 1, 0, stopped=replace(count, retry_after=0.0)),
        "contact": PageCopied(5, 0, 50, NEXT, 1, 0)}), NOW, CONFIG)
    assert isinstance(passed.next, ContinueNow)
    assert passed.state.concurrency == 2


def test_a_refusal_whose_wait_passed_during_the_step_still_halves_the_concurrency() -> None:
    state = replace(copying_state("t0", "t1", "t2", "t3"), concurrency=4, concurrency_limit=4)
    passed = Throttled("0x80072321: execution time", retry_after=0.0, fewer=True)
    decision = copying.decide(state, PagesCopied({
        "t0": PageCopied(5, 0, 50, NEXT, 1, 0, stopped=passed),
        **{n: PageCopied(5, 0, 50, NEXT, 1, 0) for n in ("t1", "t2", "t3")}}), NOW, CONFIG)
    assert isinstance(decision.next, ContinueNow)  # nothing left to wait for
    assert decision.state.concurrency == 2


def test_without_a_hint_the_concurrency_grows_back_to_the_limit_the_plan_kept() -> None:
    many = tuple(facts(f"t{i}") for i in range(6))
    state = planning.decide(DataBackupState(ENV), replace(read(*many), recommended_concurrency=3),
                            NOW, CONFIG).state
    assert (state.concurrency, state.concurrency_limit) == (3, 3)
    slow = Throttled("0x80072326: concurrency", retry_after=1.0, fewer=True)
    state = copying.decide(state, PagesCopied({"t0": slow, "t1": slow, "t2": slow}),
                           NOW, CONFIG).state
    assert (state.concurrency, state.concurrency_limit) == (1, 3)
    for expected in (2, 3, 3):  # pages without x-ms-dop-hint: the kept limit holds
        ran = [job.table for job in copying.plan(state, NOW, CONFIG).jobs]
        state = copying.decide(state, PagesCopied(
            {n: PageCopied(5, 0, 50, NEXT, 1, 0) for n in ran}), NOW, CONFIG).state
        assert (state.concurrency, state.concurrency_limit) == (expected, 3)


def test_a_state_written_before_the_limit_was_kept_reads_its_concurrency_as_the_limit() -> None:
    data = copying_state("account").to_json()
    data.pop("concurrencyLimit")
    data["concurrency"] = 6
    old = DataBackupState.from_json(data)
    assert (old.concurrency, old.concurrency_limit) == (6, 6)


def test_a_step_that_starts_every_table_left_may_commit_the_point() -> None:
    state = replace(copying_state("account", "contact"), label="before import")
    state = replace(state, tables=(*state.tables, TableWork(
        "salesorder", status=TableStatus.FAILED, detail="403: assign a role")))
    commit = copying.plan(state, NOW, CONFIG).commit
    assert commit is not None
    assert (commit.point_time, commit.label) == (NOW, "before import")
    assert commit.failed == {"salesorder": "403: assign a role"}
    # A table half copied by an earlier step, or more tables than one step reads: no commit.
    begun = replace(state, tables=(replace(state.tables[0], status=TableStatus.COPYING,
                                           row_chunks=1, cursor=NEXT), *state.tables[1:]))
    assert copying.plan(begun, NOW, CONFIG).commit is None
    assert copying.plan(replace(state, concurrency=1), NOW, CONFIG).commit is None
    # The last table of several steps starts its step with nothing copied, but the point holds
    # the tables earlier steps copied too: its commit is the commit step's, which names them all.
    rest = replace(state, concurrency=1, tables=(
        replace(state.tables[0], status=TableStatus.COPIED, row_chunks=1), *state.tables[1:]))
    assert [job.table for job in copying.plan(rest, NOW, CONFIG).jobs] == ["contact"]
    assert copying.plan(rest, NOW, CONFIG).commit is None


@given(st.booleans())
def test_a_step_that_committed_goes_on_from_the_commit(sweep_due: bool) -> None:
    state = replace(copying_state("account", "contact"), sweep_due=sweep_due)
    decision = copying.decide(state, PagesCopied(
        {"account": PageCopied(5, 1, 100, None, 1, 1, delta_link="https://org.example/d1"),
         "contact": PageCopied(0, 0, 0, None, 0, 0, delta_link="https://org.example/d2")},
        Committed({"account": (None, 100), "contact": (7, 0)},
                  {"account": (5, 1), "contact": (0, 0)}),
    ), NOW, CONFIG)
    tables = {t.table: t for t in decision.state.tables}
    assert tables["contact"].rows == 7 and tables["account"].bytes == 100
    assert tables["account"].delta_link == "https://org.example/d1"
    steps = {c.name: c.status for c in decision.changes if isinstance(c, StepUpdate)}
    assert steps["copy"] is steps["commit"] is StepStatus.SUCCEEDED
    if sweep_due:
        assert decision.state.phase is Phase.SWEEPING and isinstance(decision.next, ContinueNow)
    else:  # nothing has expired: the point ends at its commit, with no sweep step
        assert decision.state.phase is Phase.SUCCEEDED and isinstance(decision.next, Stop)
        assert steps["retention"] is StepStatus.SUCCEEDED


def test_a_step_run_again_after_its_commit_takes_the_point_as_committed() -> None:
    state = replace(copying_state("account"), sweep_due=False)
    decision = copying.decide(state, PagesCopied(
        {}, Committed({"account": (None, 100)}, {"account": (5, 1)})), NOW, CONFIG)
    [account] = decision.state.tables
    assert account.status is TableStatus.COPIED
    assert (account.changed, account.deleted, account.bytes) == (5, 1, 100)
    assert decision.state.phase is Phase.SUCCEEDED


def test_the_plan_says_whether_a_sweep_follows_the_commit() -> None:
    for due in (True, False):
        decision = planning.decide(DataBackupState(ENV), replace(
            read(facts("account")), sweep_due=due), NOW, CONFIG)
        assert decision.state.sweep_due is due


def test_a_sweep_backlog_goes_on_step_by_step_and_ends_with_the_total() -> None:
    state = replace(copying_state("account"), phase=Phase.SWEEPING)
    first = committing.decide(state, Swept(2000, (), more=True), NOW, CONFIG)
    assert first.state.phase is Phase.SWEEPING and isinstance(first.next, ContinueNow)
    assert first.state.swept == 2000
    assert DataBackupState.from_json(first.state.to_json()) == first.state
    last = committing.decide(first.state, Swept(3, ("p9: HttpResponseError",)), NOW, CONFIG)
    assert last.state.phase is Phase.SUCCEEDED and isinstance(last.next, Stop)
    [retention] = [c for c in last.changes if isinstance(c, StepUpdate)]
    assert retention.detail is not None and retention.detail.startswith("2003 expired point(s)")
    assert "p9" in retention.detail


def test_a_sweep_that_gives_up_says_its_point_is_complete() -> None:
    state = replace(copying_state("account"), phase=Phase.SWEEPING)
    [finish] = [c for c in fail(state, "GaveUp", "the store kept failing", "retention").changes
                if isinstance(c, Finish)]
    assert finish.skipped_detail is not None and "the point is complete" in finish.skipped_detail
    [finish] = [c for c in fail(copying_state("account"), "GaveUp", "x", "copy").changes
                if isinstance(c, Finish)]
    assert finish.skipped_detail == "Not reached: no point was committed."
