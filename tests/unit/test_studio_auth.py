"""The studio's session: one login with the API key sets a cookie derived from it; pages without it go to the login
form; the API takes the cookie only with the studio's header (a form on another site cannot send it)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mentor.serve.app import SESSION_COOKIE, ServeSettings, create_app, session_token
from mentor.studio import mount

KEY = "unit-key"


@pytest.fixture
def client(workspace):
    app = mount(create_app(ServeSettings(home=str(workspace.home), api_key=KEY, worker=False)))
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def test_pages_need_a_session_and_the_login_sets_it(client):
    page = client.get("/studio/runs")
    assert page.status_code == 303 and page.headers["location"] == "/studio/login?next=/studio/runs"
    assert client.post("/studio/data/check").status_code == 401  # not a page: the API's error object
    assert client.get("/studio/login").status_code == 200
    wrong = client.post("/studio/login", data={"key": "nope", "next": "/studio/runs"})
    assert wrong.status_code == 401 and "Incorrect API key" in wrong.text and SESSION_COOKIE not in wrong.cookies
    right = client.post("/studio/login", data={"key": KEY, "next": "/studio/runs"})
    assert right.status_code == 303 and right.headers["location"] == "/studio/runs"
    cookie = right.headers["set-cookie"]
    assert session_token(KEY) in cookie and KEY not in cookie.split(";")[0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/studio/runs").status_code == 200
    # the API: the cookie alone is not enough; with the studio's header it is
    assert client.get("/v1/files").status_code == 401
    assert client.get("/v1/files", headers={"X-Mentor-Studio": "1"}).status_code == 200
    # another key's session is no session
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, session_token("old-key"))
    assert client.get("/studio/runs").status_code == 303


def test_no_open_redirect_and_language(client):
    out = client.post("/studio/login", data={"key": KEY, "next": "https://evil.example/"})
    assert out.headers["location"] == "/studio"
    assert client.get("/studio/lang/zh", params={"next": "//evil.example"}).headers["location"] == "/studio"
    assert "数据" in client.get("/studio/data").text  # the cookie the switch set
    client.get("/studio/lang/en")
    assert "Upload and check" in client.get("/studio/data", headers={"Accept-Language": "zh-CN"}).text


def test_studio_errors_are_pages_and_fragments_keep_the_api_error(client):
    client.post("/studio/login", data={"key": KEY})
    page = client.get("/studio/runs/nope")
    assert page.status_code == 404 and "No run named &#39;nope&#39;." in page.text and "<html" in page.text
    fragment = client.get("/studio/runs/nope", headers={"HX-Request": "true"})
    assert fragment.status_code == 404 and fragment.json()["error"]["message"] == "No run named 'nope'."


def test_app_edits_over_http_cannot_name_code_or_paths(client, workspace):
    """The YAML editor changes prompts, routes and guards; a new Python callable, file, model folder or judge would
    let a browser run code or open paths on the server, so those come from the command line only."""
    from mentor.engine import store
    from mentor.engine.config import AppConfig

    store.save(AppConfig(name="helper", description="first"), workspace)
    client.post("/studio/login", data={"key": KEY})
    for extra in ("tools:\n  - python: os:system\n", "flow: os:system\n", "evaluation:\n  cases: /etc/passwd\n",
                  "model: /etc\n", "evaluation:\n  judge: http://169.254.169.254/\n"):
        refused = client.post("/studio/apps/helper/yaml", data={"yaml": f"name: helper\n{extra}"},
                              headers={"HX-Request": "true"})
        assert refused.status_code == 400 and "command line only" in refused.json()["error"]["message"], extra
    saved = client.post("/studio/apps/helper/yaml", data={"yaml": "name: helper\ndescription: second\n"},
                        headers={"HX-Request": "true"})
    assert saved.status_code == 200 and saved.headers["HX-Refresh"] == "true"
    assert store.get("helper", workspace).version == 2


def test_an_app_name_cannot_leave_the_workspace(client, workspace):
    client.post("/studio/login", data={"key": KEY})
    out = client.post("/studio/apps", data={"template": "titles", "name": "../../escape"}, headers={"HX-Request": "true"})
    assert out.status_code == 400 and "is not an app name" in out.json()["error"]["message"]
    assert not (workspace.home.parent / "escape.yaml").exists()


def test_non_ascii_keys_and_headers_are_compared_not_crashed_on(workspace):
    app = mount(create_app(ServeSettings(home=str(workspace.home), api_key="clé-密钥", worker=False)))
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    assert client.get("/v1/files", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/files", headers={"Authorization": "Bearer clé".encode("latin-1")}).status_code == 401
    assert client.get("/v1/files", headers={"Authorization": "Bearer clé-密钥".encode()}).status_code == 200  # the key, in UTF-8
    assert client.get("/studio/runs", headers={"Cookie": f"{SESSION_COOKIE}=ünïcode".encode()}).status_code == 303
