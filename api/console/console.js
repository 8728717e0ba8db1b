// Dossier's compliance console: a page over the same POST /graphql as every client, with the
// officer's own token. Nothing is stored beyond this tab (sessionStorage); data from the server
// is only ever put into the page as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("dossier-token") || "";
let after = null;

async function gql(query, variables) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer " + token },
    body: JSON.stringify({ query, variables: variables || {} }),
  });
  const body = await response.json().catch(() => ({}));
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    const code = e.extensions && e.extensions.code ? e.extensions.code + ": " : "";
    throw new Error(code + e.message);
  }
  if (!response.ok) throw new Error("HTTP " + response.status);
  return body.data;
}

function show(id, text, cls) {
  const el = $(id);
  el.textContent = text;
  el.className = cls || "";
}

async function signIn() {
  token = $("token").value.trim();
  show("signin-error", "");
  try {
    const data = await gql("{ me { actor role tenantName scopes } }");
    sessionStorage.setItem("dossier-token", token);
    const me = data.me;
    show("who", `Signed in as ${me.actor} (${me.role.toLowerCase()}) for ${me.tenantName}`);
    $("work").hidden = false;
  } catch (err) {
    token = "";
    sessionStorage.removeItem("dossier-token");
    $("work").hidden = true;
    show("who", "Not signed in.");
    show("signin-error", "Sign-in failed: " + err.message, "error");
  }
}

function signOut() {
  token = "";
  sessionStorage.removeItem("dossier-token");
  $("token").value = "";
  $("work").hidden = true;
  // Nothing personal stays on the page after sign-out.
  selected = null;
  $("people").tBodies[0].replaceChildren();
  $("person").hidden = true;
  show("who", "Not signed in.");
}

async function verifyChain() {
  show("chain-status", "Verifying…");
  try {
    const r = (await gql("{ verifyAuditChain { ok checked firstBrokenSeq expectedHash foundHash } }")).verifyAuditChain;
    if (r.ok) show("chain-status", `Chain intact: ${r.checked} events verified.`, "ok");
    else show("chain-status", `Chain broken at event #${r.firstBrokenSeq}: expected ${r.expectedHash}, found ${r.foundHash}.`, "broken");
  } catch (err) {
    show("chain-status", err.message, "error");
  }
}

function isoOrNull(value) {
  return value ? new Date(value + "Z").toISOString() : null;
}

function filter() {
  const f = {};
  const subject = $("f-subject").value.trim();
  if (subject) f.subjectId = subject;
  const actor = $("f-actor").value.trim();
  if (actor) f.actor = { eq: actor };
  if ($("f-action").value) f.action = [$("f-action").value];
  if ($("f-outcome").value) f.outcome = $("f-outcome").value;
  const purpose = $("f-purpose").value.trim();
  if (purpose) f.purpose = { contains: purpose };
  const from = isoOrNull($("f-from").value), to = isoOrNull($("f-to").value);
  if (from || to) {
    f.at = {};
    if (from) f.at.gte = from;
    if (to) f.at.lt = to;
  }
  return f;
}

const EVENTS = `query($f: AuditEventFilter, $after: String) {
  auditEvents(filter: $f, first: 50, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { seq at actor actorRole action entity fields purpose outcome } }
  } }`;

async function search(more) {
  if (!more) {
    after = null;
    $("events").tBodies[0].replaceChildren();
  }
  show("audit-status", "Searching…");
  try {
    const page = (await gql(EVENTS, { f: filter(), after })).auditEvents;
    const body = $("events").tBodies[0];
    for (const { node: e } of page.edges) {
      const row = body.insertRow();
      row.className = e.outcome === "DENIED" ? "denied" : "";
      for (const value of [e.seq, e.at.replace("T", " ").slice(0, 19), e.actor, e.actorRole, e.action,
                           e.entity, e.fields.join(", "), e.purpose || "", e.outcome]) {
        row.insertCell().textContent = String(value);
      }
    }
    after = page.pageInfo.endCursor;
    $("more-button").hidden = !page.pageInfo.hasNextPage;
    show("audit-status", `${body.rows.length} of ${page.totalCount} events.`);
  } catch (err) {
    show("audit-status", err.message, "error");
  }
}

function download(filename, type, content) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([content], { type }));
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

async function downloadCsv() {
  try {
    const x = (await gql(`query($f: AuditEventFilter) { auditExport(filter: $f, format: CSV) {
      filename contentType count content } }`, { f: filter() })).auditExport;
    download(x.filename, x.contentType, x.content);
    show("audit-status", `Downloaded ${x.count} events as ${x.filename}.`);
  } catch (err) {
    show("audit-status", err.message, "error");
  }
}

async function downloadRegister(format) {
  try {
    const r = (await gql("{ processingRegister { controller generatedAt categories { field } purposes { name } markdown csv } }"))
      .processingRegister;
    const day = r.generatedAt.slice(0, 10);
    if (format === "md") download(`register-of-processing-${day}.md`, "text/markdown", r.markdown);
    else download(`register-of-processing-${day}.csv`, "text/csv", r.csv);
    show("register-status",
      `Register of ${r.controller}: ${r.categories.length} categories of personal data, ${r.purposes.length} purposes.`);
  } catch (err) {
    show("register-status", err.message, "error");
  }
}

async function exportSubject() {
  const id = $("export-id").value.trim();
  $("export-json").textContent = "";
  $("export-download").hidden = true;
  show("export-status", "Exporting…");
  try {
    const doc = (await gql("query($id: UUID!) { exportSubject(contactId: $id) }", { id })).exportSubject;
    const text = JSON.stringify(doc, null, 2);
    $("export-json").textContent = text;
    const link = $("export-download");
    link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    link.download = `subject-${id}.json`;
    link.hidden = false;
    show("export-status",
      `Export of ${id}: ${doc.sales.length} sales, ${doc.consents.length} consent records, ${doc.accessLog.length} accesses.`, "ok");
  } catch (err) {
    show("export-status", err.message, "error");
  }
}

function askErase() {
  const id = $("erase-id").value.trim();
  const reason = $("erase-reason").value.trim();
  show("erase-status", "");
  if (!id || !reason) {
    show("erase-status", "A contact id and a reason are needed.", "error");
    return;
  }
  $("erase-warning").textContent =
    `Erase contact ${id}? Their personal data and consents are deleted for good; their sales stay with the customer. Reason: ${reason}`;
  $("erase-typed").value = "";
  $("erase-confirm").hidden = false;
}

async function confirmErase() {
  if ($("erase-typed").value !== "ERASE") {
    show("erase-status", "Type ERASE to confirm.", "error");
    return;
  }
  const id = $("erase-id").value.trim();
  const reason = $("erase-reason").value.trim();
  $("erase-confirm").hidden = true;
  show("erase-status", "Erasing…");
  try {
    const e = (await gql(`mutation($id: UUID!, $reason: String!) {
      eraseContact(contactId: $id, reason: $reason) { id erasedAt } }`, { id, reason })).eraseContact;
    show("erase-status", `Erased. Tombstone ${e.id} at ${e.erasedAt}.`, "ok");
    if (selected && selected.id === id) await loadPerson();
  } catch (err) {
    show("erase-status", "Not erased: " + err.message, "error");
  }
}

const FIND = `query($text: String!) {
  search(text: $text, first: 20, kinds: [CONTACT]) {
    score
    node { ... on Contact { id firstName lastName email phone customer { name } } }
  } }`;

// The person the officer picked from the search: the other tools act on them.
let selected = null;

function fullName(c) {
  return [c.firstName, c.lastName].filter(Boolean).join(" ") || "(no name)";
}

async function findPeople() {
  const text = $("find-text").value.trim();
  $("people").tBodies[0].replaceChildren();
  show("find-status", "Searching…");
  try {
    const hits = (await gql(FIND, { text })).search;
    const body = $("people").tBodies[0];
    for (const { score, node: c } of hits) {
      const row = body.insertRow();
      for (const value of [fullName(c), c.email || "", c.phone || "", c.customer.name, score.toFixed(2)]) {
        row.insertCell().textContent = value;
      }
      const pick = document.createElement("button");
      pick.type = "button";
      pick.textContent = "Select";
      pick.addEventListener("click", () => selectPerson(c));
      row.insertCell().append(pick);
    }
    show("find-status", hits.length ? `${hits.length} people found, best match first.` : "No one found.");
  } catch (err) {
    show("find-status", err.message, "error");
  }
}

const PERSON = `query($id: UUID!) {
  contact(id: $id) { id customerId consents { purpose granted legalBasis source recordedAt } }
  legalHolds { id entity entityId reason placedAt placedBy }
}`;

async function selectPerson(c) {
  selected = c;
  $("person").hidden = false;
  $("person-name").textContent = fullName(c);
  $("person-email").textContent = c.email || "";
  $("person-id").textContent = c.id;
  // The tools below act on the selected person.
  $("export-id").value = c.id;
  $("erase-id").value = c.id;
  $("f-subject").value = c.id;
  await loadPerson();
}

async function loadPerson() {
  if (!selected) return;
  show("consents-status", "Loading…");
  show("holds-status", "");
  $("consents").tBodies[0].replaceChildren();
  $("holds").tBodies[0].replaceChildren();
  try {
    const data = await gql(PERSON, { id: selected.id });
    if (!data.contact) {
      show("consents-status", "This person is no longer in the file.", "error");
      return;
    }
    const consents = $("consents").tBodies[0];
    for (const k of data.contact.consents) {
      const row = consents.insertRow();
      const decision = k.granted === null ? "(hidden)" : k.granted ? "granted" : "refused or withdrawn";
      for (const value of [k.purpose, decision, k.legalBasis, k.source || "", k.recordedAt.replace("T", " ").slice(0, 19)]) {
        row.insertCell().textContent = value;
      }
    }
    show("consents-status", `${data.contact.consents.length} current decisions.`);
    const covering = data.legalHolds.filter((h) =>
      (h.entity === "CONTACT" && h.entityId === selected.id) ||
      (h.entity === "CUSTOMER" && h.entityId === data.contact.customerId));
    const holds = $("holds").tBodies[0];
    for (const h of covering) {
      const row = holds.insertRow();
      for (const value of [h.entity === "CONTACT" ? "this person" : "their company", h.reason,
                           h.placedAt.replace("T", " ").slice(0, 19), h.placedBy]) {
        row.insertCell().textContent = value;
      }
      const release = document.createElement("button");
      release.type = "button";
      release.textContent = "Release";
      release.addEventListener("click", () => releaseHold(h.id));
      row.insertCell().append(release);
    }
    show("holds-status", covering.length ? `${covering.length} active holds: erasure is blocked.` : "No active hold.");
  } catch (err) {
    show("consents-status", err.message, "error");
  }
}

async function placeHold() {
  const reason = $("hold-reason").value.trim();
  if (!selected || !reason) {
    show("holds-status", "A selected person and a reason are needed.", "error");
    return;
  }
  try {
    await gql(`mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`,
      { input: { entity: "CONTACT", entityId: selected.id, reason } });
    $("hold-reason").value = "";
    await loadPerson();
  } catch (err) {
    show("holds-status", "Not placed: " + err.message, "error");
  }
}

async function releaseHold(id) {
  try {
    await gql(`mutation($id: UUID!) { releaseLegalHold(id: $id) { id } }`, { id });
    await loadPerson();
  } catch (err) {
    show("holds-status", "Not released: " + err.message, "error");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("find-form").addEventListener("submit", (e) => { e.preventDefault(); findPeople(); });
  $("hold-button").addEventListener("click", placeHold);
  $("person-trail-button").addEventListener("click", () => {
    $("audit").scrollIntoView();
    search(false);
  });
  $("person-export-button").addEventListener("click", () => $("export").scrollIntoView());
  $("person-erase-button").addEventListener("click", () => {
    $("erase").scrollIntoView();
    $("erase-reason").focus();
  });
  $("signin-button").addEventListener("click", signIn);
  $("signout-button").addEventListener("click", signOut);
  $("verify-button").addEventListener("click", verifyChain);
  $("audit-form").addEventListener("submit", (e) => { e.preventDefault(); search(false); });
  $("more-button").addEventListener("click", () => search(true));
  $("csv-button").addEventListener("click", downloadCsv);
  $("export-button").addEventListener("click", exportSubject);
  $("register-md-button").addEventListener("click", () => downloadRegister("md"));
  $("register-csv-button").addEventListener("click", () => downloadRegister("csv"));
  $("erase-button").addEventListener("click", askErase);
  $("erase-confirm-button").addEventListener("click", confirmErase);
  $("erase-cancel-button").addEventListener("click", () => {
    $("erase-confirm").hidden = true;
    show("erase-status", "Cancelled; nothing was erased.");
  });
  if (token) {
    $("token").value = token;
    signIn();
  }
});
