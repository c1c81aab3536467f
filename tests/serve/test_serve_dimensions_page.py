"""The page of ``serkit serve`` for a regression model in a real browser (Debian's chromium via Playwright): one bar
per dimension whose value is the API's, the values as the big label, the dimensions over time. Skipped without
chromium or playwright, like test_serve_page."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason='serkit serve needs fastapi: pip install "serkit[serve]"')
pytest.importorskip("uvicorn", reason='serkit serve needs uvicorn: pip install "serkit[serve]"')
httpx = pytest.importorskip("httpx", reason="the test asks the API with httpx")
from test_recognizer_dimensions import DIMENSIONS, dimension_checkpoint  # noqa: E402  (tests/inference, on the path)

from .conftest import _free_port  # noqa: E402
from .test_serve_page import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


@pytest.fixture(scope="module")
def regression_server(clips, tmp_path_factory):
    import uvicorn

    from serkit.inference import Recognizer
    from serkit.serve.app import create_app

    checkpoint = dimension_checkpoint(
        tmp_path_factory.mktemp("dims") / "best.pt", list(clips.values()), "regression"
    )
    app = create_app(Recognizer.from_checkpoint(checkpoint), max_upload_mb=5, max_seconds=60, concurrency=1)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the test server did not start within 30 s")
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=20)


def test_page_shows_the_dimensions(regression_server, clips, tmp_path):
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the browser test needs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    audio: Path = clips["long"]
    expected = httpx.post(
        f"{regression_server}/predict", files={"file": (audio.name, audio.read_bytes())}, timeout=60
    ).json()
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{regression_server}/")
            model_line = page.inner_text("#model")
            page.set_input_files("#file", str(audio))
            page.wait_for_selector("#result[data-state=done]", timeout=60_000)
            shown = page.inner_text("#label").strip()
            bars = page.locator("#dimensions rect[data-dimension]")
            values = {
                bars.nth(i).get_attribute("data-dimension"): bars.nth(i).get_attribute("data-value")
                for i in range(bars.count())
            }
            class_bars = page.locator("#bars rect").count()
            lines = page.locator("#timeline polyline").count()
            page.screenshot(path=str(tmp_path / "serve_page_dimensions.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert "dimensions: arousal, valence (1-5)" in model_line and "classes" not in model_line
    assert list(values) == DIMENSIONS and class_bars == 0
    for name in DIMENSIONS:
        assert float(values[name]) == pytest.approx(expected["dimensions"][name], abs=1e-6)
    assert shown == ", ".join(f"{name} {expected['dimensions'][name]:.2f}" for name in DIMENSIONS)
    assert lines == len(DIMENSIONS)  # the timeline draws the dimensions over the 8 s file
