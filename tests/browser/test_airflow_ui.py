"""The local MWAA's Airflow UI, signed in as on MWAA: CreateWebLoginToken, then /pluginsv2/aws_mwaa/login.

One environment for the module (created as helpers/tooling/benchmark.py does, in the module's own local cloud), deleted at
the end.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from html import unescape

import pytest

from tests.browser.conftest import screenshot

ENV = "browser-ui"
DAG = "hello_mwaa"


@pytest.fixture(scope="module")
def environment(module_cloud):
    """An AVAILABLE local MWAA environment with hello_mwaa uploaded and one successful run: (name, run id)."""
    from helpers.aws import mwaa, s3

    try:
        prereq = mwaa.create_prerequisites("browser", ENV)
        # No CloudWatch task logs: the UI reads them from disk, and the run need not wait for their upload.
        mwaa.create_environment(mwaa.environment_request(ENV, prereq, "browser", LoggingConfiguration={}))
        mwaa.wait_for_status(ENV, "AVAILABLE", timeout=180)
        s3.upload_dag(prereq.bucket, f"{DAG}.py")
        api = mwaa.AirflowApi(ENV)
        api.wait_for_dag(DAG, timeout=60)
        run_id, state = api.run(DAG, conf={"bucket": prereq.bucket}, timeout=120)
        if state != "success":
            tis = api.task_instances(DAG, run_id)
            failed = tis[tis.state != "success"].task.tolist()
            log = api.task_log(DAG, run_id, failed[0])[-5:] if failed else []
            pytest.fail(f"{DAG} run {state}: {tis[['task', 'state']].to_dict('records')}; last log lines: {log}")
        yield ENV, run_id
    finally:
        mwaa.delete_environment(ENV, timeout=60)


def _login(url: str, data: bytes | None = None):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        return urllib.request.build_opener(NoRedirect).open(url, data=data, timeout=10)
    except urllib.error.HTTPError as err:
        return err


def test_mwaa_login_route_on_real_airflow(environment):
    """As AWS documents it: POST the web login token as form field `token`; the session comes back in `_token`."""
    from helpers.aws import mwaa

    answer = mwaa.client().create_web_login_token(Name=environment[0])
    login = f"http://{answer['WebServerHostname']}{mwaa.UI_LOGIN_PATH}"
    signed_in = _login(login, urllib.parse.urlencode({"token": answer["WebToken"]}).encode())
    assert signed_in.status == 303 and signed_in.headers["Location"] == "/"
    session = re.match(r"_token=([^;]+);", signed_in.headers["Set-Cookie"]).group(1)
    version = urllib.request.Request(f"http://{answer['WebServerHostname']}/api/v2/version",
                                     headers={"Authorization": f"Bearer {session}"})
    assert urllib.request.urlopen(version, timeout=10).status == 200  # a working Airflow session token
    forged = answer["WebToken"][:-4] + ("AAAA" if not answer["WebToken"].endswith("AAAA") else "BBBB")
    refused = _login(login, urllib.parse.urlencode({"token": forged}).encode())
    assert refused.status == 403 and "CreateWebLoginToken" in refused.read().decode()
    assert "Set-Cookie" not in refused.headers


@pytest.mark.browser
def test_airflow_ui_signed_in_through_the_workbook_link(environment, page):
    from helpers.aws import mwaa

    name, run_id = environment
    link = mwaa.airflow_ui_link(name).data
    (href,) = re.findall(r'href="([^"]+)"', link)
    page.goto(unescape(href))
    base = unescape(href).split("/pluginsv2/", 1)[0]
    assert page.url.rstrip("/") == base, page.url  # landed on the UI, not on a login page

    page.goto(f"{base}/dags")
    page.get_by_role("link", name=DAG).first.wait_for(timeout=30_000)
    screenshot(page, "airflow_dags.png")

    page.goto(f"{base}/dags/{DAG}/runs/{urllib.parse.quote(run_id)}")
    for task in ("greet", "list_dag_files", "summarize"):  # the run's column in the grid, one state badge per task
        page.locator(f'[data-testid="grid-{run_id}-{task}"] [data-testid="task-state-badge"]').wait_for(timeout=30_000)
    page.get_by_text("success").first.wait_for(timeout=10_000)
    screenshot(page, "airflow_grid.png")


@pytest.mark.browser
def test_the_trigger_form_drawn_from_typed_params(environment, page):
    """Notebook 09's params_trigger_form: the UI's trigger form has a field per Param, from its JSON schema."""
    from helpers.aws import mwaa, s3

    name, _ = environment
    bucket, prefix = mwaa.source_bucket(name)
    s3.upload_dag(bucket, "params_trigger_form.py", prefix)
    mwaa.AirflowApi(name).wait_for_dag("params_trigger_form", timeout=60)
    (href,) = re.findall(r'href="([^"]+)"', mwaa.airflow_ui_link(name).data)
    page.goto(unescape(href))
    base = unescape(href).split("/pluginsv2/", 1)[0]

    page.goto(f"{base}/dags/params_trigger_form")
    page.get_by_role("button", name=re.compile("^Trigger", re.I)).first.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=30_000)
    for label in ("environment", "batch_size", "report_date", "regions", "options"):  # one field per Param
        dialog.locator("label", has_text=re.compile(rf"^\s*{label}\b")).first.wait_for(timeout=10_000)
    dialog.get_by_text("Records per batch.").first.wait_for(timeout=10_000)  # the Param's description under its field
    screenshot(page, "airflow_trigger_form.png")
