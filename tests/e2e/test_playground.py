"""The playground (GET /) in a real browser: Debian's headless chromium driven by Playwright.

Against a LocalStack: type a prompt, Generate, wait for the image to load from its presigned
URL, upscale it, and find both in the gallery, while no request leaves the machine and the
page's Content-Security-Policy refuses nothing. The screenshot goes to pytest's tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from devstack.stack import LocalStack

playwright_api = pytest.importorskip("playwright.sync_api")
Axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe

WAIT_MS = 30_000
SEED = 4242
LOADED = """(selector) => {
  const images = [...document.querySelectorAll(selector)];
  return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
}"""


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as running:
        yield running


def assert_accessible(page) -> None:
    """No violation of axe-core's rules (WCAG A/AA: labels, names, roles, contrast...)."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_snapshot()


def _count_loaded(page, selector: str, count: int) -> None:
    page.wait_for_function(
        f"(s) => ({LOADED})(s) && document.querySelectorAll(s).length === {count}",
        arg=selector,
        timeout=WAIT_MS,
    )


def test_generate_upscale_and_gallery_in_a_browser(stack: LocalStack, browser, tmp_path: Path):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    requested: list[str] = []
    refused: list[str] = []
    problems: list[str] = []

    def guard(route) -> None:
        url = route.request.url
        requested.append(url)
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith("data:"):
            route.continue_()
        else:  # would leave the machine
            refused.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    expect = playwright_api.expect
    try:
        page.goto(stack.url + "/", wait_until="load", timeout=WAIT_MS)
        expect(page.locator("#model option").first).to_be_attached(timeout=WAIT_MS)

        page.get_by_label("Prompt").fill("a lighthouse at dusk, watercolor")
        page.get_by_label("Seed").fill(str(SEED))
        page.get_by_role("button", name="Generate").focus()
        page.keyboard.press("Enter")  # as a keyboard user: the focus stays on the busy button
        _count_loaded(page, "#results img", 1)
        assert page.evaluate("document.activeElement.id") == "generate-button"
        first = page.locator("#results li").first
        expect(first.locator("dd[data-fact=seed]")).to_have_text(str(SEED))
        assert first.locator("img").get_attribute("src").startswith(stack.s3_url + "/")
        expect(page.locator("#status")).to_contain_text("Done: 1 image(s)")
        expect(page.get_by_role("button", name="Generate")).to_be_enabled()

        first.get_by_role("button", name="Upscale").click()
        _count_loaded(page, "#results img", 2)
        newest = page.locator("#results li").first  # results are newest first, as the gallery
        expect(newest.locator("dd[data-fact=operation]")).to_have_text("upscale-fast")

        page.get_by_role("button", name="Show gallery").click()
        _count_loaded(page, "#gallery img", 2)
        seeds = page.locator("#gallery dd[data-fact=seed]").all_text_contents()
        assert str(SEED) in seeds
        assert_accessible(page)
        page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
    finally:
        context.close()

    assert requested and not refused, refused
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in requested)
    assert not problems, problems  # CSP violations are console errors


def test_a_stage_with_keys_asks_for_one_and_keeps_it_in_the_tab_only(browser):
    with LocalStack(api_keys=("sk-tab",)) as stack:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(stack.url + "/", wait_until="load", timeout=WAIT_MS)
            expect = playwright_api.expect
            expect(page.get_by_role("heading", name="This API needs a key")).to_be_visible(
                timeout=WAIT_MS
            )
            key = page.get_by_label("API key")
            expect(key).to_be_focused()
            assert_accessible(page)
            key.fill("sk-typo")
            page.keyboard.press("Enter")  # refused: said beside the field, the key kept to fix
            expect(page.locator("#key-error")).to_have_text(
                "That key is not valid for this API; check it and try again.", timeout=WAIT_MS
            )
            expect(key).to_have_value("sk-typo")
            expect(key).to_be_focused()
            expect(key).to_have_attribute("aria-invalid", "true")
            key.fill("sk-tab")
            page.keyboard.press("Enter")
            expect(page.locator("#model option").first).to_be_attached(timeout=WAIT_MS)
            expect(page.locator("#key-panel")).to_be_hidden()
            expect(page.get_by_label("Prompt")).to_be_focused()
            stored = page.evaluate("() => [sessionStorage.length, localStorage.length]")
            other_tab = context.new_page()
            other_tab.goto(stack.url + "/", wait_until="load", timeout=WAIT_MS)
            elsewhere = other_tab.evaluate("() => sessionStorage.length")
        finally:
            context.close()
    assert stored == [1, 0] and elsewhere == 0


def test_reuse_seed_sets_the_model_and_size_that_made_the_image(stack: LocalStack, browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(stack.url + "/", wait_until="load", timeout=WAIT_MS)
        playwright_api.expect(page.locator("#model option").first).to_be_attached(timeout=WAIT_MS)
        page.get_by_label("Prompt").fill("a harbour at night")
        page.get_by_label("Size", exact=True).select_option("ratio:16:9")
        page.get_by_role("button", name="Generate").click()
        _count_loaded(page, "#results img", 1)
        page.get_by_label("Size", exact=True).select_option(index=0)
        page.get_by_label("Seed", exact=True).fill("")
        page.locator("#results li").first.get_by_role("button", name="Reuse seed").click()
        seed = page.locator("#results dd[data-fact=seed]").first.text_content()
        assert page.get_by_label("Size", exact=True).input_value() == "ratio:16:9"
        assert page.get_by_label("Seed", exact=True).input_value() == seed
        playwright_api.expect(page.get_by_label("Prompt")).to_be_focused()
    finally:
        context.close()
