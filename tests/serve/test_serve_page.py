"""The page of ``serkit serve`` in a real browser: Playwright drives Debian's chromium (never a downloaded one),
uploads a real RAVDESS file and reads the label the page shows; a screenshot is saved in the test's tmp_path.

Skipped with the reason when /usr/bin/chromium, playwright or the corpus is missing (``.ci/run`` installs
chromium; the corpus sits beside the checkout in CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason='serkit serve needs fastapi: pip install "serkit[serve]"')
httpx = pytest.importorskip("httpx", reason="the test asks the API with httpx")

RAVDESS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ravdess"  # beside the checkout

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: chromium's fake microphone (a beep), allowed without a prompt: the recording path of the page
FAKE_MICROPHONE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.mark.realdata
def test_page_shows_the_label_of_an_uploaded_ravdess_file(server, clips, tmp_path):
    """Upload a RAVDESS file (label equal to the API's; then with "speech regions" ticked, its regions' table), then
    a long generated file (its timeline plot), then record from chromium's fake microphone (a beep) and check the WAV
    made in the page is predicted."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the browser test needs it")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    if not RAVDESS.is_dir():
        pytest.skip(f"real corpus {RAVDESS} is not present (it sits beside the checkout in CI)")
    audio = sorted((RAVDESS / "audio").glob("*.flac"))[0]
    expected = httpx.post(
        f"{server}/predict", files={"file": (audio.name, audio.read_bytes())}, timeout=120
    ).json()
    screenshot = tmp_path / "serve_page.png"
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + FAKE_MICROPHONE, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server}/")
            page.set_input_files("#file", str(audio))  # choosing a file predicts it
            page.wait_for_selector("#result[data-state=done]", timeout=60_000)
            shown = page.inner_text("#label").strip()
            bars = page.locator("#bars rect").count()
            page.screenshot(path=str(screenshot), full_page=True)

            page.check("#want-segments")
            page.click("#send")  # the same file again, now with its speech regions
            page.wait_for_function("!document.getElementById('segments').hidden")
            region_rows = page.locator("#segments tr").count()

            page.set_input_files("#file", str(clips["long"]))
            page.wait_for_function("document.getElementById('meta').textContent.startsWith('long.wav')")
            lines = page.locator("#timeline polyline").count()
            page.screenshot(path=str(tmp_path / "serve_page_timeline.png"), full_page=True)

            page.click("#record")
            page.wait_for_function("document.getElementById('recording').textContent.includes('1 s')")
            page.click("#stop")
            page.wait_for_function("document.getElementById('meta').textContent.startsWith('recording.wav')")
            recorded = page.inner_text("#meta")
            record_error = page.inner_text("#error")
        finally:
            browser.close()
    regions = httpx.post(
        f"{server}/predict",
        params={"segments": "true"},
        files={"file": (audio.name, audio.read_bytes())},
        timeout=120,
    ).json()["segments"]
    print(f"\nscreenshots: {screenshot} (and serve_page_timeline.png beside it)")
    assert not errors, errors
    assert shown == expected["label"]
    assert bars == len(expected["probabilities"])
    assert len(regions) >= 1 and region_rows == 1 + len(regions)  # a header and one row per region
    assert lines == len(expected["probabilities"])  # one line per class over the 8 s file
    assert not record_error and recorded.startswith("recording.wav, ")
    assert float(recorded.split(", ")[1].split(" s")[0]) >= 0.4  # the page's WAV of about a second was read
