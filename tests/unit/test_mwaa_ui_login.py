"""The local MWAA's UI sign-in route (/pluginsv2/aws_mwaa/login, an Airflow plugin) and the notebook's sign-in link.

The route runs here in-process around a stand-in app, with Airflow's auth manager replaced by one that accepts a
single token; tests/browser/test_airflow_ui.py signs in against real Airflow.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from html import unescape

import pytest
from jwt import InvalidTokenError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # it asks for httpx2, which the MWAA constraint set does not have
    from starlette.testclient import TestClient

from helpers.aws import mwaa
from helpers.localcloud.emulators.mwaa.runtime import MWAA_PLUGINS

GOOD = "web-login-token"


def _plugin():
    spec = importlib.util.spec_from_file_location("aws_mwaa_login", MWAA_PLUGINS / "aws_mwaa_login.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _AuthManager:
    async def get_user_from_token(self, token):
        if token != GOOD:
            raise InvalidTokenError("Signature verification failed")
        return "admin"

    def generate_jwt(self, user):
        return f"session-of-{user}"


@pytest.fixture
def server(monkeypatch):
    import airflow.api_fastapi.app as airflow_app

    monkeypatch.setattr(airflow_app, "get_auth_manager", lambda: _AuthManager())
    inner = Starlette(routes=[Route("/{rest:path}", lambda request: PlainTextResponse(f"airflow {request.url.path}"))])
    plugin = _plugin()
    (entry,) = plugin.AwsMwaaLoginPlugin.fastapi_root_middlewares
    return TestClient(entry["middleware"](inner), follow_redirects=False), airflow_app.get_cookie_path()


def _session_cookie(response) -> str:
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    return re.match(r"_token=([^;]*)", cookie).group(1)


def test_a_posted_token_as_on_mwaa_signs_in_and_lands_on_the_ui(server):
    client, home = server
    response = client.post(mwaa.UI_LOGIN_PATH, data={"token": GOOD})
    assert response.status_code == 303 and response.headers["location"] == home
    assert _session_cookie(response) == "session-of-admin"


def test_a_plain_link_signs_in_locally(server):
    client, home = server
    response = client.get(mwaa.UI_LOGIN_PATH, params={"token": GOOD})
    assert response.status_code == 303 and response.headers["location"] == home
    assert _session_cookie(response) == "session-of-admin"


def test_an_invalid_or_missing_token_is_refused_with_what_to_do(server):
    client, _ = server
    bad = client.post(mwaa.UI_LOGIN_PATH, data={"token": "forged"})
    assert bad.status_code == 403 and "set-cookie" not in bad.headers
    assert "call CreateWebLoginToken again" in bad.text
    missing = client.get(mwaa.UI_LOGIN_PATH)
    assert missing.status_code == 401 and "CreateWebLoginToken" in missing.text
    assert client.put(mwaa.UI_LOGIN_PATH).status_code == 405


def test_every_other_path_reaches_airflow_untouched(server):
    client, _ = server
    assert client.get("/dags").text == "airflow /dags"
    assert client.get("/pluginsv2/aws_mwaa/login/extra", params={"token": GOOD}).text == "airflow /pluginsv2/aws_mwaa/login/extra"


def test_local_link_is_one_plain_link_labelled_emulated():
    html = mwaa.login_link_html("127.0.0.1:8123", "a.b+c", local=True, name="env1")
    (href,) = re.findall(r'href="([^"]+)"', html)
    assert unescape(href) == "http://127.0.0.1:8123/pluginsv2/aws_mwaa/login?token=a.b%2Bc"
    assert "emulated" in html and "<form" not in html


def test_aws_link_posts_the_token_as_mwaa_requires():
    html = mwaa.login_link_html("abc.c2.airflow.us-east-1.on.aws", 'tok"en', local=False, name="env1")
    assert 'method="post" action="https://abc.c2.airflow.us-east-1.on.aws/pluginsv2/aws_mwaa/login"' in html
    assert '<input type="hidden" name="token" value="tok&quot;en">' in html
    assert "60 s" in html and "emulated" not in html and "href=" not in html


def test_airflow_ui_link_asks_mwaa_for_a_web_login_token(monkeypatch):
    calls = []

    class _Mwaa:
        def create_web_login_token(self, Name):
            calls.append(Name)
            return {"WebServerHostname": "127.0.0.1:8123", "WebToken": "jwt"}

    monkeypatch.setattr(mwaa, "client", lambda: _Mwaa())
    html = mwaa.airflow_ui_link("env1").data
    assert calls == ["env1"] and "/pluginsv2/aws_mwaa/login?token=jwt" in html
