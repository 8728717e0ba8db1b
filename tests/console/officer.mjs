// Drives Dossier's compliance console in headless Chromium as an officer would with a request
// that names a person by email: sign in with a token, verify the chain, find the person by
// their email, see their consents, place a legal hold (which blocks their erasure) and release
// it, read their audit trail, export them, and erase them through the confirmation step. It
// checks what the page shows; the Rust test that starts it (tests/api/console.rs) checks the
// database afterwards. Exits non-zero on the first failure.
//
// Environment: DOSSIER_URL, OFFICER_TOKEN, AGENT_TOKEN, SUBJECT_ID, SUBJECT_EMAIL, SUBJECT_NAME,
// READER_ACTOR, CHROMIUM.
import { checker, env, launchChromium, watchdog } from "./harness.mjs";

const url = env("DOSSIER_URL");
const subject = env("SUBJECT_ID");
const email = env("SUBJECT_EMAIL");

const check = checker("console");

// Fail rather than hang: every wait gives up after 20 s, and the whole run after 120 s (the
// Rust test kills this process group after 180 s in case even this does not fire).
const timer = watchdog("console");

const browser = await launchChromium();
try {
  const page = await browser.newPage({ acceptDownloads: true });
  page.setDefaultTimeout(20_000);
  const failures = [];
  page.on("pageerror", (err) => failures.push(err.message));
  // Failed loads are expected (the refused sign-in's 401, the absent favicon); anything else
  // on the console — a script error, a CSP violation — is a failure.
  page.on("console", (msg) => {
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) failures.push(msg.text());
  });
  const text = async (selector) => (await page.locator(selector).textContent()).trim();

  await page.goto(`${url}/console`);
  check(await page.locator("#work").isHidden(), "the tools stay hidden before sign-in");

  // A forged token is refused and the tools stay hidden.
  await page.fill("#token", "not-a-token");
  await page.click("#signin-button");
  await page.waitForFunction(() => document.getElementById("signin-error").textContent.length > 0);
  check((await text("#signin-error")).includes("UNAUTHENTICATED"), "a bad token is refused with UNAUTHENTICATED");
  check(await page.locator("#work").isHidden(), "the tools stay hidden after a refused sign-in");

  await page.fill("#token", env("OFFICER_TOKEN"));
  await page.click("#signin-button");
  await page.waitForSelector("#work", { state: "visible" });
  check((await text("#who")).includes("user-compliance (compliance)"), "the officer is shown as signed in");

  await page.click("#verify-button");
  await page.waitForFunction(() => /Chain (intact|broken)/.test(document.getElementById("chain-status").textContent));
  check(/^Chain intact: \d+ events verified\.$/.test(await text("#chain-status")), "the chain is shown intact");

  // The request names the person by email: find them (an audited lookup) and pick them.
  await page.fill("#find-text", email);
  await page.click("#find-button");
  await page.waitForFunction(() => /found/i.test(document.getElementById("find-status").textContent));
  const people = await page.locator("#people tbody tr").allTextContents();
  check(people.length >= 1 && people[0].includes(env("SUBJECT_NAME")) && people[0].includes(email),
        `the person is found by email, best match first (saw ${JSON.stringify(people)})`);
  await page.locator("#people tbody tr").first().getByRole("button", { name: "Select" }).click();
  await page.waitForFunction(() => /current decisions/.test(document.getElementById("consents-status").textContent));
  check((await text("#person-id")) === subject, "the selected person is the subject");
  check(await page.inputValue("#export-id") === subject && await page.inputValue("#erase-id") === subject
        && await page.inputValue("#f-subject") === subject, "the export, erasure and audit tools now act on them");
  const consents = await page.locator("#consents tbody tr").allTextContents();
  check(consents.length === 1 && consents[0].includes("marketing_email") && consents[0].includes("granted"),
        `their consents are shown (saw ${JSON.stringify(consents)})`);
  check((await text("#holds-status")) === "No active hold.", "no hold covers them yet");

  // A legal hold blocks their erasure until it is released.
  await page.fill("#hold-reason", "Litigation 2026-17");
  await page.click("#hold-button");
  await page.waitForFunction(() => /active holds/.test(document.getElementById("holds-status").textContent));
  const holds = await page.locator("#holds tbody tr").allTextContents();
  check(holds.length === 1 && holds[0].includes("Litigation 2026-17") && holds[0].includes("user-compliance"),
        "the hold is shown with its reason and who placed it");
  await page.fill("#erase-reason", "Art. 17 request via console");
  await page.click("#erase-button");
  await page.fill("#erase-typed", "ERASE");
  await page.click("#erase-confirm-button");
  await page.waitForFunction(() => /^(Erased|Not erased)/.test(document.getElementById("erase-status").textContent));
  check((await text("#erase-status")).startsWith("Not erased: CONFLICT"), "a person under a legal hold cannot be erased");
  await page.locator("#holds tbody tr").first().getByRole("button", { name: "Release" }).click();
  await page.waitForFunction(() => document.getElementById("holds-status").textContent === "No active hold.");
  check(await page.locator("#holds tbody tr").count() === 0, "the released hold no longer shows");

  // The person's audit trail: their creation, the agent's read of their email, the officer's
  // own lookup, and the hold.
  await page.click("#person-trail-button");
  await page.waitForFunction(() => /events\.$/.test(document.getElementById("audit-status").textContent));
  const rows = await page.locator("#events tbody tr").allTextContents();
  check(rows.some((r) => r.includes(env("READER_ACTOR")) && r.includes("READ") && r.includes("email")),
        "the agent's read of the email is listed, its actor shown as the text it is");
  check(rows.some((r) => r.includes("user-compliance") && r.includes("READ") && r.includes("phone")),
        "the officer's own lookup by personal data is listed");
  check(rows.some((r) => r.includes("user-compliance") && r.includes("CREATE") && r.includes("LegalHold")),
        "the legal hold is listed");
  check(await page.locator("#events img, #events script, #events b").count() === 0,
        "markup in an actor, a purpose or a client id builds no element");
  check(await page.evaluate(() => window.__pwned === undefined), "no markup ran");
  check(rows[rows.length - 1].includes("CREATE") && rows[rows.length - 1].includes("Contact"), "the oldest is the creation");
  check(!rows.join(" ").includes(email), "the audit log shows field names, never values");

  // The CSV download of the same search.
  const [csv] = await Promise.all([page.waitForEvent("download"), page.click("#csv-button")]);
  const csvPath = await csv.path();
  const csvText = (await import("node:fs")).readFileSync(csvPath, "utf8");
  check(csvText.startsWith('"seq","at","actor"') && csvText.trim().split("\n").length === rows.length + 1,
        "the CSV download holds a header and the same events");

  // The register of processing, downloaded as Markdown.
  const [register] = await Promise.all([page.waitForEvent("download"), page.click("#register-md-button")]);
  const registerText = (await import("node:fs")).readFileSync(await register.path(), "utf8");
  check(registerText.startsWith("# Register of processing activities") && registerText.includes("| Contact.email |"),
        "the register downloads as Markdown with the marked fields");
  check(/^Register of .+: 8 categories of personal data, 0 purposes\.$/.test(await text("#register-status")),
        "the register's summary is shown");

  // Subject access export, of the person selected.
  await page.click("#export-button");
  await page.waitForFunction(() => /^Export of /.test(document.getElementById("export-status").textContent));
  const exported = JSON.parse(await page.locator("#export-json").textContent());
  check(exported.subject.id === subject && exported.subject.email === email, "the export shows the person's record");
  check(exported.accessLog.some((a) => a.action === "READ" && a.actor === env("READER_ACTOR")), "the export lists who read their data");
  check(await page.locator("#export-download").isVisible(), "the export can be downloaded");

  // Erasure needs its confirmation step.
  await page.click("#erase-button");
  check(await page.locator("#erase-confirm").isVisible(), "erasing first asks for confirmation");
  check((await text("#erase-warning")).includes(subject), "the confirmation names the contact");
  const stillThere = await page.evaluate(async ({ subject, agent }) => {
    const r = await fetch("/graphql", { method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + agent },
      body: JSON.stringify({ query: "query($id: UUID!) { contact(id: $id) { id } }", variables: { id: subject } }) });
    return (await r.json()).data.contact !== null;
  }, { subject, agent: env("AGENT_TOKEN") });
  check(stillThere, "nothing is erased before the confirmation");
  await page.fill("#erase-typed", "erase");
  await page.click("#erase-confirm-button");
  check((await text("#erase-status")) === "Type ERASE to confirm.", "a wrong confirmation word is refused");
  await page.fill("#erase-typed", "ERASE");
  await page.click("#erase-confirm-button");
  await page.waitForFunction(() => /^(Erased|Not erased)/.test(document.getElementById("erase-status").textContent));
  check(/^Erased\. Tombstone [0-9a-f-]{36} at /.test(await text("#erase-status")), "the erasure is confirmed with its tombstone");

  // Afterwards the export is gone, the trail shows the erasure, and the chain still holds.
  await page.click("#export-button");
  await page.waitForFunction(() => !/Exporting/.test(document.getElementById("export-status").textContent));
  check((await text("#export-status")).includes("NOT_FOUND"), "the person can no longer be exported");
  check((await page.locator("#export-json").textContent()) === "" && await page.locator("#export-download").isHidden(),
    "no earlier export of the person stays on the page");
  check((await text("#consents-status")) === "This person is no longer in the file.",
        "the selected person shows as gone");
  await page.selectOption("#f-action", "ERASE");
  await page.click("#search-button");
  await page.waitForFunction(() => /events\.$/.test(document.getElementById("audit-status").textContent)
    && document.querySelectorAll("#events tbody tr").length > 0);
  const erased = await page.locator("#events tbody tr").allTextContents();
  check(erased.some((r) => r.includes("ERASE") && r.includes("user-compliance")), "the audit log shows the erasure");
  await page.click("#verify-button");
  await page.waitForFunction(() => /events verified/.test(document.getElementById("chain-status").textContent)
    && !/Verifying/.test(document.getElementById("chain-status").textContent));
  check(/^Chain intact/.test(await text("#chain-status")), "the chain still verifies after the erasure");

  check(failures.length === 0, `no script errors on the page (${failures.join("; ")})`);
} finally {
  await browser.close();
  clearTimeout(timer);
}
