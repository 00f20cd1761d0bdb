"""ReactivatingFlows: after a verified restore, turn on again the cloud flows that were on
before (contract section 11), child flows before the flows that call them.

The step reads the target's flows once, then turns one flow on per call, checkpointing each
outcome before the next; `TurnFlowOn` looks before it writes, so a step re-run after a crash never
activates a flow twice. A flow that will not turn on is listed with the platform's reason in plain
words and what to do; the step is then Failed, and the restore still Succeeded: it never fails
the restore and never touches the environment's type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from engine.answers import AdminWindow, Answer, FlowOn, FlowsRead, Missing, Proceeded, Refused
from engine.commands import Command, Proceed, ReadFlows, TurnFlowOn
from engine.config import EngineConfig
from engine.record import RecordChange, SetFlows, StepUpdate
from restore_orchestrator.moves import Decision, Entry, move, proceed, target_name
from restore_orchestrator.phases import Event
from restore_orchestrator.state import ABSENT, OFF, ON, FlowResult, RestoreState, Work
from shared.flows import CloudFlow, FlowsSeen
from shared.operations import UNREAD_FLOWS, StepStatus

_CONNECTION_MISSING = "XrmConnectionReferenceMissingConnection"
_CONNECTION_REFUSED = "ConnectionAuthorizationFailed"
_SAID_CHARS = 300


# --- what the step turns on (pure) --------------------------------------------------------------


def children_first(flows: Iterable[CloudFlow]) -> tuple[CloudFlow, ...]:
    """`flows` ordered so that a child flow comes before every flow that calls it (a parent
    names its child by id or by unique name); otherwise by name. A cycle, which the platform
    would not run anyway, is broken in name order."""
    pending = sorted(flows, key=lambda f: (f.name.lower(), f.id))
    keys = {key: f.id for f in pending for key in (f.id.lower(), (f.unique_name or "").lower())
            if key}
    needs = {f.id: {keys[c.lower()] for c in f.calls if c.lower() in keys} - {f.id}
             for f in pending}
    ordered: list[CloudFlow] = []
    placed: set[str] = set()
    while pending:
        ready = next((f for f in pending if needs[f.id] <= placed), pending[0])
        ordered.append(ready)
        placed.add(ready.id)
        pending.remove(ready)
    return tuple(ordered)


def to_turn_on(state: RestoreState) -> tuple[str, ...]:
    """The ids the step turns on, in order: those on before (`previous`) or every flow (`all`)
    that exists after the restore; none for `none` or before the flows after are read."""
    facts, mode = state.facts, state.request.reactivate_flows
    after = facts.flows_after
    if after is None or mode == "none":
        return ()
    on_before = [f for f in facts.flows_before.flows if f.on] if facts.flows_before else []
    if mode == "all":
        chosen = list(after.flows)
    else:
        chosen = [f for f in after.flows if f.id in {b.id for b in on_before}]
    if not after.complete:
        # A flow that was on may lie past the read's bound: turning it on by id finds out
        # whether the restore has it (Missing when not).
        read = {f.id for f in after.flows}
        chosen += [f for f in on_before if f.id not in read]
    return tuple(f.id for f in children_first(chosen))


def pending(state: RestoreState) -> tuple[str, ...]:
    done = {r.flow_id for r in state.facts.flow_results}
    return tuple(i for i in to_turn_on(state) if i not in done)


def in_plain_words(code: str, message: str) -> str:
    """The platform's refusal to turn a flow on, and what a person does about it. The
    platform's words are cut to a bound: every flow's reason is kept in one checkpoint."""
    said = (message if len(message) <= _SAID_CHARS else message[:_SAID_CHARS] + "…").rstrip(".")
    lowered = f"{code} {message}".lower()
    if code == _CONNECTION_MISSING:
        return (f"{said[:1].upper()}{said[1:]}. In Power Apps (make.powerapps.com) open the "
                "solution's connection references, give it a connection, then turn the flow on.")
    if "licen" in lowered:
        return (f"Its owner has no licence that lets it run ({said}). Assign the owner a Power "
                "Automate licence or make a licensed user the owner, then turn the flow on.")
    if "connector" in lowered or "apinotfound" in lowered:
        return (f"A connector it uses is missing in this environment ({said}). Install the "
                "connector again (custom connectors need reinstalling after a restore), then "
                "turn the flow on.")
    if _CONNECTION_REFUSED.lower() in lowered:
        return (f"The app cannot use a connection the flow needs ({said}). Have the "
                "connection's owner turn the flow on, or share the connection with the app.")
    if code == "Forbidden":
        # Any other 403 is Dataverse refusing the app's own user a privilege (prvWriteWorkflow,
        # say): the message names the security role to give it; the connections are not at issue.
        return (f"The app is not allowed to turn it on: {said}. Once its application user has "
                "that role, turn the flow on.")
    return (f"The platform refused to turn it on: {said}. Open the flow in Power Automate to see "
            "what it needs, then turn it on.")


def flow_list(state: RestoreState) -> tuple[Mapping[str, Any], ...]:
    """The record's `flows`: every cloud flow before or after the restore, with its state then
    and now, and the reason for each one the restore leaves off that someone may want on."""
    facts = state.facts
    before = {f.id: f for f in (facts.flows_before.flows if facts.flows_before else ())}
    after = {f.id: f for f in (facts.flows_after.flows if facts.flows_after else ())}
    results = {r.flow_id: r for r in facts.flow_results}
    wanted = set(to_turn_on(state))
    names = {**{i: f.name for i, f in before.items()}, **{i: f.name for i, f in after.items()}}
    listed: list[Mapping[str, Any]] = []
    for flow_id in sorted(names, key=lambda i: (names[i].lower(), i)):
        was = _state_of(before.get(flow_id))
        result = results.get(flow_id)
        # A flow the read after the restore did not reach is off as far as the step knows: the
        # platform restore turns every solution flow off, and the step did not turn it on.
        now = result.after if result else (
            OFF if flow_id not in after and not _read_whole(facts.flows_after)
            else _state_of(after.get(flow_id)))
        reason = result.reason if result else _left_as_is(state, was, now, flow_id in wanted)
        entry: dict[str, Any] = {"id": flow_id, "name": names[flow_id], "before": was,
                                 "after": now}
        if reason:
            entry["reason"] = reason
        listed.append(entry)
    return tuple(listed)


def _state_of(flow: CloudFlow | None) -> str:
    return ABSENT if flow is None else ON if flow.on else OFF


def _read_whole(seen: FlowsSeen | None) -> bool:
    return seen is not None and seen.complete


def unread(state: RestoreState) -> bool:
    """Whether a flow the step should have turned on may be in no read, so in no list: a flow
    on before past the bound of the read before (turning on those on before), or any flow past
    the bound of the read after (turning on all)."""
    mode, facts = state.request.reactivate_flows, state.facts
    if mode == "previous":
        # Only the flows that were on matter, and they are read first.
        return facts.flows_before is not None and not facts.flows_before.every_on
    return mode == "all" and facts.flows_after is not None and not facts.flows_after.complete


def _left_as_is(state: RestoreState, was: str, now: str, wanted: bool) -> str | None:
    if now == ON or wanted:
        return None
    mode = state.request.reactivate_flows
    facts = state.facts
    if facts.flows_after is None and mode != "none":
        # A platform restore turns every solution flow off; what the step could not read it
        # could not turn on, so each flow that was on is named for a person to check.
        return (None if was != ON else
                "The cloud flows could not be read after the restore, so it was not turned "
                "on. Turn it on in Power Automate if it should run.")
    if was == ON and now == OFF and not _read_whole(facts.flows_after) and mode != "none":
        return ("The cloud flows after the restore could not all be read (there are more than "
                "one read takes), so it was not turned on. Turn it on in Power Automate if it "
                "should run.")
    if was == ON and now == ABSENT:
        return ("It was on before the restore, but what was restored does not have it, so it is "
                "gone. Import its solution again if it is still needed.")
    if was == ON and mode == "none":
        return ("Left off as asked (reactivateFlows: none). Turn it on when the environment is "
                "ready.")
    if was == ABSENT and now == OFF:
        if facts.flows_before_unreadable:
            return ("Its state before the restore could not be read "
                    f"({facts.flows_before_unreadable}); turn it on if it should run.")
        if not _read_whole(facts.flows_before):
            return ("The cloud flows before the restore could not all be read (there are more "
                    "than one read takes), so whether it was on is not known; turn it on if it "
                    "should run.")
        return ("It came with the restore and is off; it was not here before. Turn it on if this "
                "environment should run it (or restore with reactivateFlows: all).")
    return None


# --- the phase --------------------------------------------------------------------------------


def enter_reactivating(state: RestoreState, now: datetime, config: EngineConfig) -> Entry:
    return state, None, (
        StepUpdate("reactivate_flows",
                   detail=f"Reading {target_name(state)}'s cloud flows after the restore."),
    )


def plan_reactivating(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    target = state.request.target_id
    if state.facts.flows_after is None:
        return ReadFlows(target)
    left = pending(state)
    if left:
        return TurnFlowOn(target, left[0])
    return Proceed("conclude the step")


def decide_reactivating(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision | None:
    facts = state.facts
    if isinstance(answer, FlowsRead):
        read = replace(state, facts=replace(facts, flows_after=answer.seen))
        count = len(to_turn_on(read))
        more = "" if answer.seen.complete else "more than "
        detail = (f"{target_name(state)} has {more}{len(answer.seen.flows)} cloud flows after "
                  f"the restore; turning {count} on.")
        return _next(read, (StepUpdate("reactivate_flows", detail=detail),))
    if isinstance(answer, Proceeded):
        return _conclude(state, now, config)
    if facts.flows_after is None and isinstance(answer, Refused | Missing | AdminWindow):
        # No retry will make an unreadable table readable, and the step never fails the restore.
        return give_up_reactivating(state, now, config, answer.message)
    left = pending(state)
    if not left:
        return None
    if isinstance(answer, FlowOn) and answer.flow_id == left[0]:
        return _record(state, FlowResult(left[0], ON))
    if isinstance(answer, Refused | AdminWindow):
        code = answer.code if isinstance(answer, Refused) else "Forbidden"
        return _record(state, FlowResult(left[0], OFF, in_plain_words(code, answer.message)))
    if isinstance(answer, Missing):
        return _record(state, FlowResult(
            left[0], ABSENT, "It is not in the environment after the restore; import its "
            "solution again if it is still needed."))
    return None  # busy, throttled, unavailable, lost: the dispatcher's (decide.py)


def give_up_reactivating(
    state: RestoreState, now: datetime, config: EngineConfig, message: str
) -> Decision:
    """The platform would not serve the step for the whole backoff: a flow is given up with
    that reason (and the next one tried); flows that could not be read end the step."""
    if state.facts.flows_after is None:
        return move(state, Event.DONE, now, config, step_status=StepStatus.FAILED,
                    step_detail=f"The cloud flows of {target_name(state)} could not be read "
                    f"after the restore; turn on what is needed in Power Automate. {message}",
                    changes=(SetFlows(flow_list(state)),))
    left = pending(state)
    if not left:
        return _conclude(state, now, config)
    return _record(state, FlowResult(
        left[0], OFF, f"The platform would not serve the request for now ({message}). "
        "Turn the flow on in Power Automate."))


def abandoned(state: RestoreState) -> tuple[RecordChange, ...]:
    """The record's `flows` when the orchestrator gives up in this step: each flow it had still
    to turn on is named as left off."""
    reason = ("The orchestrator gave up before turning it on again (the restore ended "
              "NeedsAttention). Turn it on in Power Automate if it should run.")
    left = tuple(FlowResult(flow_id, OFF, reason) for flow_id in pending(state))
    facts = replace(state.facts, flow_results=(*state.facts.flow_results, *left))
    return (SetFlows(flow_list(replace(state, facts=facts))),)


def _record(state: RestoreState, result: FlowResult) -> Decision:
    facts = replace(state.facts, flow_results=(*state.facts.flow_results, result))
    return _next(replace(state, facts=facts), ())


def _next(state: RestoreState, changes: tuple[RecordChange, ...]) -> Decision:
    """Checkpoint what is known (the record's list included) and go on at once; a new flow
    starts a new backoff."""
    return proceed(state, changes=(*changes, SetFlows(flow_list(state))), work=Work())


def _conclude(state: RestoreState, now: datetime, config: EngineConfig) -> Decision:
    flows = flow_list(state)
    wanted = set(to_turn_on(state))
    on = [f for f in flows if f["id"] in wanted and f["after"] == ON]
    off = [f for f in flows if f["id"] in wanted and f["after"] != ON]
    name = target_name(state)
    if state.request.reactivate_flows == "none":
        detail = f"No cloud flows turned on in {name}, as asked (reactivateFlows: none)."
    else:
        detail = f"Turned on {len(on)} cloud flow{'s' if len(on) != 1 else ''} in {name}."
    if off:
        detail += (" Could not turn on: "
                   + "; ".join(f"{f['name']}: {f.get('reason', '')}" for f in off))
    elif state.facts.flows_before_unreadable and state.request.reactivate_flows == "previous":
        detail += (" The flows could not be read before the restore "
                   f"({state.facts.flows_before_unreadable}); check which should be on.")
    # Some flows' states are not known: the step cannot say it did all it should.
    missed = unread(state)
    if missed:
        detail += (f" {UNREAD_FLOWS}: there are more than one read takes, so some may have been "
                   "left off unnamed; check which should be on in Power Automate.")
    return move(state, Event.DONE, now, config,
                step_status=StepStatus.FAILED if off or missed else StepStatus.SUCCEEDED,
                step_detail=detail, changes=(SetFlows(flows),))
