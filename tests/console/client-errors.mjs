// Errors a client can act on: what a third-party GraphQL client (Apollo Client, pinned) shows
// its caller for Dossier's refusals — `extensions.code`, readable whether the error came as a
// request error (4xx: in `networkError.result`) or from execution (in `graphQLErrors`), under
// either media type the client asks for.
import { createRequire } from "node:module";
import { checker, env } from "./harness.mjs";

const { ApolloClient, HttpLink, InMemoryCache, gql } = createRequire(import.meta.url)("@apollo/client/core");

const check = checker("client");

for (const accept of ["application/graphql-response+json", "application/json"]) {
  const client = (token) => new ApolloClient({
    cache: new InMemoryCache(),
    link: new HttpLink({ uri: `${env("DOSSIER_URL")}/graphql`, headers: { authorization: `Bearer ${token}`, accept } }),
  });
  // What the caller can read off the error: the HTTP status and the first `extensions.code`.
  const refusal = async (token, query) => {
    try {
      await client(token).query({ query: gql(query) });
      return "none";
    } catch (error) {
      const errors = error.graphQLErrors?.length ? error.graphQLErrors : error.networkError?.result?.errors;
      return `${error.networkError?.statusCode ?? 200} ${errors?.[0]?.extensions?.code}`;
    }
  };
  const refused = await refusal("not-a-token", "{ me { role } }");
  check(refused === "401 UNAUTHENTICATED", `a refused token reads as 401 UNAUTHENTICATED (${accept}: ${refused})`);
  const unknown = await refusal(env("TOKEN"), "{ nothingHere }");
  check(unknown.endsWith(" GRAPHQL_VALIDATION_FAILED"), `an invalid document reads as GRAPHQL_VALIDATION_FAILED (${accept}: ${unknown})`);
  const forbidden = await refusal(env("PARTNER_TOKEN"), "{ contacts { totalCount } }");
  check(forbidden === "200 FORBIDDEN", `a missing scope reads as FORBIDDEN (${accept}: ${forbidden})`);
  const { data } = await client(env("TOKEN")).query({ query: gql("{ me { role } }") });
  check(data.me.role === "AGENT", `a good query reads its data (${accept})`);
}
