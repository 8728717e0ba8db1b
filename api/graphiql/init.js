// Dossier's GraphiQL: every asset comes from this server (no CDN), and requests go to
// POST /graphql like any client's. Paste a token in the headers editor (below the query).
"use strict";
const fetcher = GraphiQL.createFetcher({ url: "/graphql" });
const headers = '{\n  "Authorization": "Bearer <paste a token: dossier token --tenant ID --role agent>"\n}';
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultHeaders: headers,
    defaultEditorToolsVisibility: "headers",
    shouldPersistHeaders: false,
  }),
);
