"""An unexpected error in an HTTP route: an incident id to quote, nothing secret in the log."""

from __future__ import annotations

import json
import logging

import azure.functions as func
import pytest

from shared.http_api import handles_errors


@handles_errors
def failing_route(req: func.HttpRequest) -> func.HttpResponse:
    raise ConnectionError("the queue did not answer")


def test_the_function_key_in_the_query_never_reaches_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    req = func.HttpRequest(method="POST", url="https://app.example/api/backups?code=K3y==",
                           body=b"{}", params={"code": "K3y=="})
    with caplog.at_level(logging.ERROR, logger="shared.http_api"):
        answer = failing_route(req)

    assert answer.status_code == 500
    incident = json.loads(answer.get_body())["error"]["message"]
    [record] = [r for r in caplog.records if r.getMessage() == "http.unhandled"]
    assert record.__dict__["incident"] in incident
    assert record.__dict__["url"] == "https://app.example/api/backups"
    assert "K3y" not in str(record.__dict__)
