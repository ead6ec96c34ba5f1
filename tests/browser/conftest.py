"""A real browser on a real server: Debian's Chromium, driven headless by Playwright, against
`python -m subgraph serve` on 127.0.0.1.

`make test` installs Chromium when it is missing (`scripts/services start chromium`) and passes
its path as SUBGRAPH_TEST_CHROMIUM; without it the tests use /usr/bin/chromium, or skip.
Playwright's own browsers are never used (`playwright install` downloads from outside).

Every request the page makes goes through `GraphiQLPage`'s route: one to another host than
127.0.0.1 is aborted and recorded, and each test asserts that there was none.  Screenshots go to
`test-artifacts/browser/` (SUBGRAPH_TEST_ARTIFACTS names another folder).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hostile.server import Server
from tests.subgraph.jwts import AUDIENCE, ISSUER, SigningKey, new_key, write_jwks

playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
LOCAL_SCHEMES = ("data", "blob", "about")


def chromium_path() -> str | None:
    configured = os.environ.get("SUBGRAPH_TEST_CHROMIUM")
    if configured:
        return configured
    return next((c for c in CANDIDATES if Path(c).is_file()), None)


def artifacts_dir() -> Path:
    configured = os.environ.get("SUBGRAPH_TEST_ARTIFACTS")
    path = Path(configured) if configured else ROOT / "test-artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium: `make test` installs Debian's package (scripts/services start"
                    " chromium), or set SUBGRAPH_TEST_CHROMIUM")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def post(server: Server, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{server.base}/graphql", json={"query": query}, headers=headers,
                          timeout=10)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


GREETING = "hello from a browser on 127.0.0.1"
WRITE_GREETING = f"""mutation {{ putItems(input: {{namespace: "profile_settings",
  id: "graphiql-check", idempotencyKey: "graphiql-check-1",
  items: [{{key: "greeting", text: "{GREETING}"}}]}}) {{ id }} }}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A subgraph without authentication (loopback only), with one KV record: GREETING."""
    server = Server(tmp_path_factory.mktemp("graphiql"), name="graphiql")
    try:
        server.wait_until_healthy()
        post(server, WRITE_GREETING)
        yield server
    finally:
        server.terminate()


@dataclass
class JwtServer:
    server: Server
    key: SigningKey

    def token(self) -> str:
        return self.key.sign()


@pytest.fixture(scope="module")
def jwt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwtServer]:
    """A subgraph that wants a bearer JWT on every GraphQL request."""
    workdir = tmp_path_factory.mktemp("graphiql-jwt")
    key = new_key("RS256", "browser-1")
    jwks = write_jwks(workdir / "jwks.json", key)
    server = Server(workdir, name="graphiql-jwt", args=[
        "--auth", "jwt", "--jwks", str(jwks), "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE,
    ])
    try:
        server.wait_until_healthy()
        yield JwtServer(server, key)
    finally:
        server.terminate()


@dataclass
class GraphiQLPage:
    """A browser tab on a server's GraphiQL, with every request checked for its host."""

    page: Any
    left_the_machine: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.route("**/*", self._only_loopback)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _only_loopback(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in LOCAL_SCHEMES or url.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.left_the_machine.append(route.request.url)
            route.abort()

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def open(self, server: Server) -> None:
        self.page.goto(f"{server.base}/graphql")
        self.page.locator(".graphiql-query-editor .CodeMirror").wait_for()

    def _editor(self, selector: str) -> Any:
        return self.page.locator(f"{selector} .CodeMirror").first

    def editor_text(self, selector: str) -> str:
        return self._editor(selector).evaluate("node => node.CodeMirror.getValue()")

    def type_into(self, selector: str, text: str) -> None:
        """Replace an editor's text by typing `text`, key by key, as a person would."""
        self._editor(selector).click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.press("Delete")
        self.page.keyboard.type(text)
        self.page.keyboard.press("Escape")  # close an autocompletion list, if one is open
        assert self.editor_text(selector) == text

    def type_query(self, query: str) -> None:
        self.type_into(".graphiql-query-editor", query)

    def type_headers(self, headers: dict[str, str]) -> None:
        self.page.get_by_role("button", name="Headers", exact=True).click()
        self.type_into(".graphiql-editor-tool .graphiql-editor:not(.hidden)", json.dumps(headers))

    def run(self) -> None:
        self.page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

    def response(self) -> Any:
        return self.page.locator(".graphiql-response")

    def open_plugin(self, label: str) -> Any:
        """Open a sidebar plugin by its button's label; its panel."""
        self.page.get_by_role("button", name=label).click()
        return self.page.locator(".graphiql-plugin")

    def screenshot(self, name: str) -> Path:
        path = artifacts_dir() / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def graphiql(browser: Any) -> Iterator[GraphiQLPage]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield GraphiQLPage(context.new_page())
    finally:
        context.close()
