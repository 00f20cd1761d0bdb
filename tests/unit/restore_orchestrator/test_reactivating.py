"""The flow step's pure parts: which flows, in which order, and what the record says."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.answers import Proceeded
from engine.record import StepUpdate
from restore_orchestrator.phases import Phase
from restore_orchestrator.reactivating import (
    children_first,
    decide_reactivating,
    flow_list,
    in_plain_words,
    to_turn_on,
)
from restore_orchestrator.state import FlowResult, RestoreState
from shared.dataverse.errors import role_hint
from shared.dataverse.flows import MAX_FLOWS
from shared.errors import RequestInvalid
from shared.flows import CloudFlow, FlowsSeen, cloud_flow
from shared.operations import UNREAD_FLOWS, OperationKind, StepStatus, new_operation
from shared.storage.entities import operation_entity
from shared.validation import parse_restore_request

from .builders import CONFIG, NOW, TARGET, state

# Flow i may call any flow with a smaller index (no cycles), by id or by unique name.
calls_graph = st.integers(min_value=1, max_value=8).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.lists(st.integers(min_value=0, max_value=n - 1), max_size=3),
             min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n),
))


@given(calls_graph)
def test_a_child_always_comes_before_the_flows_that_call_it(graph: tuple) -> None:
    n, calls, by_unique_name = graph
    flows = [
        CloudFlow(f"id-{i}", f"flow {(i * 5) % n}", True, unique_name=f"u{i}",
                  calls=tuple(f"u{c}" if by_unique_name[i] else f"ID-{c}"
                              for c in calls[i] if c < i))
        for i in range(n)
    ]
    ordered = [f.id for f in children_first(flows)]
    assert sorted(ordered) == sorted(f.id for f in flows)
    for i, flow_calls in enumerate(calls):
        for c in flow_calls:
            if c < i:
                assert ordered.index(f"id-{c}") < ordered.index(f"id-{i}")


def test_a_cycle_is_broken_and_every_flow_still_listed_once() -> None:
    a = CloudFlow("a", "A", True, calls=("b",))
    b = CloudFlow("b", "B", True, calls=("a",))
    assert sorted(f.id for f in children_first([a, b])) == ["a", "b"]


def test_child_flows_are_read_from_clientdata() -> None:
    clientdata = ('{"properties": {"connectionReferences": {"x": {"connection": '
                  '{"connectionReferenceLogicalName": "new_x"}}}, "definition": {"actions": '
                  '{"Scope": {"type": "Scope", "actions": {"Run child": {"type": "Workflow", '
                  '"inputs": {"host": {"workflowReferenceName": "child-id"}}}}}}}}}')
    flow = cloud_flow({"workflowid": "p", "name": "Parent", "category": 5, "statecode": 1,
                       "clientdata": clientdata, "_ownerid_value": "u1"})
    assert flow == CloudFlow("p", "Parent", True, calls=("child-id",))
    assert cloud_flow({"workflowid": "w", "category": 0, "statecode": 1}) is None


def _reactivating(mode: str = "previous", **facts: object) -> RestoreState:
    s = state(Phase.REACTIVATING_FLOWS, request_changes={"reactivate_flows": mode})
    return replace(s, facts=replace(s.facts, **facts))  # type: ignore[arg-type]


BEFORE = FlowsSeen((CloudFlow("on", "On", True), CloudFlow("off", "Off", False),
                    CloudFlow("gone", "Gone", True)))
AFTER = FlowsSeen((CloudFlow("on", "On", False), CloudFlow("off", "Off", False),
                   CloudFlow("new", "New", False)))


@pytest.mark.parametrize(("mode", "expected"), [
    ("previous", ("on",)), ("all", ("new", "off", "on")), ("none", ()),
])
def test_which_flows_the_step_turns_on(mode: str, expected: tuple[str, ...]) -> None:
    assert to_turn_on(_reactivating(mode, flows_before=BEFORE, flows_after=AFTER)) == expected


def test_the_record_lists_every_flow_before_and_after_with_reasons() -> None:
    s = _reactivating(flows_before=BEFORE, flows_after=AFTER,
                      flow_results=(FlowResult("on", "off", "no connection"),))
    listed = {f["id"]: f for f in flow_list(s)}
    assert {i: (f["before"], f["after"]) for i, f in listed.items()} == {
        "on": ("on", "off"), "off": ("off", "off"), "gone": ("on", "absent"),
        "new": ("absent", "off"),
    }
    assert listed["on"]["reason"] == "no connection"
    assert "is gone" in listed["gone"]["reason"]
    assert "came with the restore" in listed["new"]["reason"]
    assert "reason" not in listed["off"]


@pytest.mark.parametrize(("code", "message", "words"), [
    ("XrmConnectionReferenceMissingConnection",
     "its connection reference new_x has no connection", "give it a connection"),
    ("Forbidden", "ConnectionAuthorizationFailed: not shared", "connection's owner"),
    ("ValidationFailed", "The owner has no valid license for this flow", "licence"),
    ("ValidationFailed", "Connector shared_contoso was not found", "connector"),
    ("ValidationFailed", "Something else", "The platform refused"),
])
def test_refusals_in_plain_words_with_what_to_do(code: str, message: str, words: str) -> None:
    assert words in in_plain_words(code, message)


@pytest.mark.parametrize("message", [
    "Principal user (Id=1) is missing prvWriteWorkflow privilege",
    "The user is not authorized to perform this operation",
])
def test_a_missing_privilege_is_explained_as_a_security_role_not_a_connection(
    message: str,
) -> None:
    text = in_plain_words("Forbidden", f"{role_hint('app-id')} Dataverse said: {message}")
    assert "connection's owner" not in text
    assert "security role" in text and "turn the flow on" in text


def test_the_state_keeps_the_flows_through_its_json() -> None:
    s = _reactivating("all", flows_before=BEFORE, flows_after=AFTER,
                      flows_before_unreadable=None,
                      flow_results=(FlowResult("on", "off", "why"),))
    assert RestoreState.from_json(s.to_json()) == s


def test_reactivate_flows_in_the_request() -> None:
    body = {"targetEnvironmentId": TARGET, "latest": True}
    assert parse_restore_request(body).reactivate_flows == "previous"
    assert parse_restore_request({**body, "reactivateFlows": "all"}).reactivate_flows == "all"
    with pytest.raises(RequestInvalid) as raised:
        parse_restore_request({**body, "reactivateFlows": "some"})
    assert "reactivateFlows" in raised.value.fields
    assert "previous, all, none" in raised.value.fields["reactivateFlows"]


def _concluded(s: RestoreState) -> tuple[StepStatus | None, str]:
    decision = decide_reactivating(s, Proceeded(), NOW, CONFIG)
    step = next(c for c in decision.changes
                if isinstance(c, StepUpdate) and c.name == "reactivate_flows")
    return step.status, step.detail or ""


def test_flows_on_before_but_past_the_read_after_are_still_turned_on() -> None:
    after = replace(AFTER, flows=AFTER.flows[1:], complete=False)  # "on" was not read
    s = _reactivating(flows_before=BEFORE, flows_after=after)
    assert set(to_turn_on(s)) == {"on", "gone"}
    assert "is gone" not in str(flow_list(s))
    s = replace(s, facts=replace(s.facts, flow_results=(
        FlowResult("on", "on"), FlowResult("gone", "absent", "not in the environment"))))
    assert _concluded(s)[0] is StepStatus.FAILED  # "gone" is gone: named, so the step fails


def test_with_all_flows_past_the_read_after_the_step_fails_saying_so() -> None:
    after = replace(AFTER, flows=AFTER.flows[1:], complete=False)
    s = _reactivating("all", flows_before=BEFORE, flows_after=after, flow_results=tuple(
        FlowResult(i, "on") for i in ("new", "off", "on", "gone")))
    status, detail = _concluded(s)
    assert status is StepStatus.FAILED
    assert UNREAD_FLOWS in detail and "check which should be on" in detail


def test_flows_past_the_read_before_are_not_said_to_have_come_with_the_restore() -> None:
    before = replace(BEFORE, complete=False, every_on=False)
    s = _reactivating(flows_before=before, flows_after=AFTER)
    listed = {f["id"]: f for f in flow_list(s)}
    assert "came with the restore" not in listed["new"]["reason"]
    assert "could not all be read" in listed["new"]["reason"]
    status, detail = _concluded(replace(s, facts=replace(
        s.facts, flow_results=(FlowResult("on", "on"),))))
    assert status is StepStatus.FAILED
    assert UNREAD_FLOWS in detail


def test_complete_reads_turning_every_flow_on_still_succeed() -> None:
    s = _reactivating(flows_before=BEFORE, flows_after=AFTER,
                      flow_results=(FlowResult("on", "on"),))
    assert _concluded(s)[0] is StepStatus.SUCCEEDED


def _longest_flow(i: int, on: bool) -> CloudFlow:
    """A flow as a read gives it at its longest in practice: a 100-character name and unique
    name, ten connection references, two child flows."""
    refs = {f"r{k}": {"connection": {"connectionReferenceLogicalName": f"{k:02d}" + "r" * 98}}
            for k in range(10)}
    calls = {f"c{k}": {"type": "Workflow", "inputs": {"host": {
        "workflowReferenceName": str(uuid.UUID(int=10**9 + k))}}} for k in range(2)}
    clientdata = json.dumps({"properties": {"connectionReferences": refs,
                                            "definition": {"actions": calls}}})
    flow = cloud_flow({"workflowid": str(uuid.UUID(int=i + 1)), "name": f"{i:05d}" + "n" * 95,
                       "uniquename": "u" * 100, "category": 5, "statecode": int(on),
                       "_ownerid_value": str(uuid.UUID(int=10**6 + i)), "clientdata": clientdata})
    assert flow is not None
    return flow


def test_as_many_flows_as_a_read_keeps_fit_one_checkpoint_at_their_longest() -> None:
    n = MAX_FLOWS
    reason = in_plain_words("ValidationFailed", "m" * 20_000)  # a platform message of any length
    s = _reactivating(
        flows_before=FlowsSeen(tuple(_longest_flow(i, True) for i in range(n))),
        flows_after=FlowsSeen(tuple(_longest_flow(i, False) for i in range(n))),
        flow_results=tuple(FlowResult(str(uuid.UUID(int=i + 1)), "off", reason)
                           for i in range(n)))
    record = new_operation(OperationKind.RESTORE, TARGET, NOW, flows=flow_list(s))
    operation_entity(record, partition_key="p", row_key="r", internal=s.to_json())  # no raise


def test_a_read_before_that_kept_every_flow_on_lets_the_step_succeed() -> None:
    before = replace(BEFORE, flows=BEFORE.flows[:1], complete=False, every_on=True)
    s = _reactivating(flows_before=before, flows_after=AFTER,
                      flow_results=(FlowResult("on", "on"),))
    assert _concluded(s)[0] is StepStatus.SUCCEEDED
    assert RestoreState.from_json(s.to_json()) == s
