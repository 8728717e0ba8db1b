// Introspection as client tools do it: graphql-js's standard introspection query (what
// GraphiQL, graphql-codegen, graphql-inspector and IDE plugins send), in each of its variants,
// must pass with the server's default limits; the client schema built from the answer must be
// the committed `schema.graphql`.
import { readFileSync } from "node:fs";
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from "graphql";
import { env } from "./harness.mjs";

const printed = (schema) => printSchema(lexicographicSortSchema(schema));

const variants = [
  {},
  { descriptions: false },
  { specifiedByUrl: true },
  { inputValueDeprecation: true },
  { descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true },
];
const committed = printed(buildSchema(readFileSync(env("SCHEMA_PATH"), "utf8")));
for (const options of variants) {
  const response = await fetch(`${env("DOSSIER_URL")}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${env("TOKEN")}` },
    body: JSON.stringify({ query: getIntrospectionQuery(options) }),
    signal: AbortSignal.timeout(20_000),
  });
  const body = await response.json();
  if (response.status !== 200 || body.errors) {
    throw new Error(`introspection ${JSON.stringify(options)} refused: ${response.status} ${JSON.stringify(body.errors)}`);
  }
  // (async-graphql answers `__schema.description` with a generic text of its own, which the
  // SDL does not carry: the variant that asks for it is compared without it.)
  if (options.schemaDescription) delete body.data.__schema.description;
  const client = printed(buildClientSchema(body.data));
  // The variants that ask for everything the SDL shows must give it back exactly; the others
  // must still build a schema with the same types.
  const complete = options.descriptions !== false && options.specifiedByUrl;
  // (Built-in scalars are listed by the server whether used or not, and printed by neither.)
  const named = (schema) => Object.keys(schema.getTypeMap())
    .filter((name) => !["String", "Int", "Float", "Boolean", "ID"].includes(name)).sort().join(" ");
  const sameTypes = named(buildClientSchema(body.data)) ===
    named(buildSchema(readFileSync(env("SCHEMA_PATH"), "utf8")));
  if (!sameTypes) throw new Error(`introspection ${JSON.stringify(options)} lists other types than schema.graphql`);
  if (complete && client !== committed) {
    const a = client.split("\n"), b = committed.split("\n");
    const at = a.findIndex((line, i) => line !== b[i]);
    throw new Error(`introspection ${JSON.stringify(options)} differs from schema.graphql at line ${at + 1}:\n  served:    ${a[at]}\n  committed: ${b[at]}`);
  }
  console.log(`ok - introspection ${JSON.stringify(options)} passes and builds ${complete ? "exactly " : "the types of "}the committed schema`);
}
