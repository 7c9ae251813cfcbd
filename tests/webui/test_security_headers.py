"""The web app's security headers, in a real ``hpp ui`` process and in Debian's chromium.

The CSP must hold NiceGUI's pages working (no violation reported while a price is made
and the model page's charts draw), and no other origin may frame the app.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from tests.support.service_process import ServiceProcess, ui_process

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def test_every_page_sends_the_security_headers_and_no_server_name(
    system: tuple[ServiceProcess, ServiceProcess],
) -> None:
    _, ui = system
    for path in ("/", "/batch", "/jobs", "/model", "/monitoring", "/nope"):
        headers = httpx.get(ui.url + path, timeout=30).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert "server" not in headers
        assert "strict-transport-security" not in headers  # plain HTTP here


def test_the_session_cookie_is_not_secure_over_plain_http(
    system: tuple[ServiceProcess, ServiceProcess],
) -> None:
    _, ui = system
    cookie = httpx.get(ui.url + "/", timeout=30).headers["set-cookie"]
    assert cookie.startswith("session=")
    assert "secure" not in cookie.lower()


def test_behind_https_the_session_cookie_is_secure_and_hsts_is_sent(
    system: tuple[ServiceProcess, ServiceProcess], tmp_path: Path
) -> None:
    gateway, _ = system
    https_ui = ui_process(gateway, tmp_path)
    https_ui.environ["HPP_UI_BEHIND_HTTPS"] = "true"
    https_ui.start()
    try:
        response = httpx.get(https_ui.url + "/", timeout=30)
    finally:
        https_ui.stop()
    assert "; secure" in response.headers["set-cookie"].lower()
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_pages_work_under_the_csp(
    browser: Browser, system: tuple[ServiceProcess, ServiceProcess]
) -> None:
    _, ui = system
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    page.goto(ui.url + "/")
    page.get_by_label("Living area (sq ft)").fill("2100")
    page.get_by_test_id("predict-button").click()
    page.get_by_test_id("predicted-price").wait_for()
    page.locator("[data-testid=contributions-chart] canvas").first.wait_for()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "predict-under-csp.png"), full_page=True)
    page.goto(ui.url + "/model")
    page.locator("canvas").first.wait_for()
    context.close()
    assert violations == []


def test_another_origin_cannot_frame_the_app(
    browser: Browser, system: tuple[ServiceProcess, ServiceProcess]
) -> None:
    _, ui = system
    context = browser.new_context()
    page = context.new_page()
    page.set_content(f'<iframe id="app" src="{ui.url}/" width="800" height="600"></iframe>')
    page.wait_for_timeout(3_000)
    framed = page.frame_locator("#app").locator("[data-testid=predict-button]")
    assert framed.count() == 0
    assert page.locator("#app").count() == 1  # the frame is there, the app is not in it
    context.close()


def test_a_trailing_slash_never_redirects_to_the_host_header(
    system: tuple[ServiceProcess, ServiceProcess],
) -> None:
    gateway, ui = system
    for url in (f"{ui.url}/batch/", f"{gateway.url}/v1/jobs/"):
        response = httpx.get(url, headers={"Host": "evil.example"}, timeout=30)
        assert "evil.example" not in response.headers.get("location", ""), url
        assert response.status_code == 404
