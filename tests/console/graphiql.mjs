// GraphiQL as a front-end developer meets it, in headless Chromium with no network but the
// server's: the page renders from the server's own assets (no CDN, strict CSP, no error in the
// console), a token pasted in the headers editor loads the schema, the docs explorer lists
// `Query.customers`, and a query typed in the editor returns data.
//
// Environment: DOSSIER_URL, TOKEN, CHROMIUM.
import { checker, env, launchChromium, watchdog } from "./harness.mjs";

const url = env("DOSSIER_URL");
const check = checker("graphiql");
const timer = watchdog("GraphiQL");

const browser = await launchChromium();
try {
  const context = await browser.newContext();
  // Offline but for this server: any other host is refused, as in an air-gapped network.
  const origin = new URL(url).origin;
  const foreign = [];
  await context.route("**/*", (route) => {
    if (new URL(route.request().url()).origin === origin) return route.continue();
    foreign.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const failures = [];
  page.on("pageerror", (error) => failures.push(String(error)));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) failures.push(msg.text());
  });

  await page.goto(`${url}/graphql`);
  await page.waitForSelector(".graphiql-container");
  check(true, "the page renders GraphiQL from the server's own assets");
  // The headers editor holds the Authorization template; put the token in it.
  check((await page.locator(".graphiql-editor-tool").textContent()).includes("paste a token"),
        "the headers editor offers an Authorization template to paste a token in");
  const headers = JSON.stringify({ Authorization: `Bearer ${env("TOKEN")}` });
  await page.evaluate((text) => {
    const editor = document.querySelector(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror");
    editor.CodeMirror.setValue(text);
  }, headers);
  // With the token in place (GraphiQL takes the edit in after a moment), it loads the schema:
  // docs and autocompletion.
  await page.waitForTimeout(1000);
  const introspected = page.waitForResponse((r) =>
    (r.request().postData() ?? "").includes("__schema") && r.status() === 200);
  await page.click('button[aria-label="Re-fetch GraphQL schema"]');
  await introspected;
  await page.evaluate(() => {
    document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue("{ me { role } customers(first: 1) { totalCount } }");
  });
  await page.click(".graphiql-execute-button");
  await page.waitForFunction(() => /"role": "AGENT"/.test(document.querySelector(".graphiql-response")?.textContent ?? ""));
  const result = await page.locator(".graphiql-response").textContent();
  check(result.includes('"totalCount"'), "a query typed in the editor returns data");

  await page.click('button[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector(".graphiql-doc-explorer");
  await page.locator(".graphiql-doc-explorer").getByText("Query", { exact: true }).first().click();
  await page.waitForFunction(() => /customers/.test(document.querySelector(".graphiql-doc-explorer")?.textContent ?? ""));
  check(true, "the docs explorer lists Query.customers");
  check(foreign.length === 0, `nothing was fetched from another host (${foreign.join(", ")})`);
  check(failures.length === 0, `no script error or CSP violation (${failures.join(" | ")})`);
} finally {
  clearTimeout(timer);
  await browser.close();
}
