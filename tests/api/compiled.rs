//! Compiled reads against the resolvers: operations generated from the schema (random
//! nesting, fields, the rows a row names (`Sale.contact`), a customer's `stats`, aliases,
//! fragments, `@skip`/`@include`, `first`, `after` (cursors of the list's ordering, of
//! another, of the other tenant, none), filters and orderings, cursors (compared by what they
//! hold: they are sealed with a random nonce), `totalCount`, `pageInfo`, rows that exist,
//! do not, or belong to the other tenant; tokens with and without `pii:read` or a relation's scope) run
//! once compiled and once on the resolvers, on the same data, and must answer the same JSON
//! and leave the same audit events. Plus the SQL's tenant condition, checked on the
//! statements themselves, and the `/metrics` counters.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};
use tests::*;
use uuid::Uuid;

/// How many generated operations each backend runs (each twice).
const OPERATIONS: usize = 2_000;

/// A small deterministic generator (xorshift*), so a failure names a reproducible operation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Customer,
    Contact,
    Sale,
    Interaction,
}

impl Kind {
    /// The root field of one row by id.
    fn one(self) -> &'static str {
        match self {
            Kind::Customer => "customer",
            Kind::Contact => "contact",
            Kind::Sale => "sale",
            Kind::Interaction => "interaction",
        }
    }
    /// The root field of the list.
    fn many(self) -> &'static str {
        match self {
            Kind::Customer => "customers",
            Kind::Contact => "contacts",
            Kind::Sale => "sales",
            Kind::Interaction => "interactions",
        }
    }
    /// How deep its rows start, so that nesting stops at two connections.
    fn depth(self) -> usize {
        match self {
            Kind::Customer => 0,
            Kind::Contact => 1,
            _ => 2,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Customer => "Customer",
            Kind::Contact => "Contact",
            Kind::Sale => "Sale",
            Kind::Interaction => "Interaction",
        }
    }
    fn scalars(self) -> &'static [&'static str] {
        match self {
            Kind::Customer => &[
                "id",
                "name",
                "registrationNumber",
                "country",
                "acquisitionChannel",
                "externalRef",
                "createdAt",
                "updatedAt",
            ],
            Kind::Contact => &[
                "id",
                "customerId",
                "firstName",
                "lastName",
                "email",
                "phone",
                "birthday",
                "jobTitle",
                "externalRef",
                "createdAt",
                "updatedAt",
            ],
            Kind::Sale => &[
                "id",
                "customerId",
                "contactId",
                "reference",
                "sku",
                "quantity",
                "amount",
                "currency",
                "soldAt",
                "externalRef",
                "createdAt",
            ],
            Kind::Interaction => &[
                "id",
                "customerId",
                "contactId",
                "kind",
                "channel",
                "occurredAt",
                "subject",
                "summary",
                "source",
                "externalRef",
                "createdAt",
                "updatedAt",
            ],
        }
    }
    fn connections(self) -> &'static [(&'static str, Kind)] {
        match self {
            Kind::Customer => &[
                ("contacts", Kind::Contact),
                ("sales", Kind::Sale),
                ("interactions", Kind::Interaction),
            ],
            Kind::Contact => &[("sales", Kind::Sale), ("interactions", Kind::Interaction)],
            _ => &[],
        }
    }
    /// The orderings generated for its lists: on its columns (compiled), by personal data or
    /// by stats (the resolvers').
    fn orders(self) -> &'static [&'static str] {
        match self {
            Kind::Customer => &[
                "[{field: NAME, direction: DESC}]",
                "[{field: COUNTRY}, {field: CREATED_AT, direction: DESC}]",
                "{field: UPDATED_AT}",
                "[]",
                "[{field: TOTAL_SPENT, direction: DESC}]",
            ],
            Kind::Contact => &[
                "[{field: CREATED_AT, direction: ASC}]",
                "[{field: JOB_TITLE, direction: DESC}]",
                "[{field: LAST_NAME}]",
            ],
            Kind::Sale => &[
                "[{field: AMOUNT, direction: DESC}]",
                "[{field: SKU}, {field: SOLD_AT, direction: DESC}]",
            ],
            Kind::Interaction => &[
                "[{field: OCCURRED_AT, direction: ASC}]",
                "[{field: UPDATED_AT, direction: DESC}]",
            ],
        }
    }
    /// The rows its rows name (`Sale.customer`), and whether one may be `null`.
    fn to_one(self) -> &'static [(&'static str, Kind)] {
        match self {
            Kind::Customer => &[],
            Kind::Contact => &[("customer", Kind::Customer)],
            Kind::Sale | Kind::Interaction => {
                &[("customer", Kind::Customer), ("contact", Kind::Contact)]
            }
        }
    }
    /// A field the compiler does not cover (a filter on related rows), so the operation runs
    /// on the resolvers.
    fn uncovered(self) -> &'static str {
        match self {
            Kind::Customer => "contacts(filter: {sales: {amount: {gt: \"1\"}}}) { totalCount }",
            _ => "customer { contacts(filter: {sales: {amount: {gt: \"1\"}}}) { totalCount } }",
        }
    }
}

/// One generated operation under construction.
struct Operation<'a> {
    fragments: Vec<String>,
    variables: BTreeSet<&'static str>,
    cursors: &'a Cursors,
}

/// Cursors the resolvers issued, by kind and ordering (0: the default, n: `orders()[n - 1]`):
/// of the caller's tenant, and of the other.
struct Cursors {
    own: HashMap<(usize, usize), Vec<String>>,
    other: HashMap<(usize, usize), Vec<String>>,
}

/// Every cursor of every root list of a tenant, in every generated ordering, as the resolvers
/// issue them.
async fn cursors_of(app: &TestApp, token: &str) -> HashMap<(usize, usize), Vec<String>> {
    app.compiled_reads.set_enabled(false);
    let mut out = HashMap::new();
    for kind in [Kind::Customer, Kind::Contact, Kind::Sale, Kind::Interaction] {
        for ordering in 0..=kind.orders().len() {
            let order = match ordering {
                0 => String::new(),
                n => format!(", orderBy: {}", kind.orders()[n - 1]),
            };
            let query = format!(
                "{{ {}(first: 500{order}) {{ edges {{ cursor }} }} }}",
                kind.many()
            );
            let data = app.gql(token, &query, json!({})).await.ok();
            let cursors = data[kind.many()]["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|edge| edge["cursor"].as_str().expect("a cursor").to_owned())
                .collect();
            out.insert((kind as usize, ordering), cursors);
        }
    }
    app.compiled_reads.set_enabled(true);
    out
}

/// A list's arguments: mostly a page size; sometimes a filter or an ordering — on the row's
/// own columns (compiled), or by personal data, on a customer's stats or on related rows, or
/// invalid (each of which the resolvers answer, both runs).
fn arguments(rng: &mut Rng, op: &Operation, kind: Kind) -> String {
    let mut arguments = Vec::new();
    match rng.below(6) {
        0 => {}
        1 => arguments.push("first: 0"),
        2 => arguments.push("first: 1"),
        3 => arguments.push("first: 2"),
        4 => arguments.push("first: 3"),
        _ => arguments.push("first: 500"),
    }
    if rng.chance(15) {
        let filters: &[&str] = match kind {
            Kind::Customer => &[
                r#"{country: {eq: "FR"}}"#,
                r#"{name: {contains: "1"}}"#,
                r#"{country: {in: ["DE", "IT"]}, name: {ne: "Customer 0"}}"#,
                r#"{or: [{externalRef: {isNull: true}}, {acquisitionChannel: {eq: WEB}}]}"#,
                r#"{createdAt: {gteAgo: "P1D"}, and: [{name: {gte: "Customer 1"}}]}"#,
                r#"{registrationNumber: {isNull: false}}"#,
                r#"{stats: {salesCount: {gte: 1}}}"#,
                r#"{contacts: {email: {contains: "ann"}}}"#,
                r#"{createdAt: {gteAgo: "P1Q"}}"#,
            ],
            Kind::Contact => &[
                r#"{createdAt: {gte: "2020-01-01T00:00:00Z"}}"#,
                r#"{jobTitle: {isNull: true}}"#,
                r#"{jobTitle: {contains: "UY"}, or: [{externalRef: {isNull: true}}]}"#,
                r#"{email: {contains: "ann1"}}"#,
                r#"{sales: {amount: {gt: "1"}}}"#,
            ],
            Kind::Sale => &[
                r#"{amount: {gte: "10"}}"#,
                r#"{currency: {in: ["EUR", "KWD"]}}"#,
                r#"{soldAt: {lt: "2026-01-15T00:00:00Z"}, sku: {contains: "sku-1"}}"#,
                r#"{or: [{contactId: {isNull: true}}, {reference: {eq: "INV-1"}}]}"#,
                r#"{amount: {gt: "0.00001"}}"#,
            ],
            Kind::Interaction => &[
                r#"{occurredAt: {lt: "2100-01-01T00:00:00Z"}}"#,
                r#"{kind: {in: [CALL, WEB_VISIT]}}"#,
                r#"{summary: {isNull: false}}"#,
                r#"{contactId: {isNull: true}, subject: {contains: "pric"}}"#,
            ],
        };
        arguments.push(format!("filter: {}", rng.pick(filters)).leak());
    }
    // 0: the default ordering; n: `kind.orders()[n - 1]`.
    let mut ordering = 0;
    if rng.chance(15) {
        ordering = 1 + rng.below(kind.orders().len());
        arguments.push(format!("orderBy: {}", kind.orders()[ordering - 1]).leak());
    }
    if rng.chance(12) {
        // Mostly a cursor of this list's ordering; sometimes one of another ordering, of the
        // other tenant, or none at all — which the resolvers refuse.
        let pool = match rng.below(10) {
            0 => op
                .cursors
                .own
                .get(&(kind as usize, (ordering + 1) % (kind.orders().len() + 1))),
            1 => op.cursors.other.get(&(kind as usize, ordering)),
            _ => op.cursors.own.get(&(kind as usize, ordering)),
        };
        let cursor = match pool {
            Some(pool) if !pool.is_empty() && !rng.chance(10) => rng.pick(pool).clone(),
            _ => "bm90LWEtY3Vyc29y".to_owned(),
        };
        arguments.push(format!("after: \"{cursor}\"").leak());
    }
    if arguments.is_empty() {
        String::new()
    } else {
        format!("({})", arguments.join(", "))
    }
}

fn connection(rng: &mut Rng, op: &mut Operation, kind: Kind, depth: usize) -> String {
    let mut edges = format!("node {{ {} }}", selection(rng, op, kind, depth));
    if rng.chance(15) {
        edges = format!("__typename {edges}");
    }
    if rng.chance(15) {
        edges = format!("cursor {edges}");
    }
    let mut inner = format!("edges {{ {edges} }}");
    if rng.chance(10) {
        inner.push_str(" __typename");
    }
    if rng.chance(15) {
        inner.push_str(" totalCount");
    }
    if rng.chance(15) {
        let info = *rng.pick(&[
            "hasNextPage",
            "hasPreviousPage",
            "hasNextPage hasPreviousPage",
            "__typename hasNextPage",
            "endCursor hasNextPage",
            "startCursor endCursor",
        ]);
        inner.push_str(&format!(" pageInfo {{ {info} }}"));
    }
    inner
}

fn selection(rng: &mut Rng, op: &mut Operation, kind: Kind, depth: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    for _ in 0..1 + rng.below(5) {
        let field = *rng.pick(kind.scalars());
        parts.push(if rng.chance(15) {
            format!("f{}: {field}", rng.below(3))
        } else {
            field.to_owned()
        });
    }
    if kind == Kind::Customer && rng.chance(25) {
        let sub = *rng.pick(&[
            "line1",
            "line2",
            "postalCode",
            "city",
            "country",
            "__typename",
        ]);
        parts.push(format!("billingAddress {{ {sub} city }}"));
    }
    if kind == Kind::Customer && rng.chance(20) {
        parts.push(stats(rng));
    }
    if rng.chance(10) {
        parts.push("__typename".into());
    }
    // The rows a row names, each a level deeper, so that nesting stays bounded.
    if depth < 3 {
        for (name, target) in kind.to_one() {
            if rng.chance(15) {
                let body = selection(rng, op, *target, depth + 1);
                parts.push(format!("{name} {{ {body} }}"));
            }
        }
    }
    if depth < 2 {
        for (name, child) in kind.connections() {
            if rng.chance(30) {
                let alias = if rng.chance(20) { "more: " } else { "" };
                let body = connection(rng, op, *child, depth + 1);
                parts.push(format!(
                    "{alias}{name}{} {{ {body} }}",
                    arguments(rng, op, *child)
                ));
            }
        }
    }
    if depth < 2 && rng.chance(3) {
        parts.push(kind.uncovered().into());
    }
    // Directives, inline and named fragments around some of the parts.
    let mut out = Vec::new();
    for part in parts {
        let wrapped = match rng.below(12) {
            0 => {
                op.variables.insert("yes");
                format!("{part} @include(if: $yes)")
            }
            1 => {
                op.variables.insert("no");
                format!("{part} @skip(if: $no)")
            }
            2 => {
                op.variables.insert("yes");
                format!("{part} @skip(if: $yes)")
            }
            3 => format!("... on {} {{ {part} }}", kind.name()),
            4 => format!("... {{ {part} }}"),
            5 => {
                let name = format!("F{}", op.fragments.len());
                op.fragments
                    .push(format!("fragment {name} on {} {{ {part} }}", kind.name()));
                format!("...{name}")
            }
            _ => part,
        };
        out.push(wrapped);
    }
    out.join(" ")
}

/// `stats { … }`: some of its figures, amounts with some of their fields.
fn stats(rng: &mut Rng) -> String {
    let mut members = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let member = *rng.pick(&[
            "salesCount",
            "totalSpent",
            "spentLast12Months",
            "firstPurchaseAt",
            "lastPurchaseAt",
            "lastPurchaseAmount",
            "interactionsCount",
            "lastInteractionAt",
            "__typename",
        ]);
        let money = ["totalSpent", "spentLast12Months", "lastPurchaseAmount"].contains(&member);
        members.push(if money {
            let parts = *rng.pick(&["amount currency", "currency", "__typename amount"]);
            format!("{member} {{ {parts} }}")
        } else {
            member.to_owned()
        });
    }
    format!("stats {{ {} }}", members.join(" "))
}

/// The ids an operation may ask for by id: its tenant's, none, the other tenant's.
struct Ids {
    customers: Vec<Uuid>,
    contacts: Vec<Uuid>,
}

fn operation(rng: &mut Rng, ids: &Ids, other: &Ids, cursors: &Cursors) -> (String, Value) {
    let mut op = Operation {
        fragments: Vec::new(),
        variables: BTreeSet::new(),
        cursors,
    };
    let mut variables = json!({"yes": true, "no": false});
    let mut roots = Vec::new();
    for n in 0..1 + rng.below(2) {
        let alias = if n > 0 || rng.chance(15) {
            format!("r{n}: ")
        } else {
            String::new()
        };
        let root = match rng.below(7) {
            // Lists of every kind, customers most often.
            pick @ 0..=4 => {
                let kind = [
                    Kind::Customer,
                    Kind::Customer,
                    Kind::Contact,
                    Kind::Sale,
                    Kind::Interaction,
                ][pick];
                format!(
                    "{alias}{}{} {{ {} }}",
                    kind.many(),
                    arguments(rng, &op, kind),
                    connection(rng, &mut op, kind, kind.depth())
                )
            }
            // A row by id: the caller's, the other tenant's, or none.
            pick => {
                let kind = if pick == 5 {
                    Kind::Customer
                } else {
                    Kind::Contact
                };
                let pool = |ids: &Ids| match kind {
                    Kind::Customer => ids.customers.clone(),
                    _ => ids.contacts.clone(),
                };
                let id = match rng.below(5) {
                    0 => Uuid::now_v7(),
                    1 => *rng.pick(&pool(other)),
                    _ => *rng.pick(&pool(ids)),
                };
                let var = ["id0", "id1"][n];
                op.variables.insert(var);
                variables[var] = json!(id);
                format!(
                    "{alias}{}(id: ${var}) {{ {} }}",
                    kind.one(),
                    selection(rng, &mut op, kind, kind.depth())
                )
            }
        };
        roots.push(root);
    }
    if rng.chance(5) {
        roots.push("__typename".into());
    }
    let declared: Vec<String> = op
        .variables
        .iter()
        .map(|v| match *v {
            "yes" | "no" => format!("${v}: Boolean!"),
            other => format!("${other}: UUID!"),
        })
        .collect();
    let header = if declared.is_empty() {
        "query Generated".to_owned()
    } else {
        format!("query Generated({})", declared.join(", "))
    };
    let used: serde_json::Map<String, Value> = variables
        .as_object()
        .expect("variables")
        .iter()
        .filter(|(k, _)| op.variables.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let query = format!(
        "{header} {{ {} }} {}",
        roots.join(" "),
        op.fragments.join(" ")
    );
    (query, Value::Object(used))
}

/// The same shapes in a tenant: customers (one without an address, one with a partial one),
/// people (one without a birthday), sales in currencies of 0, 2 and 3 decimal places, at
/// whole seconds and not, and interactions with and without a person.
async fn world(app: &TestApp, token: &str) -> Ids {
    let mut customers = Vec::new();
    let mut contacts = Vec::new();
    let channels = ["WEB", "REFERRAL", "PARTNER"];
    for c in 0..4 {
        let address = match c {
            0 => json!(null),
            1 => json!({"city": "Lyon"}),
            _ => {
                json!({"line1": format!("{c} rue de la Paix"), "postalCode": "75002", "city": "Paris", "country": "FR"})
            }
        };
        let data = app
            .gql(
                token,
                "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                json!({"i": {
                    "name": format!("Customer {c}"),
                    "country": if c == 3 { "DE" } else { "FR" },
                    "billingAddress": address,
                    "acquisitionChannel": if c == 2 { Value::Null } else { json!(channels[c % 3]) },
                    // Text that looks like the compiler's hidden members, quotes and backslashes
                    // included: the scans of its JSON must leave it alone.
                    "externalRef": if c % 2 == 0 {
                        json!(format!(r##"CRM-{c} "#0" : "x"}} {{"#c0": [1]}}, "#l0": [[]], {{"#resolvers": 1}} \"##))
                    } else {
                        Value::Null
                    },
                }}),
            )
            .await
            .ok();
        let customer = uuid(&data["createCustomer"]["id"]);
        customers.push(customer);
        if c == 3 {
            continue; // a customer with nothing under it
        }
        for p in 0..2 {
            let data = app
                .gql(
                    token,
                    "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }",
                    json!({"i": {
                        "customerId": customer,
                        "firstName": format!("Ann{c}{p}"),
                        "lastName": if p == 0 { json!("Lovelace") } else { Value::Null },
                        "email": format!("ann{c}{p}@example.com"),
                        "phone": if p == 0 { json!("+33612345678") } else { Value::Null },
                        "birthday": if p == 0 { json!("1990-02-03") } else { Value::Null },
                        "jobTitle": if p == 1 { json!("Buyer") } else { Value::Null },
                    }}),
                )
                .await
                .ok();
            contacts.push(uuid(&data["createContact"]["id"]));
        }
        let person = contacts[contacts.len() - 2];
        for (s, (amount, currency, at)) in [
            ("19.99", "EUR", "2026-01-02T03:04:05Z"),
            ("0.5", "EUR", "2026-02-02T03:04:05.123Z"),
            ("1500", "JPY", "2026-03-02T03:04:05.123456Z"),
            ("12.345", "KWD", "2025-03-02T03:04:05Z"),
            ("1000000", "USD", "2025-03-02T03:04:05Z"),
        ]
        .into_iter()
        .enumerate()
        {
            app.gql(
                token,
                "mutation($i: CreateSaleInput!) { createSale(input: $i) { id } }",
                json!({"i": {
                    "customerId": customer,
                    "contactId": if s % 2 == 0 { json!(person) } else { Value::Null },
                    "sku": format!("SKU-{s}"),
                    "amount": amount,
                    "currency": currency,
                    "soldAt": at,
                    "quantity": s + 1,
                    "reference": if s == 1 { json!("INV-1") } else { Value::Null },
                }}),
            )
            .await
            .ok();
        }
        for (i, kind) in ["WEB_VISIT", "EMAIL_OPENED", "CALL"]
            .into_iter()
            .enumerate()
        {
            app.gql(
                token,
                "mutation($i: CreateInteractionInput!) { createInteraction(input: $i) { id } }",
                json!({"i": {
                    "customerId": customer,
                    "contactId": if i == 2 { json!(person) } else { Value::Null },
                    "kind": kind,
                    "occurredAt": format!("2026-0{}-01T10:00:00Z", i + 1),
                    "summary": if i == 2 { json!("Asked about prices") } else { Value::Null },
                    "subject": if i == 0 { json!("/pricing") } else { Value::Null },
                }}),
            )
            .await
            .ok();
        }
    }
    Ids {
        customers,
        contacts,
    }
}

/// The raw response body of `query` sent with a request id the audit log keeps.
async fn send(app: &TestApp, token: &str, query: &str, variables: &Value, id: &str) -> String {
    app.client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(token)
        .header("x-request-id", id)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body")
}

/// A response as compared: its data as a JSON value (key order aside: the resolvers put a
/// query's root fields in the order of the schema's merged query types rather than always as
/// selected; the compiler keeps the selection's order, which `protocol.rs` checks on both
/// paths it can), and its errors — which only the resolvers report, resolving fields
/// concurrently, so in any order — as a sorted set.
/// Cursors are sealed with a random nonce, so each is compared by what it holds: the ordering
/// and the position, opened with the server's key.
fn comparable(body: &str, tenant: Uuid) -> String {
    let mut parsed: Value =
        serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.into()));
    open_cursors(&mut parsed, tenant);
    let mut errors: Vec<String> = parsed["errors"]
        .as_array()
        .map(|errors| errors.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    errors.sort();
    format!("data: {}\nerrors: {}", parsed["data"], errors.join("\n"))
}

fn open_cursors(value: &mut Value, tenant: Uuid) {
    static KEY: std::sync::LazyLock<api::graphql::page::CursorKey> =
        std::sync::LazyLock::new(|| api::graphql::page::CursorKey::derive(SECRET.as_bytes()));
    match value {
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                match (name.as_str(), &member) {
                    ("cursor" | "startCursor" | "endCursor", Value::String(cursor)) => {
                        *member = match KEY.open(tenant, cursor) {
                            Ok((ordering, position)) => {
                                json!({"ordering": ordering, "position": format!("{position:?}")})
                            }
                            Err(_) => json!("a cursor that does not open"),
                        };
                    }
                    _ => open_cursors(member, tenant),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| open_cursors(item, tenant)),
        _ => {}
    }
}

/// Each request's audit events as comparable text: entity, outcome, fields and ids (sorted).
async fn events_by_request(app: &TestApp) -> std::collections::HashMap<String, Vec<String>> {
    let rows = app
        .admin_strings(
            "SELECT caller_request_id || '|' || entity || '|' || outcome || '|' || action || '|' \
             || CAST(fields AS TEXT) || '|' || CAST(entity_ids AS TEXT) FROM audit_events \
             WHERE caller_request_id LIKE 'diff-%'",
        )
        .await;
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    for row in rows {
        let mut parts = row.splitn(6, '|');
        let request = parts.next().unwrap_or_default();
        let (op, _) = request.rsplit_once('-').unwrap_or((request, ""));
        let head: Vec<&str> = parts.by_ref().take(3).collect();
        let sorted = |text: &str| {
            let mut items: Vec<String> = serde_json::from_str::<Vec<Value>>(text)
                .unwrap_or_default()
                .iter()
                .map(|v| v.to_string())
                .collect();
            items.sort();
            items.join(",")
        };
        let fields = sorted(parts.next().unwrap_or_default());
        let ids = sorted(parts.next().unwrap_or_default());
        out.entry(format!("{op}|{}", request.ends_with("-c")))
            .or_default()
            .push(format!("{}|{fields}|{ids}", head.join("|")));
    }
    for events in out.values_mut() {
        events.sort();
    }
    out
}

async fn compiled_reads_answer_as_the_resolvers_do(backend: Backend) {
    // Thousands of requests in a few seconds: above any tenant's budget.
    let app = spawn_app_with(backend, |config| {
        config.tenant_rate = 1_000_000;
        config.tenant_burst = 1_000_000;
    })
    .await;
    let a = world(&app, &app.agent_a()).await;
    let b = world(&app, &app.agent_b()).await;
    let tokens = [
        app.agent_a(),
        app.token_with(app.a.id, "agent", "customers:read contacts:read sales:read"),
        app.token_with(app.a.id, "agent", "customers:read"),
        app.agent_b(),
    ];
    let (cursors_a, cursors_b) = (
        cursors_of(&app, &app.agent_a()).await,
        cursors_of(&app, &app.agent_b()).await,
    );
    let of_a = Cursors {
        own: cursors_a.clone(),
        other: cursors_b.clone(),
    };
    let of_b = Cursors {
        own: cursors_b,
        other: cursors_a,
    };
    let mut rng = Rng(0x5eed_0000_0000_0001 ^ backend as u64);
    let mut generated = Vec::with_capacity(OPERATIONS);
    for n in 0..OPERATIONS {
        let caller = rng.below(tokens.len());
        let (ids, other, cursors) = if caller == 3 {
            (&b, &a, &of_b)
        } else {
            (&a, &b, &of_a)
        };
        let (query, variables) = operation(&mut rng, ids, other, cursors);
        generated.push((n, caller, query, variables));
    }
    let tenant = |caller: usize| if caller == 3 { app.b.id } else { app.a.id };
    let (compiled_before, _) = app.compiled_reads.counts();
    let mut answers = Vec::with_capacity(OPERATIONS);
    app.compiled_reads.set_enabled(true);
    for (n, caller, query, variables) in &generated {
        answers.push(
            send(
                &app,
                &tokens[*caller],
                query,
                variables,
                &format!("diff-{n}-c"),
            )
            .await,
        );
    }
    let (compiled_after, _) = app.compiled_reads.counts();
    app.compiled_reads.set_enabled(false);
    for ((n, caller, query, variables), compiled) in generated.iter().zip(&answers) {
        let resolved = send(
            &app,
            &tokens[*caller],
            query,
            variables,
            &format!("diff-{n}-r"),
        )
        .await;
        assert_eq!(
            comparable(compiled, tenant(*caller)),
            comparable(&resolved, tenant(*caller)),
            "operation {n} answers differently compiled (left) and on the resolvers (right):\n{query}\nvariables: {variables}"
        );
    }
    let (compiled_at_end, _) = app.compiled_reads.counts();
    assert_eq!(
        compiled_at_end, compiled_after,
        "switched off, nothing compiles"
    );
    let compiled = (compiled_after - compiled_before) as usize;
    // A quarter of the callers lack a relation's scope and a quarter `pii:read`, and some
    // operations select what is not compiled (lookups by personal data, stats filters…):
    // those run on the resolvers.
    assert!(
        compiled * 10 > OPERATIONS * 3,
        "30 % or more of the generated operations compile: {compiled} of {OPERATIONS}"
    );
    let events = events_by_request(&app).await;
    let mut audited = 0;
    for (n, ..) in &generated {
        let of = |compiled: bool| events.get(&format!("diff-{n}|{compiled}")).cloned();
        if of(true).is_some() {
            audited += 1;
        }
        assert_eq!(
            of(true),
            of(false),
            "operation {n} leaves different audit events:\n{}",
            generated[*n].2
        );
    }
    assert!(
        audited > OPERATIONS / 10,
        "personal reads were generated: {audited}"
    );
}

on_both_backends!(compiled_reads_answer_as_the_resolvers_do);

/// The benchmark's own queries and the README's example compile, and the metric counts them.
async fn the_benchmark_queries_compile(backend: Backend) {
    let app = spawn_app(backend).await;
    let ids = world(&app, &app.agent_a()).await;
    let q1 = include_str!("../../bench/queries/q1.graphql");
    let q1_nopii = include_str!("../../bench/queries/q1_nopii.graphql");
    let q2 = include_str!("../../bench/queries/q2.graphql");
    let (before, fallback_before) = app.compiled_reads.counts();
    for (query, variables) in [
        (q1, json!({})),
        (q1_nopii, json!({})),
        (q2, json!({"id": ids.customers[0]})),
    ] {
        let data = app.gql(&app.agent_a(), query, variables).await.ok();
        assert!(!data.as_object().expect("data").is_empty());
    }
    // The README's own example (its quick start): customers with their stats and people.
    let readme = include_str!("../../README.md");
    let example = readme
        .lines()
        .find_map(|line| line.trim().strip_prefix("-d '")?.strip_suffix('\''))
        .expect("the README's curl example");
    let example: Value = serde_json::from_str(example).expect("its body is JSON");
    let query = example["query"].as_str().expect("a query");
    let data = app.gql(&app.agent_a(), query, json!({})).await.ok();
    let node = &data["customers"]["edges"][0]["node"];
    assert_eq!(
        node["stats"]["totalSpent"],
        json!([
            {"amount": "20.49", "currency": "EUR"},
            {"amount": "1500", "currency": "JPY"},
            {"amount": "12.345", "currency": "KWD"},
            {"amount": "1000000.00", "currency": "USD"},
        ]),
        "{data}"
    );
    assert_eq!(
        node["contacts"]["edges"][0]["node"]["email"],
        json!("ann00@example.com")
    );
    let (after, fallback_after) = app.compiled_reads.counts();
    assert_eq!((after - before, fallback_after - fallback_before), (4, 0));
    // A document of several operations runs the one the request names, compiled.
    let body: Value = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(app.agent_a())
        .json(&json!({
            "query": "query A { customers(first: 1) { edges { node { id } } } } \
                      query B { contacts(first: 1) { edges { node { id } } } } query C($p: UUID!) { contact(id: $p) { firstName } }",
            "operationName": "C",
            "variables": {"p": ids.contacts[0]},
        }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        body["data"]["contact"]["firstName"],
        json!("Ann00"),
        "{body}"
    );
    let (named, _) = app.compiled_reads.counts();
    assert_eq!(named, after + 1, "the named operation compiled");
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains(&format!(
            "dossier_graphql_operations_total{{executor=\"compiled\"}} {named}"
        )),
        "{metrics}"
    );
}

on_both_backends!(the_benchmark_queries_compile);

/// `DOSSIER_COMPILED_READS=false` runs every operation on the resolvers.
async fn compiled_reads_can_be_turned_off(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.compiled_reads = false).await;
    app.customer(&app.agent_a(), "Acme").await;
    let q1 = include_str!("../../bench/queries/q1.graphql");
    let data = app.gql(&app.agent_a(), q1, json!({})).await.ok();
    assert_eq!(data["customers"]["edges"][0]["node"]["name"], json!("Acme"));
    let (compiled, fallback) = app.compiled_reads.counts();
    assert_eq!(compiled, 0);
    assert!(fallback >= 1, "{fallback}");
}

on_both_backends!(compiled_reads_can_be_turned_off);

/// A sum beyond 64 bits (as kept: `high · 2^32 + low`) shows exactly: compiled on PostgreSQL
/// (`numeric`), and on SQLite, whose integers cannot hold it, answered by the resolvers.
async fn sums_beyond_64_bits_show_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let ids = world(&app, &app.agent_a()).await;
    // Not a real spend: 2^40 · 2^32 + 5 ten-thousandths of a yen.
    app.fold_customer_stats().await;
    app.admin_exec(&format!(
        "UPDATE customer_totals SET total_high = 1099511627776, total_low = 5 \
         WHERE customer_id = {} AND currency = 'JPY'",
        app.uuid_literal(ids.customers[0])
    ))
    .await
    .expect("updated");
    let query =
        "query($id: UUID!) { customer(id: $id) { stats { totalSpent { amount currency } } } }";
    let variables = json!({"id": ids.customers[0]});
    let (compiled_before, fallback_before) = app.compiled_reads.counts();
    let data = app.gql(&app.agent_a(), query, variables.clone()).await.ok();
    let (compiled_after, fallback_after) = app.compiled_reads.counts();
    let jpy = json!({"amount": "472236648286964521.3701", "currency": "JPY"});
    let spent = data["customer"]["stats"]["totalSpent"].clone();
    assert!(
        spent.as_array().is_some_and(|s| s.contains(&jpy)),
        "{spent}"
    );
    let ran = (
        compiled_after - compiled_before,
        fallback_after - fallback_before,
    );
    match backend {
        Backend::Postgres => assert_eq!(ran, (1, 0), "compiled"),
        Backend::Sqlite => assert_eq!(ran, (0, 1), "answered by the resolvers"),
    }
    app.compiled_reads.set_enabled(false);
    let resolved = app.gql(&app.agent_a(), query, variables).await.ok();
    assert_eq!(data, resolved);
}

on_both_backends!(sums_beyond_64_bits_show_exactly);

/// A count by personal data names everyone it counts, so it counts at most 10,000 people: past
/// that, the compiled statement hands the operation to the resolvers, which refuse it as
/// they always do, and nobody counted is noted as read.
async fn a_count_by_personal_data_past_its_cap_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer = app.customer(&app.agent_a(), "Acme").await;
    let (tenant, customer) = (app.uuid_literal(app.a.id), app.uuid_literal(customer));
    let at = app.timestamp_literal("2026-01-01T00:00:00Z");
    let columns = "tenant_id, id, customer_id, email, created_at, updated_at";
    let bulk = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001) \
             INSERT INTO contacts ({columns}) SELECT {tenant}, randomblob(16), {customer}, \
             'bulk' || i || '@example.com', {at}, {at} FROM n"
        ),
        Backend::Postgres => format!(
            "INSERT INTO contacts ({columns}) SELECT {tenant}, gen_random_uuid(), {customer}, \
             'bulk' || i || '@example.com', {at}, {at} FROM generate_series(1, 10001) AS i"
        ),
    };
    app.admin_exec(&bulk).await.expect("10,001 people");
    let query = r#"{ contacts(first: 1, filter: {email: {contains: "bulk"}}) { totalCount } }"#;
    let (compiled_before, fallback_before) = app.compiled_reads.counts();
    let answer = app.gql(&app.agent_a(), query, json!({})).await;
    assert_eq!(
        answer.codes(),
        vec!["BAD_USER_INPUT".to_owned()],
        "{:?}",
        answer.errors()
    );
    let (compiled_after, fallback_after) = app.compiled_reads.counts();
    assert_eq!(
        (
            compiled_after - compiled_before,
            fallback_after - fallback_before
        ),
        (0, 1),
        "answered by the resolvers"
    );
    let noted = app
        .admin_strings(&format!(
            "SELECT CAST(entity_ids AS TEXT) FROM audit_events WHERE tenant_id = {tenant} \
             AND entity = 'Contact' AND action = 'READ'"
        ))
        .await;
    assert_eq!(noted.len(), 1, "{noted:?}");
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&noted[0]).expect("ids"),
        Vec::<Value>::new(),
        "nobody counted is noted"
    );
}

on_both_backends!(a_count_by_personal_data_past_its_cap_is_refused);

/// What the compiler cannot answer as the resolvers do goes to them, and the answer is theirs:
/// a directive's variable left out (async-graphql skips by the variables sent, its default
/// aside), more members than the database's JSON object functions take, filters too large
/// to bind in one statement, and a nested list counted by personal data.
async fn what_cannot_compile_is_answered_by_the_resolvers(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, &app.agent_a()).await;
    let many: Vec<String> = (0..49).map(|n| format!("f{n}: id")).collect();
    let values: Vec<String> = (0..500).map(|n| format!("\"Customer {n}\"")).collect();
    let or: Vec<String> = (0..16)
        .map(|_| {
            let values = values.join(", ");
            format!(
                "{{name: {{in: [{values}]}}, externalRef: {{in: [{values}]}}, \
                 and: [{{name: {{in: [{values}]}}}}, {{externalRef: {{in: [{values}]}}}}]}}"
            )
        })
        .collect();
    for query in [
        "query($show: Boolean = true) { contacts { edges { node { id email @include(if: $show) } } } }"
            .to_owned(),
        "query($hide: Boolean = true) { contacts { edges { node { id email @skip(if: $hide) } } } }"
            .to_owned(),
        format!("{{ customers(first: 2) {{ edges {{ node {{ {} }} }} }} }}", many.join(" ")),
        // Counted by personal data under each parent: the resolvers cap all parents together.
        r#"{ customers { edges { node { contacts(filter: {email: {contains: "ann"}}) { totalCount } } } } }"#
            .to_owned(),
        // A list's filter is bound once in its statement: here 32,000 values.
        format!(
            "{{ customers(filter: {{or: [{}]}}) {{ totalCount edges {{ cursor node {{ id }} }} \
             pageInfo {{ hasNextPage startCursor endCursor }} }} }}",
            or.join(", ")
        ),
    ] {
        app.compiled_reads.set_enabled(true);
        let (compiled_before, fallback_before) = app.compiled_reads.counts();
        let compiled = app.gql(&app.agent_a(), &query, json!({})).await.ok();
        let (compiled_after, fallback_after) = app.compiled_reads.counts();
        assert_eq!(
            (compiled_after - compiled_before, fallback_after - fallback_before),
            (0, 1),
            "answered by the resolvers: {}",
            &query[..query.len().min(200)]
        );
        app.compiled_reads.set_enabled(false);
        let resolved = app.gql(&app.agent_a(), &query, json!({})).await.ok();
        assert_eq!(
            comparable(&compiled.to_string(), app.a.id),
            comparable(&resolved.to_string(), app.a.id)
        );
        assert!(!compiled.as_object().expect("data").is_empty());
    }
}

on_both_backends!(what_cannot_compile_is_answered_by_the_resolvers);

/// A point in time someone gives is in the years RFC 3339 writes (0001 to 9999): a sale in
/// the year 10000 is a typo, and one the database and every client would show differently.
async fn points_in_time_are_in_years_one_to_9999(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer = app.customer(&app.agent_a(), "Acme").await;
    for at in [
        "+10000-01-01T00:00:00Z",
        "-0001-01-01T00:00:00Z",
        "0000-12-31T00:00:00Z",
    ] {
        let answer = app
            .gql(
                &app.agent_a(),
                "mutation($i: CreateSaleInput!) { createSale(input: $i) { id } }",
                json!({"i": {"customerId": customer, "sku": "S", "amount": "1", "currency": "EUR", "soldAt": at}}),
            )
            .await;
        assert_eq!(
            answer.codes(),
            vec!["BAD_USER_INPUT".to_owned()],
            "{at}: {:?}",
            answer.errors()
        );
    }
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM sales").await,
        0,
        "nothing written"
    );
    // The same bound on every path that writes one: updates, and interactions.
    let sale = app
        .gql(
            &app.agent_a(),
            "mutation($i: CreateSaleInput!) { createSale(input: $i) { id } }",
            json!({"i": {"customerId": customer, "sku": "S", "amount": "1", "currency": "EUR"}}),
        )
        .await
        .ok()["createSale"]["id"]
        .clone();
    let interaction = app
        .gql(
            &app.agent_a(),
            "mutation($i: CreateInteractionInput!) { createInteraction(input: $i) { id } }",
            json!({"i": {"customerId": customer, "kind": "CALL"}}),
        )
        .await
        .ok()["createInteraction"]["id"]
        .clone();
    let at = "+10000-01-01T00:00:00Z";
    for (mutation, variables) in [
        (
            "mutation($id: UUID!, $i: UpdateSaleInput!) { updateSale(id: $id, input: $i) { id } }",
            json!({"id": sale, "i": {"soldAt": at}}),
        ),
        (
            "mutation($i: CreateInteractionInput!) { createInteraction(input: $i) { id } }",
            json!({"i": {"customerId": customer, "kind": "CALL", "occurredAt": at}}),
        ),
        (
            "mutation($id: UUID!, $i: UpdateInteractionInput!) { updateInteraction(id: $id, input: $i) { id } }",
            json!({"id": interaction, "i": {"occurredAt": at}}),
        ),
    ] {
        let answer = app.gql(&app.agent_a(), mutation, variables).await;
        assert_eq!(
            answer.codes(),
            vec!["BAD_USER_INPUT".to_owned()],
            "{mutation}: {:?}",
            answer.errors()
        );
    }
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM interactions").await,
        1,
        "no interaction written"
    );
    let kept = app
        .gql(
            &app.agent_a(),
            "query($s: UUID!, $i: UUID!) { sale(id: $s) { soldAt } interaction(id: $i) { occurredAt } }",
            json!({"s": sale, "i": interaction}),
        )
        .await
        .ok();
    for at in [&kept["sale"]["soldAt"], &kept["interaction"]["occurredAt"]] {
        assert!(
            at.as_str().is_some_and(|t| t.starts_with("20")),
            "unchanged: {kept}"
        );
    }
}

on_both_backends!(points_in_time_are_in_years_one_to_9999);

/// A `totalCount` skipped by a directive is not counted, on either path (async-graphql
/// removes skipped fields before the resolvers look ahead): a lookup by personal data notes
/// the page and the row past it, and with the count every person counted.
async fn a_skipped_count_is_noted_as_the_resolvers_note_it(backend: Backend) {
    let app = spawn_app(backend).await;
    world(&app, &app.agent_a()).await;
    for (skip, people) in [("@skip(if: true)", 2), ("@skip(if: false)", 6)] {
        let query = format!(
            r#"query {{ contacts(first: 1, filter: {{email: {{contains: "ann"}}}}) {{ totalCount {skip} edges {{ node {{ id }} }} }} }}"#
        );
        let mut noted = Vec::new();
        for compiled in [true, false] {
            app.compiled_reads.set_enabled(compiled);
            let id = format!("count-{people}-{compiled}");
            send(&app, &app.agent_a(), &query, &json!({}), &id).await;
            let events = app
                .admin_strings(&format!(
                    "SELECT CAST(entity_ids AS TEXT) FROM audit_events WHERE caller_request_id = '{id}'"
                ))
                .await;
            noted.push(
                events
                    .iter()
                    .map(|ids| serde_json::from_str::<Vec<Value>>(ids).expect("ids").len())
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(
            noted,
            vec![vec![people]; 2],
            "{skip}: compiled, then resolvers"
        );
    }
}

on_both_backends!(a_skipped_count_is_noted_as_the_resolvers_note_it);

/// Every amount a row can hold shows the same compiled and on the resolvers, including the
/// ones the API refuses but an import or an operator can store: a negative amount, more
/// places than the currency has, the largest and the smallest `bigint`. Each is read the
/// three ways a statement writes an amount: the sale's row, its customer's sum (wide, on
/// PostgreSQL), and the customer's last purchase.
async fn stored_amounts_show_alike_compiled_and_resolved(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let stored: [(i64, &str, &str); 15] = [
        (0, "EUR", "0.00"),
        (5, "EUR", "0.0005"),
        (50, "EUR", "0.005"),
        (5_000, "EUR", "0.50"),
        (199_000, "EUR", "19.90"),
        (-5, "EUR", "-0.0005"),
        (-199_000, "EUR", "-19.90"),
        (19_900_000, "JPY", "1990"),
        (12_345, "JPY", "1.2345"),
        (10_000, "KWD", "1.000"),
        (123_450, "KWD", "12.345"),
        (10_000, "CLF", "1.0000"),
        (9_223_372_036_854_775_807, "EUR", "922337203685477.5807"),
        (-9_223_372_036_854_770_000, "USD", "-922337203685477.00"),
        (i64::MIN, "EUR", "-922337203685477.5808"),
    ];
    for (n, (scaled, currency, _)) in stored.iter().enumerate() {
        let customer = app.customer(&token, &format!("C{n:02}")).await;
        let sale = app
            .sale(&token, customer, "1", "2026-01-02T03:04:05Z")
            .await;
        app.admin_exec(&format!(
            "UPDATE sales SET amount_scaled = {scaled}, currency = '{currency}' WHERE id = {}",
            app.uuid_literal(sale)
        ))
        .await
        .expect("stored");
    }
    let shown = |money: &Value| {
        (
            money["amount"].as_str().expect("amount").to_owned(),
            money["currency"].as_str().expect("currency").to_owned(),
        )
    };
    let expected: Vec<(String, String)> = stored
        .iter()
        .map(|(_, currency, amount)| (amount.to_string(), currency.to_string()))
        .collect();
    // The row and the last purchase are compiled on both backends. A sum past 64 bits' halves
    // is SQLite's resolvers' to answer (`sums_beyond_64_bits_show_exactly`): there the
    // extremes hand the whole operation to them.
    let rows = "{ customers(first: 50, orderBy: [{field: NAME}]) { edges { node { \
                sales(first: 1) { edges { node { amount currency } } } \
                stats { lastPurchaseAmount { amount currency } } } } } }";
    let sums = "{ customers(first: 50, orderBy: [{field: NAME}]) { edges { node { \
                stats { totalSpent { amount currency } } } } } }";
    for (query, compiled_on_sqlite) in [(rows, true), (sums, false)] {
        app.compiled_reads.set_enabled(true);
        let (compiled_before, _) = app.compiled_reads.counts();
        let compiled = app.gql(&token, query, json!({})).await.ok();
        let ran_compiled = app.compiled_reads.counts().0 - compiled_before;
        let expected_compiled = backend == Backend::Postgres || compiled_on_sqlite;
        assert_eq!(ran_compiled, u64::from(expected_compiled), "{query}");
        let customers = compiled["customers"]["edges"]
            .as_array()
            .expect("customers");
        let read: Vec<(String, String)> = customers
            .iter()
            .map(|edge| {
                let node = &edge["node"];
                if query == rows {
                    assert_eq!(
                        shown(&node["stats"]["lastPurchaseAmount"]),
                        shown(&node["sales"]["edges"][0]["node"]),
                        "the last purchase is the sale"
                    );
                    shown(&node["sales"]["edges"][0]["node"])
                } else {
                    let sums = node["stats"]["totalSpent"].as_array().expect("sums");
                    assert_eq!(sums.len(), 1, "one currency");
                    shown(&sums[0])
                }
            })
            .collect();
        assert_eq!(read, expected, "{query}");
        app.compiled_reads.set_enabled(false);
        let resolved = app.gql(&token, query, json!({})).await.ok();
        assert_eq!(compiled, resolved, "{query}");
    }
}

on_both_backends!(stored_amounts_show_alike_compiled_and_resolved);
