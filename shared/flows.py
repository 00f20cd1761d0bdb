"""Solution cloud flows and connection references, as a restore needs them (reference §9):
values, and how a `workflows` row is read into one (the reads themselves: shared.dataverse.flows).

A flow is a `workflows` row with category 5; it is on when its statecode is 1. The child flows
it calls are read from its `clientdata` (a JSON string: actions of type `Workflow` naming the
child by `inputs.host.workflowReferenceName`). Only what the restore decides with is kept: every
flow's read lives in the operation's one checkpoint (its owner and its connection references are
the platform's to say when it refuses to turn the flow on).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

CLOUD_FLOW = 5
ON, OFF = 1, 0
ACTIVATED, DRAFT = 2, 1


@dataclass(frozen=True, slots=True)
class CloudFlow:
    id: str
    name: str
    on: bool
    unique_name: str | None = None
    calls: tuple[str, ...] = ()
    """Ids (or unique names) of the child flows it calls."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "on": self.on}
        if self.unique_name:
            out["uniqueName"] = self.unique_name
        if self.calls:
            out["calls"] = list(self.calls)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CloudFlow:
        return cls(
            id=str(data["id"]), name=str(data["name"]), on=bool(data["on"]),
            unique_name=data.get("uniqueName"),
            calls=tuple(str(c) for c in data.get("calls") or ()),
        )


@dataclass(frozen=True, slots=True)
class FlowsSeen:
    """An environment's solution cloud flows at one moment."""

    flows: tuple[CloudFlow, ...]
    complete: bool = True
    """False when the read stopped at its bound (shared.dataverse.flows.MAX_FLOWS): some flows
    are not listed."""
    every_on: bool = True
    """True when every flow that is on is listed, even if `complete` is False (flows that are on
    are read first)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"flows": [f.to_json() for f in self.flows]}
        if not self.complete:
            out["complete"] = False
        if not self.every_on:
            out["everyOn"] = False
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlowsSeen:
        return cls(
            flows=tuple(CloudFlow.from_json(f) for f in data.get("flows") or ()),
            complete=bool(data.get("complete", True)),
            every_on=bool(data.get("everyOn", True)),
        )


def cloud_flow(row: Mapping[str, Any]) -> CloudFlow | None:
    """The flow a `workflows` row is, or None when it is not a cloud flow."""
    if row.get("category") != CLOUD_FLOW:
        return None
    calls: tuple[str, ...] = ()
    clientdata = row.get("clientdata")
    if isinstance(clientdata, str) and clientdata:
        try:
            parsed = json.loads(clientdata)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping):
            properties = parsed.get("properties") or {}
            calls = tuple(sorted(set(_child_flows(properties.get("definition")))))
    return CloudFlow(
        id=str(row["workflowid"]),
        name=str(row.get("name") or row["workflowid"]),
        on=row.get("statecode") == ON,
        unique_name=row.get("uniquename"),
        calls=calls,
    )


def _child_flows(node: Any) -> Iterator[str]:
    """Every child flow an action calls (`"type": "Workflow"`), nested scopes included."""
    if isinstance(node, Mapping):
        if node.get("type") == "Workflow":
            host = (node.get("inputs") or {}).get("host") or {}
            child = host.get("workflowReferenceName") if isinstance(host, Mapping) else None
            if child:
                yield str(child)
        for value in node.values():
            yield from _child_flows(value)
    elif isinstance(node, list):
        for value in node:
            yield from _child_flows(value)
