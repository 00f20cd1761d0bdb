"""Record restore triggers (contract section 10): the `data-restore-requests` intake queue (and
its poison queue), the engine's `data-restore-work` steps, and `POST /api/data-restores`.

Use cases are imported inside the functions: indexing this file must stay fast (cold start).
"""

from __future__ import annotations

import azure.functions as func

from shared.http_api import handles_errors, json_response, read_json, status_url
from shared.queue_names import DATA_RESTORE_REQUESTS, DATA_RESTORE_WORK, poison_queue

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # (azure-functions is unannotated)

STORAGE = "AzureWebJobsStorage"


@bp.function_name("data_restore_request")
@bp.queue_trigger(arg_name="msg", queue_name=DATA_RESTORE_REQUESTS, connection=STORAGE)
def data_restore_request(msg: func.QueueMessage) -> None:
    from data_restores import intake
    from shared.runtime import get_context

    intake.handle_data_restore_message(get_context(), msg.get_body(), message_id=msg.id or "")


@bp.function_name("data_restore_request_poison")
@bp.queue_trigger(arg_name="msg", queue_name=poison_queue(DATA_RESTORE_REQUESTS),
                  connection=STORAGE)
def data_restore_request_poison(msg: func.QueueMessage) -> None:
    from data_restores import intake
    from shared.runtime import get_context

    intake.handle_poisoned_data_restore_message(
        get_context(), msg.get_body(), message_id=msg.id or "", dequeue_count=msg.dequeue_count or 1
    )


@bp.function_name("data_restore_work")
@bp.queue_trigger(arg_name="msg", queue_name=DATA_RESTORE_WORK, connection=STORAGE)
def data_restore_work(msg: func.QueueMessage) -> None:
    from engine.runner import handle_step_message
    from shared.runtime import get_context

    handle_step_message(get_context(), msg.get_body(), dequeue_count=msg.dequeue_count or 1)


@bp.function_name("post_data_restore")
@bp.route(route="data-restores", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handles_errors
def post_data_restore(req: func.HttpRequest) -> func.HttpResponse:
    from data_restores import intake
    from data_restores.request import parse_data_restore_request
    from shared.runtime import get_context

    request = parse_data_restore_request(read_json(req))
    operation = intake.submit_data_restore(get_context(), request)
    url = status_url(req, operation.operation_id)
    return json_response(
        202, {"operationId": operation.operation_id, "statusUrl": url}, {"Location": url}
    )
