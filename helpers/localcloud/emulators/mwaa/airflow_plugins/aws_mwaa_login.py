"""MWAA's Airflow UI sign-in route, `/pluginsv2/aws_mwaa/login`, for each local MWAA environment (emulated).

On MWAA with Airflow 3 a browser signs in with `POST https://<WebServerHostname>/pluginsv2/aws_mwaa/login`,
form field `token` = the WebToken from CreateWebLoginToken; the answer puts the session token in the `_token`
cookie. The local MWAA's WebToken is an Airflow JWT, so here the route checks it with Airflow's own auth manager,
sets a fresh session token as `_token` (as Airflow's login does) and redirects to the UI. A plain link works too
locally (`GET ...?token=`), so a notebook can show one; on AWS the route takes POST only. Also emulated: the local
WebToken lasts as long as Airflow's JWTs ([api_auth] jwt_expiration_time, 24 h), where MWAA's lasts 60 s.

Airflow reserves `/pluginsv2` for Airflow 2 (Flask) plugins and will not mount a plugin's FastAPI app there, so
this is a root middleware that answers that one path and hands every other request on.

This file is loaded by Airflow from the environment's plugins folder (not imported as part of `helpers`), so it
depends on Airflow and Starlette only.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

LOGIN_PATH = "/pluginsv2/aws_mwaa/login"


async def login(request: Request) -> Response:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from jwt import InvalidTokenError

    try:
        from airflow.api_fastapi.app import get_cookie_path
    except ImportError:  # Airflow 3.0 (MWAA 3.0.6): its own login sets the cookie on "/" and redirects to base_url
        def get_cookie_path() -> str:
            return "/"

    if request.method == "POST":
        token = str((await request.form()).get("token") or "")
    elif request.method == "GET":
        token = request.query_params.get("token", "")
    else:
        return PlainTextResponse("Use POST with form field `token` (or GET ?token= locally).", 405, {"Allow": "GET, POST"})
    if not token:
        return PlainTextResponse("No web login token: call CreateWebLoginToken and send its WebToken as `token`.", 401)
    manager = get_auth_manager()
    try:
        user = await manager.get_user_from_token(token)
    except InvalidTokenError:
        return PlainTextResponse("Invalid or expired web login token: call CreateWebLoginToken again for a new one.", 403)
    # 303: the browser follows a POST with a GET of the UI (Airflow's own login redirects GETs only).
    response = RedirectResponse(get_cookie_path(), status_code=303)
    response.set_cookie(COOKIE_NAME_JWT_TOKEN, manager.generate_jwt(user), path=get_cookie_path(), httponly=True,
                        secure=request.url.scheme == "https", samesite="lax")
    return response


class MwaaLoginMiddleware:
    """Pure ASGI: answers LOGIN_PATH, passes everything else through untouched (streaming included)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.removeprefix(scope.get("root_path", "")) != LOGIN_PATH:
            await self.app(scope, receive, send)
            return
        response = await login(Request(scope, receive))
        await response(scope, receive, send)


class AwsMwaaLoginPlugin(AirflowPlugin):
    name = "aws_mwaa_login_emulated"
    fastapi_root_middlewares = [{"middleware": MwaaLoginMiddleware, "args": [], "kwargs": {},
                                 "name": "MWAA UI sign-in (emulated)"}]
