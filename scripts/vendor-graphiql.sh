#!/usr/bin/env bash
# Refreshes the GraphiQL assets that `dossier` serves at GET /graphql (api/graphiql/): the
# production builds of pinned npm packages, with their licences. The output is committed, so
# neither a build nor the network is needed to serve GraphiQL (it works offline and in
# air-gapped deployments). Bump a version here, run this, review the diff, commit.
set -euo pipefail
cd "$(dirname "$0")/.."
GRAPHIQL=3.9.0
REACT=18.3.1
OUT=api/graphiql
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for package in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
  mkdir -p "$WORK/$package" && tar xzf "$WORK/$package.tgz" -C "$WORK/$package"
done
cp "$WORK/graphiql-$GRAPHIQL/package/graphiql.min.js" "$WORK/graphiql-$GRAPHIQL/package/graphiql.min.css" "$OUT/"
cp "$WORK/graphiql-$GRAPHIQL/package/LICENSE" "$OUT/LICENSE.graphiql"
cp "$WORK/react-$REACT/package/umd/react.production.min.js" "$OUT/"
cp "$WORK/react-$REACT/package/LICENSE" "$OUT/LICENSE.react"
cp "$WORK/react-dom-$REACT/package/umd/react-dom.production.min.js" "$OUT/"
cp "$WORK/react-dom-$REACT/package/LICENSE" "$OUT/LICENSE.react-dom"
# Source maps stay out: the minified files name them, and a browser asking gets a 404.
sed -i 's|^//# sourceMappingURL=.*$||' "$OUT/graphiql.min.js"
printf 'graphiql %s\nreact %s\nreact-dom %s\n' "$GRAPHIQL" "$REACT" "$REACT" > "$OUT/VERSIONS"
echo "vendor-graphiql.sh: $OUT holds graphiql $GRAPHIQL, react and react-dom $REACT"
