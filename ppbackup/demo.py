"""`ppbackup demo`: the whole product on this machine, end to end, then a clean shutdown.

Azurite (from the project's npm install) and the Power Platform simulator start on free loopback
ports; the real function app runs in the local host; the pre-update timer fires a backup round;
a release pipeline asks for labeled backups by queue and by HTTP; an in-place restore of a
Production environment runs through every step; the history is printed; a data backup takes a
full point of two tables, people change rows, an incremental point copies the changes, and one
record's history is read back; a record restore (a dry run and its diff, then the apply) brings
back the account deleted between the two points, with its id. The simulator runs
SPEED times faster than real time, so a restore of simulated hours takes seconds; the app is
given the simulator's clock, exactly as the tests do, and its logic does not know the difference.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

SPEED = 600.0  # simulated seconds per real second: a one-hour restore takes six seconds
PIPELINE_REQUEST_ID = "release-4.2-pre-deploy"


def say(text: str = "") -> None:
    from ppbackup.render import shown

    sys.stdout.write(shown(text) + "\n")
    sys.stdout.flush()


def heading(text: str) -> None:
    say()
    say(f"== {text} " + "=" * max(0, 74 - len(text)))


def run_demo(*, keep_running: bool = False) -> int:
    from ppbackup.app_host import HOST_JSON, configure_logging
    from ppbackup.azurite import running_azurite
    from ppbackup.receiver import running_receiver
    from ppbackup.simulator import SimOptions, run_simulator

    configure_logging(level=int(os.environ.get("PPBACKUP_DEMO_LOG_LEVEL", "30")))
    heading("Starting Azurite, the Power Platform simulator and the notification receiver")
    with contextlib.ExitStack() as stack:
        azurite = stack.enter_context(running_azurite())
        say(f"Azurite queues+tables+blobs on 127.0.0.1:{azurite.queue_port}/"
            f"{azurite.table_port}/{azurite.blob_port}")
        # Connection references keep their connections through the restore, as if an
        # administrator had given them back before the flows are turned on again: the platform
        # documents that a restore leaves them without (the simulator's default), and then
        # every flow that uses one is listed with what to do, which step 3 shows for one flow.
        sim = stack.enter_context(run_simulator(
            port=0, speed=SPEED, populate=False,
            options=SimOptions(system_backups=True, dataverse_restore_keeps_connections=True)))
        envs = sim.seed_default()
        say(f"Simulator on {sim.url}, {SPEED:.0f}x real time, tenant:")
        for name, env_id in envs.items():
            env = sim.environment(env_id)
            say(f"  {name:<14} {env_id:<45} {env['properties']['environmentSku']}")
        secret = "demo-webhook-secret-0123456789"  # noqa: S105 (a throwaway local demo value)
        receiver = stack.enter_context(running_receiver(secret=secret))
        say(f"Notification receiver on {receiver.url} (prints every card and webhook it gets)")

        prod = envs["Contoso Prod"]
        os.environ.update(
            {
                "AzureWebJobsStorage": azurite.connection_string,
                "PP_API_URL": sim.url,
                "PP_BAP_URL": sim.url,
                "PP_AUTH": "none",
                "BACKUP_SCOPE": "type:Production",
                "RESTORE_ALLOW_PRODUCTION": prod,
                "TEAMS_WEBHOOK_URL": f"{receiver.url}/teams",
                "NOTIFY_WEBHOOK_URL": f"{receiver.url}/webhook",
                "NOTIFY_WEBHOOK_SECRET": secret,
            }
        )
        host, fire_at = stack.enter_context(
            _app_host(sim, HOST_JSON, azurite.connection_string))
        api = f"{host.http_url}/api"
        say(f"Function app running in the local host: {api} ({len(host.functions)} functions)")

        _add_flows(sim, prod)
        heading("1. The pre-update timer fires a backup round over every Production environment")
        say(f"BACKUP_SCHEDULE is set to fire at {fire_at:%H:%M:%S}Z ...")
        _wait_for_history(host, kind="backup", at_least=2, timeout=60)
        host.wait_until_idle(timeout=60)
        _print_history(host, kind="backup")

        heading("2. A release pipeline asks for a labeled backup (queue) and a hotfix one (HTTP)")
        _send_pipeline_backup(prod)
        answer = httpx.post(
            f"{api}/backups",
            json={
                "environmentId": prod,
                "label": "Before hotfix 4.2.1",
                "requestedBy": "hotfix pipeline #118",
            },
            timeout=30,
        )
        say(f"POST /api/backups -> {answer.status_code} {answer.json()}")
        _send_pipeline_backup(prod)  # a pipeline retry: same requestId, so no second backup
        say("The queue request was sent twice (a pipeline retry, same requestId): one backup.")
        host.wait_until_idle(timeout=60)
        _print_history(host, kind="backup")

        heading("3. An in-place restore of Contoso Prod from 'Before release 4.2'")
        # The platform needs about 10-15 minutes before a manual backup is restorable; the app
        # waits 15 and a margin (engine/config.py).
        sim.advance(18 * 60)
        answer = httpx.post(
            f"{api}/restores",
            json={
                "targetEnvironmentId": prod,
                "backupLabel": "Before release 4.2",
                "confirmProduction": "Contoso Prod",
                "requestedBy": "on-call engineer",
                "reason": "release 4.2 corrupted the price lists",
            },
            timeout=30,
        )
        say(f"POST /api/restores -> {answer.status_code} {answer.json()}")
        restore_id = answer.json()["operationId"]
        record = _follow(api, restore_id, timeout=180)
        env = sim.environment(prod)["properties"]
        say()
        say(
            f"Contoso Prod is now {env['environmentSku']}, "
            f"runtime {env['states']['runtime']['id']}, background operations "
            f"{env['linkedEnvironmentMetadata']['backgroundOperationsState']}."
        )
        _print_flows(record)
        host.wait_until_idle(timeout=60)

        heading("4. History, newest first (ppbackup history)")
        _print_history(host, kind=None)
        heading("5. The backups of Contoso Prod, manual and system (ppbackup backups)")
        _print_backups(api, prod)
        point_id, deleted = _data_backups(api, sim, prod)
        host.wait_until_idle(timeout=60)
        _record_restore(api, sim, prod, point_id, deleted)
        host.wait_until_idle(timeout=60)
        heading(f"9. Notifications the receiver got: {len(receiver.received)}")
        say("(each was printed above as it arrived)")
        if keep_running:
            say()
            say(
                "Everything stays up: try `ppbackup history` with "
                f"--storage '{azurite.connection_string}'. Ctrl-C stops."
            )
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        heading("Shutting down")
        status = record["status"]
    say(f"Done. The restore ended {status}.")
    return 0 if status == "Succeeded" else 1


def _add_flows(sim: Any, environment_id: str) -> None:
    """Two more solution cloud flows, on, using the Dataverse connection (which has its
    connection): with the seeded ones, four flows are on; one of them, 'Sync projects to
    SharePoint', uses the Teams reference that has no connection."""
    import json

    clientdata = json.dumps({"properties": {"connectionReferences": {
        "shared_commondataserviceforapps": {"connection": {
            "connectionReferenceLogicalName": "new_sharedcommondataserviceforapps_1"}}},
        "definition": {"triggers": {}, "actions": {}}}})
    for name in ("Approve price list changes", "Escalate overdue cases"):
        sim.dataverse_change(environment_id, "workflow", "create", values={
            "name": name, "category": 5, "type": 1, "primaryentity": "none",
            "clientdata": clientdata, "statecode": 1, "statuscode": 2})


def _print_flows(record: dict[str, Any]) -> None:
    say()
    say("Cloud flows (the record's `flows`; the platform restore turned every one off).")
    say("The simulator kept the connection references' connections here; by default, as the")
    say("platform documents, a restore leaves them without, and each flow using one is listed")
    say("like 'Sync projects to SharePoint' below:")
    for flow in record.get("flows") or ():
        say(f"  {flow['name']:<32} before {flow['before']:<6} after {flow['after']}")
        if flow.get("reason"):
            say(f"    -> {flow['reason']}")


@contextlib.contextmanager
def _app_host(sim: Any, host_json: Any, storage: str) -> Iterator[tuple[Any, datetime]]:
    """The host, and when its backup timer fires (a few seconds from now).

    The app reads BACKUP_SCHEDULE when it is imported, and a timer whose occurrence passed
    before the host started never fires it: the libraries that make most of the import's time
    (seconds on a busy machine) load first, the schedule is set after them."""
    import azure.functions  # noqa: F401 (most of importing the app: see above)

    from ppbackup.host import LocalHost
    from shared import app_settings, http_api  # noqa: F401 (ditto)
    from shared.runtime import AppContext, set_context
    from shared.settings import Settings

    fire_at = datetime.now(UTC) + timedelta(seconds=5)
    os.environ["BACKUP_SCHEDULE"] = f"{fire_at.second} {fire_at.minute} {fire_at.hour} * * *"
    # The app's clock is the simulator's, and delayed messages shrink by its speed.
    settings = Settings.from_env(os.environ)
    set_context(AppContext.from_settings(settings, clock=sim.now, time_scale=SPEED))
    import function_app

    try:
        with LocalHost(
            function_app.app, storage_connection=storage, host_json=host_json, http_port=0
        ) as host:
            yield host, fire_at
    finally:
        set_context(None)


def _data_backups(api: str, sim: Any, environment_id: str) -> tuple[str, dict[str, Any]]:
    """A full point, people changing and deleting rows, an incremental point, then the points
    and one record's history as `ppbackup data points` and `ppbackup data record` show them.
    Returns the first point's id and the account deleted after it (`accountid`, `name`)."""
    from ppbackup import cli

    heading("7. Data backups: table rows kept for years in your own storage account")
    first = _data_backup(api, environment_id, "Nightly data backup")
    accounts = httpx.get(f"{sim.dataverse_url(environment_id)}/api/data/v9.2/accounts",
                         params={"$select": "accountid,name", "$top": "3"}, timeout=30).json()
    changed, deleted = accounts["value"][0], accounts["value"][1]
    record_id = changed["accountid"]
    sim.advance(3600)
    sim.dataverse_change(environment_id, "account", "update", record_id,
                         {"name": "Contoso Pharma (prices overwritten by an import)"})
    sim.dataverse_change(environment_id, "account", "delete", deleted["accountid"])
    sim.dataverse_change(environment_id, "contact", "create", values={"firstname": "Ana",
                                                                    "lastname": "Sousa"})
    say()
    say(f"People then changed Contoso Prod: account {changed['name']!r} renamed, account "
        f"{deleted['name']!r} deleted, a contact created. The next point copies only that:")
    second = _data_backup(api, environment_id, "After the import")
    say()
    say(f"$ ppbackup data points {environment_id}")
    cli.main(["data", "points", environment_id])
    say()
    say(f"$ ppbackup data record {environment_id} account {record_id}")
    cli.main(["data", "record", environment_id, "account", record_id])
    if first["status"] != "Succeeded" or second["status"] != "Succeeded":
        raise RuntimeError("a data backup of the demo did not succeed")
    return str(first["pointId"]), deleted


def _record_restore(api: str, sim: Any, environment_id: str, point_id: str,
                    deleted: dict[str, Any]) -> None:
    """The import's deletion undone from the first point: a dry run and its diff, then the
    apply (Contoso Prod is in the demo's RESTORE_ALLOW_PRODUCTION, and the request confirms it),
    then the account read back from the environment with its original id."""
    from ppbackup import cli

    heading("8. A record restore brings back the account the import deleted")
    request = {"sourceEnvironmentId": environment_id, "tables": ["account"],
               "pointId": point_id, "mode": "missing", "withRelated": True,
               "requestedBy": "demo", "reason": "an import deleted an account"}
    logged = len(sim.dataverse_writes(environment_id))
    dry_run = _data_restore(api, request, "dry run: compare and record the plan, write nothing")
    written = sim.dataverse_writes(environment_id)[logged:]
    say()
    say(f"The simulator's write log of Contoso Prod: {len(written)} write(s) by the dry run.")
    if written:
        raise RuntimeError(f"the dry run wrote to Contoso Prod: {written}")
    say()
    say(f"$ ppbackup data diff {dry_run['operationId']}")
    cli.main(["data", "diff", dry_run["operationId"]])
    say()
    say("Contoso Prod is Production: applying needs it in RESTORE_ALLOW_PRODUCTION (the demo's "
        "settings list it) and the request's confirmProduction naming it.")
    applied = _data_restore(
        api, {**request, "apply": True, "confirmProduction": "Contoso Prod"}, "apply")
    if dry_run["status"] != "Succeeded" or applied["status"] != "Succeeded":
        raise RuntimeError("a record restore of the demo did not succeed")
    say()
    say("The simulator's write log of Contoso Prod, the apply's writes:")
    for write in sim.dataverse_writes(environment_id)[logged:]:
        say(f"  {write['seq']:>4}  {write['action']:<8} {write['table']:<10} {write['row_id']}")
    account_id = deleted["accountid"]
    answer = httpx.get(f"{sim.dataverse_url(environment_id)}/api/data/v9.2/accounts({account_id})",
                       params={"$select": "accountid,name"}, timeout=30)
    row = answer.json()
    say()
    say(f"GET accounts({account_id}) -> {answer.status_code} "
        f"{ {name: row.get(name) for name in ('accountid', 'name')} }")
    if answer.status_code != 200 or row.get("name") != deleted["name"]:
        raise RuntimeError(f"the restored account {account_id} is not back as it was")
    say(f"Account {deleted['name']!r} is back in Contoso Prod with its original id.")


def _data_restore(api: str, request: dict[str, Any], what: str) -> dict[str, Any]:
    answer = httpx.post(f"{api}/data-restores", json=request, timeout=30)
    say(f"POST /api/data-restores ({what}) -> {answer.status_code} {answer.json()}")
    return _follow(api, answer.json()["operationId"], timeout=120)


def _data_backup(api: str, environment_id: str, label: str) -> dict[str, Any]:
    answer = httpx.post(f"{api}/data-backups", json={
        "environmentId": environment_id, "tables": ["account", "contact"], "label": label,
        "requestedBy": "demo"}, timeout=30)
    say(f"POST /api/data-backups ({label}) -> {answer.status_code} {answer.json()}")
    return _follow(api, answer.json()["operationId"], timeout=120)


def _send_pipeline_backup(environment_id: str) -> None:
    from shared.queue_names import BACKUP_REQUESTS
    from shared.storage.queues import QueueSender

    sender = QueueSender.from_connection(os.environ["AzureWebJobsStorage"])
    sender.send(
        BACKUP_REQUESTS,
        {
            "environmentId": environment_id,
            "label": "Before release 4.2",
            "notes": "Release pipeline, stage 'deploy to production'",
            "requestedBy": "release pipeline #4471",
            "requestId": PIPELINE_REQUEST_ID,
        },
    )
    say("Queued on backup-requests: label 'Before release 4.2', requestId " + PIPELINE_REQUEST_ID)


def _history(kind: str | None, limit: int = 50) -> list[dict[str, Any]]:
    from shared.history_api import list_records, parse_listing_query
    from shared.runtime import get_context

    params = {"limit": str(limit)}
    if kind:
        params["kind"] = kind
    records: list[dict[str, Any]] = list_records(get_context(), parse_listing_query(params))[
        "operations"
    ]
    return records


def _wait_for_history(host: Any, *, kind: str, at_least: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_history(kind)) >= at_least:
            return
        time.sleep(0.5)
    raise TimeoutError(f"no {kind} operations appeared within {timeout:.0f}s")


def _print_history(host: Any, *, kind: str | None) -> None:
    from ppbackup.render import history_table, show

    show(history_table(_history(kind)))


def _print_backups(api: str, environment_id: str) -> None:
    from ppbackup.render import backups_table, show

    listing = httpx.get(f"{api}/environments/{environment_id}/backups", timeout=30).json()
    show(backups_table(environment_id, listing["backups"]))


def _follow(api: str, operation_id: str, *, timeout: float) -> dict[str, Any]:
    from ppbackup.render import operation_detail, show
    from shared.operations import OperationStatus

    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    record: dict[str, Any] = {}
    while time.monotonic() < deadline:
        record = httpx.get(f"{api}/operations/{operation_id}", timeout=30).json()
        for step in record.get("steps", []):
            if shown.get(step["name"]) != step["status"]:
                shown[step["name"]] = step["status"]
                detail = f" - {step['detail']}" if step.get("detail") else ""
                say(f"  {step['name']:<21} {step['status']:<9}{detail}")
        if OperationStatus(record["status"]).terminal:
            say()
            show(operation_detail(record))
            return record
        time.sleep(0.25)
    raise TimeoutError(f"operation {operation_id} did not end within {timeout:.0f}s")
