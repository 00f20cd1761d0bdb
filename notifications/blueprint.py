"""Notification triggers: the outbox queue's delivery function and the alerts timer.

Each function parses its input and calls one function; the logic lives in `delivery.py` and
`alerts.py`. Registered in function_app.py with `app.register_functions(bp)`. Those modules are
imported on first invocation, not here: the worker imports this file only to index the
functions, and that must stay fast (bench/coldstart_bench.py).
"""

from __future__ import annotations

import azure.functions as func

from shared.queue_names import NOTIFICATIONS

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # (azure-functions is unannotated)

STORAGE = "AzureWebJobsStorage"
# Every five minutes: the still-Sandbox alert is due 15 minutes after a restore step ends, and
# an overdue round summary should not wait much longer than its deadline.
ALERTS_SCHEDULE = "0 */5 * * * *"


@bp.function_name("notification_delivery")
@bp.queue_trigger(arg_name="msg", queue_name=NOTIFICATIONS, connection=STORAGE)
def notification_delivery(msg: func.QueueMessage) -> None:
    from notifications.delivery import handle_notification
    from shared.runtime import get_context

    handle_notification(get_context(), msg.get_body(), dequeue_count=msg.dequeue_count or 1)


@bp.function_name("notification_alerts")
@bp.timer_trigger(arg_name="timer", schedule=ALERTS_SCHEDULE, run_on_startup=False,
                  use_monitor=True)
def notification_alerts(timer: func.TimerRequest) -> None:
    from notifications.alerts import run_alert_checks
    from shared.runtime import get_context

    run_alert_checks(get_context())
