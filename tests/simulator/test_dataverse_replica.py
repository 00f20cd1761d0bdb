"""Property: a replica kept by one initial sync and then delta reads alone (paged at any size)
always equals the table, whatever mix of creates, updates and deletes, by users or through the
Web API, happened in between. This is what an incremental data backup relies on."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from ppbackup.simulator import SimOptions, run_simulator

from .conftest import read_all

Op = tuple[Any, ...]
OPS = st.one_of(
    st.tuples(st.just("create"), st.booleans()),
    st.tuples(st.just("update"), st.integers(0, 10_000), st.booleans()),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.booleans()),
    st.tuples(st.just("sync"), st.integers(1, 7)),
)


def apply_delta(replica: dict[str, str], changes: list[dict[str, Any]]) -> None:
    for change in changes:
        if "$deletedEntity" in change.get("@odata.context", ""):
            replica.pop(change["id"], None)
        else:
            replica[change["accountid"]] = change["name"]


@settings(max_examples=30, deadline=None)
@given(ops=st.lists(OPS, max_size=25), first_page=st.integers(1, 9))
def test_initial_sync_plus_deltas_equals_the_table(ops: list[Op], first_page: int) -> None:
    with run_simulator(speed=0, populate=False, options=SimOptions(dataverse_rows=12)) as sim, \
            httpx.Client(timeout=10) as http:
        env = sim.add_environment("Replica", type="Sandbox")
        root = f"{sim.dataverse_url(env)}/api/data/v9.2/"
        rows, delta = read_all(http, f"{root}accounts?$select=name",
                               f"odata.track-changes,odata.maxpagesize={first_page}")
        assert delta is not None
        replica = {r["accountid"]: r["name"] for r in rows}
        for counter, op in enumerate(ops):
            live = sorted(r["accountid"] for r in http.get(
                f"{root}accounts?$select=name").json()["value"])
            if op[0] == "create":
                if op[1]:
                    assert http.post(f"{root}accounts", json={"name": f"n{counter}"}
                                     ).status_code == 204
                else:
                    sim.dataverse_change(env, "account", "create", values={"name": f"n{counter}"})
            elif op[0] in ("update", "delete") and live:
                target = live[op[1] % len(live)]
                if op[0] == "update" and op[2]:
                    assert http.patch(f"{root}accounts({target})",
                                      json={"name": f"u{counter}"}).status_code == 204
                elif op[0] == "update":
                    sim.dataverse_change(env, "account", "update", target,
                                         {"name": f"u{counter}"})
                elif op[2]:
                    assert http.delete(f"{root}accounts({target})").status_code == 204
                else:
                    sim.dataverse_change(env, "account", "delete", target)
            elif op[0] == "sync":
                changes, delta = read_all(http, delta,
                                          f"odata.track-changes,odata.maxpagesize={op[1]}")
                assert delta is not None
                apply_delta(replica, changes)
        changes, _ = read_all(http, delta, "odata.maxpagesize=3")
        apply_delta(replica, changes)
        actual = {r["accountid"]: r["name"] for r in http.get(
            f"{root}accounts?$select=name").json()["value"]}
        assert replica == actual
