"""The web UI end to end: headless Chromium (Debian's package) driven by Playwright against a
real `deepshield serve`. Screenshots land in test-artifacts/screenshots/ (not committed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.fixtures.media_factory import (
    with_half_size_copy,
    write_bytes,
    write_image,
    write_video,
)
from tests.fixtures.server import free_port, start_server, stop_server

playwright_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
RESULT_TIMEOUT_MS = 90_000


def serve(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[str]:
    port = free_port()
    server = start_server(tmp_path_factory.mktemp("ui-data"), port, **env)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(tmp_path_factory)


@pytest.fixture(scope="module")
def accounts_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(
        tmp_path_factory,
        SAAS_REQUIRE_AUTH="true",
        SAAS_JWT_SECRET="u" * 40,
        SAAS_AUTH_COOKIE_SECURE="false",
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ui-media")
    frames = [np.roll(astronaut, 8 * i, axis=1)[:, :480] for i in range(30)]
    return {
        # upscaled so that its face is large enough for a verdict in a JPEG
        "photo": write_image(
            folder / "portrait.jpg", cv2.resize(astronaut, (1024, 1024)), quality=90
        ),
        "two_faces": write_image(folder / "two.png", with_half_size_copy(astronaut)[1]),
        "video": write_video(folder / "interview.mp4", frames, fps=10),
        "text": write_bytes(folder / "notes.txt", "just some notes\n"),
        "fake_jpg": write_bytes(folder / "holiday.jpg", "this is text, not a photo\n"),
    }


def analyse(page: Any, url: str, file: Path) -> None:
    page.goto(url + "/")
    page.set_input_files("#file-input", str(file))
    page.click("#upload-button")
    page.wait_for_selector("#result:not([hidden])", timeout=RESULT_TIMEOUT_MS)


def test_image_upload_shows_verdict_and_heatmap(
    page: Any, base_url: str, media: dict[str, Path]
) -> None:
    analyse(page, base_url, media["photo"])
    assert "/jobs/" in page.url
    label = page.text_content("#verdict-label") or ""
    assert label.strip() and "%" in label and not label.startswith("Inconclusive")
    assert page.get_attribute("#meter", "aria-label").startswith("Score ")
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#frames img')];"
        " return imgs.length >= 2 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
    )
    assert page.locator("#people-table tbody tr").count() == 1
    assert page.get_attribute("#report-link", "href").endswith("/report.json")


def test_warnings_and_unjudged_faces_are_shown(
    page: Any, base_url: str, media: dict[str, Path]
) -> None:
    analyse(page, base_url, media["two_faces"])
    assert page.is_visible("#warnings")
    assert "faces under 80 px" in (page.text_content("#warnings li") or "")
    rows = [
        [cell.strip() for cell in row.locator("td").all_text_contents()]
        for row in page.locator("#people-table tbody tr").all()
    ]
    # the small face: scored, its size shown, no verdict; the large one judged
    assert sorted(row[4] for row in rows) == ["inconclusive", "no clear signs"]
    small = next(row for row in rows if row[4] == "inconclusive")
    assert small[3].endswith(" px") and int(small[3].split()[0]) < 80
    analyse(page, base_url, media["photo"])  # the next result has no warnings
    assert not page.is_visible("#warnings")


def test_video_upload_shows_the_timeline(
    browser: Any, base_url: str, media: dict[str, Path]
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 900), (375, 812)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        analyse(page, base_url, media["video"])
        page.wait_for_selector(".timeline svg polyline", state="attached")
        points = page.get_attribute(".timeline svg polyline", "points") or ""
        assert len(points.split()) >= 10  # one point per sampled frame with a face
        assert page.locator(".timeline line.threshold").count() == 1
        assert "Duration" in (page.text_content("#media") or "")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#frames img')].every(i => i.naturalWidth > 0)"
        )
        page.screenshot(path=str(SCREENSHOTS / f"analyzer-video-{width}px.png"), full_page=True)
        context.close()
    assert (SCREENSHOTS / "analyzer-video-375px.png").stat().st_size > 10_000


def test_text_files_show_an_error_next_to_the_control(
    page: Any, base_url: str, media: dict[str, Path]
) -> None:
    page.goto(base_url + "/")
    page.set_input_files("#file-input", str(media["text"]))
    assert "not a supported image or video" in (page.text_content("#upload-error") or "")
    page.set_input_files("#file-input", str(media["fake_jpg"]))
    page.click("#upload-button")
    page.wait_for_function(
        "() => document.querySelector('#upload-error').textContent"
        ".startsWith('Holiday.jpg: not a supported image')"
    )
    assert page.get_attribute("#file-input", "aria-invalid") == "true"
    assert page.is_hidden("#result")


def test_history_lists_and_deletes_this_browsers_jobs(
    page: Any, base_url: str, media: dict[str, Path]
) -> None:
    analyse(page, base_url, media["photo"])
    page.goto(base_url + "/history")
    page.wait_for_selector("#history-table tbody tr")
    assert "portrait.jpg" in (page.text_content("#history-table") or "")
    before = page.locator("#history-table tbody tr").count()
    page.locator("#history-table tbody tr").first.get_by_role("button").click()
    page.wait_for_function(
        f"() => document.querySelectorAll('#history-table tbody tr').length === {before - 1}"
    )


def register_in_browser(page: Any, url: str, email: str, password: str) -> None:
    page.goto(url + "/register")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#account-form button")
    page.wait_for_url(url + "/")


def test_accounts_register_upload_logout_and_privacy(
    browser: Any, accounts_url: str, media: dict[str, Path]
) -> None:
    first = browser.new_context()
    page = first.new_page()
    register_in_browser(page, accounts_url, "reviewer@example.org", "a long passphrase")
    page.wait_for_selector("#account-email:not([hidden])")
    analyse(page, accounts_url, media["photo"])
    result_url = page.url
    page.goto(accounts_url + "/history")
    page.wait_for_selector("#history-table tbody tr")
    page.click("#logout")
    page.wait_for_url(accounts_url + "/login")
    page.goto(accounts_url + "/history")
    page.wait_for_function(
        "() => document.querySelector('#history-error').textContent.includes('Log in')"
    )
    assert page.locator("#history-table tbody tr").count() == 0
    first.close()

    second = browser.new_context()
    other = second.new_page()
    register_in_browser(other, accounts_url, "someone-else@example.org", "another long passphrase")
    other.goto(result_url)
    other.wait_for_function(
        "() => document.querySelector('#upload-error').textContent.includes('not yours')"
    )
    assert other.is_hidden("#result")
    second.close()


def test_keyboard_only_upload_with_visible_focus(
    page: Any, base_url: str, media: dict[str, Path]
) -> None:
    page.goto(base_url + "/")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip"
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file-input":
            break
    assert page.evaluate("document.activeElement.id") == "file-input"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    assert page.evaluate("document.querySelector('label[for=file-input]') !== null")
    page.set_input_files("#file-input", str(media["photo"]))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "upload-button"
    page.keyboard.press("Enter")
    page.wait_for_selector("#result:not([hidden])", timeout=RESULT_TIMEOUT_MS)


def test_print_stylesheet_keeps_the_result_and_drops_the_controls(
    page: Any, base_url: str, media: dict[str, Path]
) -> None:
    analyse(page, base_url, media["photo"])
    page.emulate_media(media="print")
    assert page.is_hidden("#upload-section") and page.is_hidden("nav")
    assert page.is_visible("#verdict") and page.is_visible("#frames")
    pdf = page.pdf()  # what "save as PDF" produces
    assert pdf[:5] == b"%PDF-" and len(pdf) > 20_000
