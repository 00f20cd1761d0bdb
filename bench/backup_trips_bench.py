"""Storage round trips per backup: what one backup costs the app in Azurite requests.

    python bench/backup_trips_bench.py [--backups 50]

Each backup is a `backup-requests` message handled in-process (`handle_backup_message`, as the
host would), against the simulator with no faults, after the environments' names were remembered
as the timer's round remembers them before it fans out; every request to Azurite in the window is
counted at the transport (bench/round_trips.py, as bench/restore_engine_bench.py counts per step).
No timing: the figure is a count, so it holds on a busy machine. The fan-out pace itself is
bench/fanout_bench.py's.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor

from round_trips import count_round_trips  # bench/round_trips.py (run as a script)

from backup_triggers.service import handle_backup_message
from ppbackup.azurite import running_azurite
from ppbackup.simulator import run_simulator
from shared.operations import OperationKind, OperationStatus
from shared.runtime import AppContext, use_context
from shared.settings import Settings
from shared.storage.directory import directory_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backups", type=int, default=50)
    args = parser.parse_args(argv)
    with running_azurite() as endpoints, run_simulator(port=0, populate=False) as sim:
        trips = count_round_trips(endpoints.queue_port)
        settings = Settings.from_env({
            "AzureWebJobsStorage": endpoints.connection_string, "PP_API_URL": sim.url,
            "PP_BAP_URL": sim.url, "PP_AUTH": "none",
        })
        ctx = AppContext.from_settings(settings)
        envs = sim.seed_many(args.backups, type="Production")
        ctx.history.list(limit=1)  # tables created before counting
        directory_for(ctx).remember((env, f"Env {i}") for i, env in enumerate(envs))
        bodies = [json.dumps({"environmentId": env, "label": "Trips", "requestId": f"trips-{i}"})
                  for i, env in enumerate(envs)]
        with use_context(ctx), ThreadPoolExecutor(max_workers=8) as pool:
            trips.on = True
            list(pool.map(lambda b: handle_backup_message(
                ctx, b[1], message_id=f"m{b[0]}", dequeue_count=1), enumerate(bodies)))
            trips.on = False
        done = ctx.history.list(kind=OperationKind.BACKUP, limit=200).items
        succeeded = sum(op.status is OperationStatus.SUCCEEDED for op in done)
        made = sum(len(sim.backups(env)) for env in envs)
    print(f"{args.backups} backups: {succeeded} succeeded, {made} made on the platform")
    print(f"storage round trips per backup: {trips.per(args.backups)}")
    return 0 if succeeded == made == args.backups else 1


if __name__ == "__main__":
    raise SystemExit(main())
