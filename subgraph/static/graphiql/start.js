// Starts GraphiQL on the page that GET /graphql serves (subgraph/graphiql.py).  Every script
// and style sheet comes from this server; queries go to the page's own URL.
"use strict";
(function () {
  var page = window.location.href.split(/[?#]/)[0];
  var params = new URLSearchParams(window.location.search);
  // With bearer authentication on, the headers editor is where the token goes: show it.
  var bearer = document.body.getAttribute("data-auth") === "bearer";

  // The query and variables ride in the URL (?q=, ?variables=), so a link shares them.
  // Headers never do: they hold the token.
  function keepInURL(name, value) {
    var next = new URLSearchParams(window.location.search);
    if (value) {
      next.set(name, value);
    } else {
      next.delete(name);
    }
    var search = next.toString();
    window.history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  var props = {
    fetcher: GraphiQL.createFetcher({ url: page }),
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    onEditQuery: function (query) { keepInURL("q", query); },
    onEditVariables: function (variables) { keepInURL("variables", variables); },
    isHeadersEditorEnabled: true,
    // A token stays in this tab's memory, not in the browser's storage.
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: bearer ? "headers" : false,
    inputValueDeprecation: true,
  };
  if (params.get("q")) {
    props.query = params.get("q");
  }
  if (params.get("variables")) {
    props.variables = params.get("variables");
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, props)
  );
})();
