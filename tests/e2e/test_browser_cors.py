"""CORS in a real browser: a web app on another origin calls the API and the bucket.

Chromium enforces CORS itself, so these pass only if the API's preflights and answers, the
gateway's own refusals and the bucket's CORS rules are what a browser needs: a listed origin
generates (a preflighted request with a key), reads exposed headers and a 401, downloads the
image from S3, uploads a file through POST /uploads straight to S3 and edits it; an unlisted
origin can do none of it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.background import BackgroundServer
from devstack.stack import LocalStack
from tests.conftest import http, post_json

KEY = "sk-browser"
WAIT_MS = 30_000
# Runs in the app's page, so every fetch is cross-origin; each step's outcome, or its error. The
# S3 steps use an image URL and an upload form made beforehand, so each step stands on its own.
SCENARIO = """async ([api, key, imageUrl, form]) => {
  const steps = {};
  const auth = { "Authorization": `Bearer ${key}` };
  // As the OpenAI SDK does in a browser: a header of its own, which the preflight must grant.
  const json = { ...auth, "Content-Type": "application/json", "X-Stainless-Lang": "js" };
  async function step(name, run) {
    try { steps[name] = await run(); }
    catch (error) { steps[name] = `${error.name}: ${error.message}`; }
  }
  await step("generate", async () => {
    const answer = await fetch(`${api}/images`, {
      method: "POST", headers: json, body: JSON.stringify({ prompt: "a fox", seed: 5 }),
    });
    const image = (await answer.json()).images[0];
    return { status: answer.status, requestId: answer.headers.get("X-Request-Id") !== null,
             seed: image.seed };
  });
  await step("download", async () => {
    const answer = await fetch(imageUrl);
    return { status: answer.status, bytes: (await answer.blob()).size };
  });
  await step("wrongKey", async () => {
    const answer = await fetch(`${api}/models`, { headers: { "x-api-key": "wrong" } });
    return { status: answer.status, code: (await answer.json()).error.code };
  });
  await step("job", async () => {
    const answer = await fetch(`${api}/images`, {
      method: "POST", headers: { ...json, "Prefer": "respond-async" },
      body: JSON.stringify({ prompt: "a fox" }),
    });
    return { status: answer.status, location: answer.headers.get("Location") !== null };
  });
  await step("uploadForm", async () => {
    const answer = await fetch(`${api}/uploads`, {
      method: "POST", headers: json, body: JSON.stringify({ content_type: "image/png" }),
    });
    return { status: answer.status };
  });
  await step("upload", async () => {
    const body = new FormData();
    for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
    body.append("file", new Blob([Uint8Array.from(atob(form.png), (c) => c.charCodeAt(0))],
                                 { type: "image/png" }), "fox.png");
    const answer = await fetch(form.url, { method: "POST", body });
    return { status: answer.status };
  });
  await step("edit", async () => {
    const answer = await fetch(`${api}/images/edits`, {
      method: "POST", headers: json,
      body: JSON.stringify({ operation: "upscale-fast", image: { key: form.key } }),
    });
    return { status: answer.status };
  });
  return steps;
}"""


class _AppPage(BaseHTTPRequestHandler):
    """A blank page: the web app's origin."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>app</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def apps() -> Iterator[tuple[str, str]]:
    """Two web app origins: the first is listed in IMAGEGEN_ALLOWED_ORIGINS, the second not."""
    servers = [
        BackgroundServer(ThreadingHTTPServer(("127.0.0.1", 0), _AppPage)).start() for _ in "ab"
    ]
    try:
        yield servers[0].url, servers[1].url
    finally:
        for server in servers:
            server.stop()


def run_scenario(browser, app: str, stack: LocalStack) -> dict:
    """The scenario in a page of ``app``, with an image and an upload form made from Python."""
    auth = {"x-api-key": KEY}
    image = post_json(f"{stack.url}/images", {"prompt": "a heron"}, auth)[2]["images"][0]
    form = post_json(f"{stack.url}/uploads", {"content_type": "image/png"}, auth)[2]
    form["png"] = base64.b64encode(http("GET", image["url"])[2]).decode()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(app + "/", wait_until="load", timeout=WAIT_MS)
        return page.evaluate(SCENARIO, [stack.url, KEY, image["url"], form])
    finally:
        context.close()


def test_a_listed_origin_uses_the_api_and_the_bucket_from_a_browser(browser, apps):
    listed, unlisted = apps
    env = {"IMAGEGEN_ALLOWED_ORIGINS": listed}
    with LocalStack(env=env, api_keys=(KEY,)) as stack:
        allowed = run_scenario(browser, listed, stack)
        refused = run_scenario(browser, unlisted, stack)
    assert allowed["generate"] == {"status": 200, "requestId": True, "seed": 5}, allowed
    assert allowed["download"]["status"] == 200 and allowed["download"]["bytes"] > 1000
    assert allowed["wrongKey"] == {"status": 401, "code": "invalid_api_key"}
    assert allowed["job"] == {"status": 202, "location": True}
    assert allowed["uploadForm"] == {"status": 200} and allowed["upload"] == {"status": 204}
    assert allowed["edit"] == {"status": 200}
    # The browser refuses every answer to the unlisted origin, the bucket's too: fetch fails.
    assert refused == dict.fromkeys(allowed, "TypeError: Failed to fetch"), refused


def test_without_allowed_origins_cors_is_closed(browser, apps):
    listed, _ = apps
    with LocalStack(api_keys=(KEY,)) as stack:
        outcome = run_scenario(browser, listed, stack)
    assert set(outcome.values()) == {"TypeError: Failed to fetch"}, outcome
