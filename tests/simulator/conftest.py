"""Fixtures: a simulator on a free loopback port with a frozen clock (speed 0), so simulated time
moves only when a test says so, and a thin httpx wrapper that speaks the wire contract."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ppbackup.simulator import Simulator, run_simulator

API_PP = "2024-10-01"
API_BAP_READ = "2023-06-01"
API_BAP_WRITE = "2021-04-01"
ENVS = "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments"
PP_ENVS = "/environmentmanagement/environments"


@dataclass
class Api:
    """One method per wire-contract call; returns the raw httpx response."""

    http: httpx.Client

    def list_environments(self, **params: str) -> httpx.Response:
        return self.http.get(ENVS, params={"api-version": API_BAP_READ, **params})

    def get_environment(self, env: str) -> httpx.Response:
        return self.http.get(f"{ENVS}/{env}", params={"api-version": API_BAP_READ})

    def create_backup(self, env: str, label: str = "pre-release") -> httpx.Response:
        return self.http.post(f"{PP_ENVS}/{env}/backups", params={"api-version": API_PP},
                              json={"label": label})

    def list_backups(self, env: str, token: str | None = None) -> httpx.Response:
        params = {"api-version": API_PP}
        if token:
            params["continuationToken"] = token
        return self.http.get(f"{PP_ENVS}/{env}/backups", params=params)

    def delete_backup(self, env: str, backup_id: str) -> httpx.Response:
        return self.http.delete(f"{PP_ENVS}/{env}/backups/{backup_id}",
                                params={"api-version": API_PP})

    def restore(
        self, target: str, source: str, point: str, *, validate_only: bool = False,
        restore_options: dict[str, Any] | None = None,
    ) -> httpx.Response:
        params = {"api-version": API_PP}
        if validate_only:
            params["ValidateOnly"] = "true"
        body: dict[str, Any] = {"sourceEnvironmentId": source, "restorePointDateTime": point}
        if restore_options is not None:
            body["restoreOptions"] = restore_options
        return self.http.post(f"{PP_ENVS}/{target}/restore", params=params, json=body)

    def restore_candidates(self, source: str) -> httpx.Response:
        return self.http.get(f"{PP_ENVS}/{source}/restoreCandidates",
                             params={"api-version": API_PP})

    def operations(self, env: str, **params: str) -> httpx.Response:
        return self.http.get(f"{PP_ENVS}/{env}/operations",
                             params={"api-version": API_PP, **params})

    def operation(self, op_id: str) -> httpx.Response:
        return self.http.get(f"/environmentmanagement/operations/{op_id}",
                             params={"api-version": API_PP})

    def modify_sku(self, env: str, sku: str) -> httpx.Response:
        return self.http.post(f"{ENVS}/{env}/modifySku", params={"api-version": API_BAP_WRITE},
                              json={"environmentSku": sku})

    def set_runtime(
        self, env: str, runtime: str | None = "Enabled", background: str | None = None
    ) -> httpx.Response:
        properties: dict[str, Any] = {}
        if runtime is not None:
            properties["states"] = {"runtime": {"id": runtime}}
        if background is not None:
            properties["linkedEnvironmentMetadata"] = {"backgroundOperationsState": background}
        return self.http.patch(f"{ENVS}/{env}", params={"api-version": API_BAP_WRITE},
                               json={"properties": properties})

    def poll(self, url: str) -> httpx.Response:
        """GET a status URL verbatim (absolute, as the 202 gave it)."""
        return self.http.get(url)


def status_url(response: httpx.Response) -> str:
    url = response.headers.get("Location") or response.headers.get("Operation-Location")
    assert url, f"no status header in {dict(response.headers)}"
    return str(url)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    if "errorDetail" in body:
        return str(body["errorDetail"]["code"])
    return str(body["error"]["code"])


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(speed=0, populate=False, seed=1234) as simulator:
        yield simulator


@pytest.fixture
def api(sim: Simulator) -> Iterator[Api]:
    with httpx.Client(base_url=sim.url, timeout=10) as http:
        yield Api(http)


@dataclass(frozen=True)
class Tenant:
    prod: str       # Production, managed, europe
    uat: str        # Sandbox, managed, europe
    dev_us: str     # Sandbox, unmanaged, unitedstates
    sandbox_eu_unmanaged: str
    sandbox_us_managed: str
    default: str


@pytest.fixture
def tenant(sim: Simulator) -> Tenant:
    return Tenant(
        prod=sim.add_environment("Prod", type="Production", location="europe", managed=True,
                                 content="prod v1"),
        uat=sim.add_environment("UAT", type="Sandbox", location="europe", managed=True,
                                content="uat v1"),
        dev_us=sim.add_environment("Dev US", type="Sandbox", location="unitedstates"),
        sandbox_eu_unmanaged=sim.add_environment("EU unmanaged", type="Sandbox",
                                                 location="europe"),
        sandbox_us_managed=sim.add_environment("US managed", type="Sandbox",
                                               location="unitedstates", managed=True),
        default=sim.add_environment("Tenant default", is_default=True),
    )


# ---------------------------------------------------------------------------- Dataverse


@dataclass(frozen=True)
class Dataverse:
    """An environment's Dataverse Web API, found the way the app finds it (BAP record)."""

    env: str
    url: str       # instanceApiUrl
    http: httpx.Client  # base_url = the Web API root (.../api/data/v9.2/)


@pytest.fixture
def dv(sim: Simulator, api: Api) -> Iterator[Dataverse]:
    env = sim.add_environment("Contoso Prod", type="Production", location="europe")
    record = api.get_environment(env).json()
    url = record["properties"]["linkedEnvironmentMetadata"]["instanceApiUrl"]
    with httpx.Client(base_url=f"{url}/api/data/v9.2/", timeout=10) as http:
        yield Dataverse(env, url, http)


def read_all(http: httpx.Client, url: str, prefer: str) -> tuple[list[dict[str, Any]], str | None]:
    """Follow nextLinks verbatim; returns every row and the final deltaLink (if any)."""
    rows: list[dict[str, Any]] = []
    link: str | None = url
    delta = None
    while link is not None:
        response = http.get(link, headers={"Prefer": prefer})
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["value"])
        link = body.get("@odata.nextLink")
        delta = body.get("@odata.deltaLink")
        assert link is None or delta is None, "a deltaLink only on the last page"
    return rows, delta
