"""GraphiQL in Chromium, offline: the page that GET /graphql serves renders from this server
alone, runs a typed query, and shows the docs, the query explorer, history and the headers
editor that a bearer token goes into."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.hostile.server import Server

from .conftest import GREETING, GraphiQLPage, JwtServer

pytestmark = pytest.mark.browser

KV_RECORD_DESCRIPTION = "A KV record; its items are paged on the record."
QUERY = ('query Greeting { kvRecord(namespace: "profile_settings", id: "graphiql-check") '
         '{ items(first: 5) { edges { node { key text } } } } }')


@pytest.fixture
def checked(graphiql: GraphiQLPage) -> Iterator[GraphiQLPage]:
    """The page, checked after the test: no request left 127.0.0.1, no error in the console."""
    yield graphiql
    assert graphiql.left_the_machine == []
    assert graphiql.errors == []


def report(capsys: pytest.CaptureFixture[str], path: object) -> None:
    with capsys.disabled():
        print(f"\nscreenshot: {path}")


def test_the_page_renders_with_no_request_leaving_127_0_0_1(
    checked: GraphiQLPage, server: Server
) -> None:
    requests: list[str] = []
    checked.page.on("request", lambda request: requests.append(request.url))
    checked.open(server)
    expect(checked.page.get_by_role("button", name="Execute query (Ctrl-Enter)")).to_be_visible()
    for label in ("Show Documentation Explorer", "Show History", "Show GraphiQL Explorer"):
        expect(checked.page.get_by_role("button", name=label)).to_be_visible()
    checked.page.wait_for_load_state("networkidle")  # the schema's introspection too
    assert any(url.endswith("/graphiql.min.js") for url in requests), requests
    assert all(url.startswith(f"{server.base}/") for url in requests), requests


def test_a_query_typed_into_the_editor_runs_and_shows_its_data(
    checked: GraphiQLPage, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    checked.open(server)
    checked.type_query(QUERY)
    # GraphiQL saves an edit to the tab (whose query History records) after a pause: the tab's
    # title shows that it did, as a person would see before pressing run.
    expect(checked.page.get_by_role("tab", name="Greeting")).to_be_visible()
    checked.run()
    expect(checked.response()).to_contain_text(f'"text": "{GREETING}"')
    expect(checked.response()).to_contain_text('"key": "greeting"')
    report(capsys, checked.screenshot("graphiql-query"))

    history = checked.open_plugin("Show History")  # the run is in the history
    expect(history.get_by_text("Greeting", exact=True)).to_be_visible()


def test_the_docs_explorer_shows_a_fields_description(
    checked: GraphiQLPage, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    checked.open(server)
    docs = checked.open_plugin("Show Documentation Explorer")
    docs.get_by_role("link", name="Query", exact=True).click()
    docs.get_by_role("link", name="kvRecord", exact=True).click()
    expect(docs).to_contain_text(KV_RECORD_DESCRIPTION)
    expect(docs).to_contain_text("The record id")  # an argument's description
    report(capsys, checked.screenshot("graphiql-docs"))


def test_the_query_explorer_writes_a_query_from_the_schema(
    checked: GraphiQLPage, server: Server
) -> None:
    checked.open(server)
    explorer = checked.open_plugin("Show GraphiQL Explorer")
    explorer.get_by_text("namespaces", exact=True).click()
    expect(explorer.get_by_text("abstraction", exact=True)).to_be_visible()
    explorer.get_by_text("name", exact=True).first.click()
    query = checked.editor_text(".graphiql-query-editor")
    assert "namespaces" in query and "name" in query, query
    checked.run()
    expect(checked.response()).to_contain_text('"name": "profile_settings"')


def test_with_bearer_authentication_the_token_goes_in_the_headers_editor(
    graphiql: GraphiQLPage, jwt_server: JwtServer, capsys: pytest.CaptureFixture[str]
) -> None:
    graphiql.open(jwt_server.server)
    headers_editor = graphiql.page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden)")
    expect(headers_editor).to_be_visible()  # opened for the token
    graphiql.type_query("{ namespaces { name } }")
    graphiql.run()
    expect(graphiql.response()).to_contain_text("UNAUTHENTICATED")

    graphiql.type_headers({"Authorization": f"Bearer {jwt_server.token()}"})
    graphiql.run()
    expect(graphiql.response()).to_contain_text('"name": "profile_settings"')
    report(capsys, graphiql.screenshot("graphiql-bearer"))

    # The schema's introspection needs the token too: fetched again with it, the docs fill.
    graphiql.page.get_by_role("button", name="Re-fetch GraphQL schema").click()
    docs = graphiql.open_plugin("Show Documentation Explorer")
    docs.get_by_role("link", name="Query", exact=True).click()
    expect(docs).to_contain_text(KV_RECORD_DESCRIPTION)
    assert graphiql.left_the_machine == []
    # The only errors: the browser's notes on the 401s before the token was given.
    assert all("401" in error for error in graphiql.errors), graphiql.errors
