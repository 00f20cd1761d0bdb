"""HTTP trigger: routes, route parameters, methods, and the host's own 404/405/500 answers."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import azure.functions as func
import httpx
import pytest

from ppbackup.host import LocalHost
from ppbackup.host.routes import compile_route

# Only HTTP functions: storage is never contacted, so no Azurite is needed.
NO_STORAGE = "UseDevelopmentStorage=true"
SECRET_DETAIL = "db password is hunter2"


def build_app() -> func.FunctionApp:
    # authLevel FUNCTION everywhere: locally no key is asked for, as with Core Tools.
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="operations/{operationId}", methods=["GET"])
    def get_operation(req: func.HttpRequest) -> func.HttpResponse:
        document = {"operationId": req.route_params["operationId"], "params": dict(req.params)}
        return func.HttpResponse(json.dumps(document), mimetype="application/json")

    @app.route(route="operations/{operationId}/cancel", methods=["POST"])
    def cancel_operation(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(
            json.dumps({
                "cancelled": req.route_params["operationId"],
                "body": req.get_json(),
                "header": req.headers.get("x-requested-by"),
                "method": req.method,
                "url": req.url,
            }),
            status_code=202,
            mimetype="application/json",
            headers={"Location": "/api/operations/" + req.route_params["operationId"]},
        )

    @app.route(route="operations/latest", methods=["GET"])
    def latest(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("literal segment wins")

    @app.route(route="items/{id:guid}", methods=["GET", "DELETE"])
    def item(req: func.HttpRequest) -> str:
        return f"{req.method} {req.route_params['id']}"

    @app.route(route="explode", methods=["GET"])
    def explode(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError(SECRET_DETAIL)

    @app.route(route="nothing")
    def nothing(req: func.HttpRequest) -> None:
        return None

    @app.route(route="served-by", methods=["GET"])
    def served_by(req: func.HttpRequest) -> str:
        return os.environ.get("PPBACKUP_LOCAL_HOST", "not the local host")

    return app


@pytest.fixture(scope="module")
def app() -> func.FunctionApp:
    # One app object for the module: get_functions() may be asked only once per app, and the
    # host caches its answer, so several hosts can share it.
    return build_app()


@pytest.fixture
def client(app: func.FunctionApp) -> Iterator[httpx.Client]:
    with LocalHost(app, storage_connection=NO_STORAGE, http_port=0) as host, httpx.Client(
        base_url=host.http_url, timeout=10
    ) as http:
        yield http


def test_route_parameters_and_query(client: httpx.Client) -> None:
    response = client.get("/api/operations/op-42", params={"a": "1", "b": ["x", "y"]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"operationId": "op-42", "params": {"a": "1", "b": "x,y"}}


def test_post_with_body_headers_and_status(client: httpx.Client) -> None:
    response = client.post(
        "/api/operations/op-7/cancel", json={"reason": "typo"},
        headers={"X-Requested-By": "pipeline"},
    )
    assert response.status_code == 202
    assert response.headers["location"] == "/api/operations/op-7"
    document = response.json()
    assert document["cancelled"] == "op-7"
    assert document["body"] == {"reason": "typo"}
    assert document["header"] == "pipeline"
    assert document["method"] == "POST"
    assert document["url"].endswith("/api/operations/op-7/cancel")


def test_literal_segment_beats_parameter(client: httpx.Client) -> None:
    assert client.get("/api/operations/latest").text == "literal segment wins"


def test_unknown_route_is_404_json(client: httpx.Client) -> None:
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"
    assert client.get("/operations/op-1").status_code == 404  # the /api prefix is required


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    response = client.get("/api/operations/op-7/cancel")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "MethodNotAllowed"


def test_exception_is_a_generic_500_without_details(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get("/api/explode")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "InternalServerError"
    assert SECRET_DETAIL not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    # The details are in the log, for the developer.
    assert any(r.getMessage().startswith("http.function_failed") for r in caplog.records)


def test_typed_constraint_and_str_return(client: httpx.Client) -> None:
    guid = "6f1f7a54-3c1a-4f7e-9d0b-2a1c3e5b7d90"
    response = client.get(f"/api/items/{guid}")
    assert (response.status_code, response.text) == (200, f"GET {guid}")
    assert client.delete(f"/api/items/{guid}").text == f"DELETE {guid}"
    assert client.get("/api/items/not-a-guid").status_code == 404


def test_none_return_is_204_and_no_methods_means_all(client: httpx.Client) -> None:
    assert client.get("/api/nothing").status_code == 204
    assert client.put("/api/nothing", json={}).status_code == 204


def test_head_and_host_status(client: httpx.Client) -> None:
    head = client.head("/api/operations/op-1")
    assert head.status_code == 200
    assert head.content == b""
    assert client.get("/admin/host/status").json() == {"state": "Running"}


def test_chunked_request_body(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"reason":'
        yield b' "chunked"}'

    response = client.post("/api/operations/op-9/cancel", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert response.json()["body"] == {"reason": "chunked"}


def test_route_prefix_from_host_json(
    app: func.FunctionApp, host_json: Callable[..., Path]
) -> None:
    config = host_json(http={"routePrefix": ""})
    with LocalHost(app, storage_connection=NO_STORAGE, host_json=config, http_port=0) as host:
        response = httpx.get(host.http_url + "/operations/op-1", timeout=10)
        assert response.json()["operationId"] == "op-1"
        assert httpx.get(host.http_url + "/api/operations/op-1", timeout=10).status_code == 404


def test_route_templates() -> None:
    route = compile_route("operations/{operationId}/cancel", prefix="api")
    assert route.match("/api/operations/a%20b/cancel") == {"operationId": "a b"}
    assert route.match("/API/Operations/x/Cancel/") == {"operationId": "x"}
    assert route.match("/api/operations/x") is None
    assert compile_route("n/{n:int:range(1,5)}", prefix="api").match("/api/n/9") is None
    assert compile_route("n/{n:int:range(1,5)}", prefix="api").match("/api/n/3") == {"n": "3"}
    assert compile_route("files/{*path}", prefix="api").match("/api/files/a/b") == {"path": "a/b"}
    assert compile_route("opt/{page?}", prefix="api").match("/api/opt") == {}
    with pytest.raises(ValueError, match="not supported"):
        compile_route("x/{id:nosuch}", prefix="api")


# -------------------------------------------------------- what a web page in the browser can do
# The local host asks for no key, so it must tell the developer's own tools from a page on another
# site (a simple cross-site request needs no CORS preflight) or a DNS-rebound name.

CROSS_SITE_BODY = b'{"reason": "from a web page"}'


def test_a_foreign_host_name_is_refused(client: httpx.Client) -> None:
    port = httpx.URL(str(client.base_url)).port
    for name in ("rebind.evil.example", f"rebind.evil.example:{port}", f"127.0.0.1:{port + 1}"):
        response = client.get("/api/operations/op-1", headers={"Host": name})
        assert response.status_code == 421, (name, response.text)
        assert response.json()["error"]["code"] == "MisdirectedRequest"
    for name in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        assert client.get("/api/operations/op-1", headers={"Host": name}).status_code == 200


def test_a_request_from_another_origin_is_refused(client: httpx.Client) -> None:
    port = httpx.URL(str(client.base_url)).port
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Origin": f"http://localhost:{port + 1}"},
                    {"Sec-Fetch-Site": "cross-site"}):
        response = client.post("/api/operations/op-7/cancel", json={"reason": "x"},
                               headers=headers)
        assert response.status_code == 403, (headers, response.text)
        assert response.json()["error"]["code"] == "CrossOriginRefused"
        assert client.get("/api/operations/op-1", headers=headers).status_code == 403
    # The page's own fetches: same origin.
    for headers in ({"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"},
                    {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"}):
        response = client.post("/api/operations/op-7/cancel", json={"reason": "x"},
                               headers=headers)
        assert response.status_code == 202, (headers, response.text)


def test_a_body_must_be_sent_as_json(client: httpx.Client) -> None:
    for content_type in ("text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.post("/api/operations/op-7/cancel", content=CROSS_SITE_BODY,
                               headers=headers)
        assert response.status_code == 415, (content_type, response.text)
        assert response.json()["error"]["code"] == "UnsupportedMediaType"
    for content_type in ("application/json", "application/json; charset=utf-8",
                         "Application/JSON"):
        response = client.post("/api/operations/op-7/cancel", content=CROSS_SITE_BODY,
                               headers={"Content-Type": content_type})
        assert response.status_code == 202, (content_type, response.text)
    # No body, no type needed: a DELETE, a bodiless POST.
    guid = "6f1f7a54-3c1a-4f7e-9d0b-2a1c3e5b7d90"
    assert client.delete(f"/api/items/{guid}").status_code == 200
    assert client.post("/api/nothing").status_code == 204


def test_the_app_is_told_it_runs_in_the_local_host_while_it_serves_http(
    app: func.FunctionApp, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The status page serves anonymously only where the local host says so (status_page/access).
    monkeypatch.delenv("PPBACKUP_LOCAL_HOST", raising=False)
    with LocalHost(app, storage_connection=NO_STORAGE, http_port=0) as host:
        assert httpx.get(host.http_url + "/api/served-by", timeout=10).text == "true"
    assert "PPBACKUP_LOCAL_HOST" not in os.environ
