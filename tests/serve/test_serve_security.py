"""Safe by default, against a real server: token everywhere, cookie + CSRF, hosts, bounded bodies, JSON errors."""
from __future__ import annotations

import httpx
import pytest

from likewise.serve.security import csrf_value


@pytest.fixture
def server(serve, hashing_ws):
    return serve(hashing_ws)


def test_nothing_without_the_token(server):
    for path in ("/", "/static/js/main.js", "/static/app.css", "/api/info", "/api/openapi.json", "/api/records",
                 "/report", "/nope"):
        r = httpx.get(server.base + path)
        assert r.status_code == 401, path
        assert r.headers["content-type"] == "application/json" and "token" in r.json()["error"]
        assert set(r.json()) == {"error"} and "<" not in r.text  # nothing of the page or the data
    wrong = httpx.get(server.base + "/api/info", headers={"Authorization": "Bearer " + "x" * 43})
    assert wrong.status_code == 401
    assert httpx.get(server.base + "/?token=wrong").status_code == 401
    assert httpx.post(server.base + "/api/labels", json={}).status_code == 401


def test_the_url_signs_a_browser_in_with_an_httponly_cookie(server):
    r = httpx.get(server.url, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"  # the token leaves the address bar
    cookies = r.headers.get_list("set-cookie")
    token_cookie = next(c for c in cookies if c.startswith(f"likewise_token_{server.port}="))
    assert "HttpOnly" in token_cookie and "SameSite=Strict" in token_cookie
    csrf_cookie = next(c for c in cookies if c.startswith(f"likewise_csrf_{server.port}="))
    assert "HttpOnly" not in csrf_cookie  # the page reads it to send the header
    jar = {f"likewise_token_{server.port}": server.token, f"likewise_csrf_{server.port}": csrf_value(server.token)}
    with httpx.Client(base_url=server.base, cookies=jar) as browser:
        page = browser.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "no-referrer"
        assert browser.get("/static/js/main.js").status_code == 200
        body = {"name": "sport"}
        # the cookie alone cannot change anything: a CSRF header must match, and the origin must be this server
        assert browser.post("/api/classes", json=body).status_code == 403
        assert browser.post("/api/classes", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
        evil = browser.post("/api/classes", json=body,
                            headers={"X-CSRF-Token": csrf_value(server.token), "Origin": "http://evil.example"})
        assert evil.status_code == 403 and "cross-origin" in evil.json()["error"]
        ok = browser.post("/api/classes", json=body,
                          headers={"X-CSRF-Token": csrf_value(server.token), "Origin": server.base})
        assert ok.status_code == 200 and [c["name"] for c in ok.json()] == ["sport"]


def test_hosts_bodies_and_methods(server):
    with server.client() as c:
        assert c.get("/api/info", headers={"Host": "evil.example:80"}).status_code == 421  # DNS rebinding
        big = c.post("/api/labels", content=b"{" + b" " * (5 * 1024 * 1024) + b"}",
                     headers={"Content-Type": "application/json"})
        assert big.status_code == 413 and "body" in big.json()["error"]
        # no state changes through GET: every mutating route is POST only
        assert c.get("/api/labels").status_code == 405 and "error" in c.get("/api/labels").json()
        schema = c.get("/api/openapi.json").json()
        for path, methods in schema["paths"].items():
            for method in methods:
                if method == "get":
                    assert not any(w in path for w in ("undo", "rerank", "bulk", "retrain", "settings")), path
        for route in ("/api/labels", "/api/undo", "/api/sessions", "/api/retrain", "/api/maps", "/api/report",
                      "/api/classes", "/api/classes/rename", "/api/classes/delete", "/api/settings"):
            assert "post" in schema["paths"][route], route


def test_errors_are_json_with_a_message_never_a_traceback(server):
    with server.client() as c:
        for r, status in ((c.get("/api/records/no-such-id"), 404), (c.get("/api/sessions/nope"), 404),
                          (c.post("/api/labels", content=b"{not json", headers={"Content-Type": "application/json"}), 422),
                          (c.post("/api/labels", json={"labels": [{"id": "x", "label": "a"}]}), 422),
                          (c.post("/api/labels", json={"labels": [{"id": "no-such-id", "label": "a"}], "author": "a"}), 400),
                          (c.post("/api/labels", json={"labels": [{"id": "x", "label": "N/A"}], "author": "a"}), 400),
                          (c.get("/api/search?text=x&id=y"), 400), (c.get("/api/jobs/none"), 404),
                          (c.get("/nothing/here"), 404)):
            assert r.status_code == status, r.text
            assert isinstance(r.json()["error"], str) and r.json()["error"]
            assert "Traceback" not in r.text and 'File "' not in r.text
    assert "Traceback" not in server.stderr()


def test_an_internal_error_is_a_json_500_and_a_log_line(hashing_ws):
    from fastapi.testclient import TestClient

    from likewise.serve.app import create_app
    from likewise.serve.state import ServeState

    state = ServeState(hashing_ws)
    state.classes = lambda: 1 / 0  # a bug
    token = "t" * 40
    with TestClient(create_app(state, token=token, port=80), base_url="http://127.0.0.1",
                    raise_server_exceptions=False) as c:
        r = c.get("/api/classes", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 500 and r.json()["error"].startswith("internal error (ZeroDivisionError)")
    assert "Traceback" not in r.text
