//! The GraphQL API: schema assembly (no I/O) and [`execute`], the one path a request takes
//! from a verified principal to a response — transaction, resolvers, read audit, commit.

pub mod audit_log;
pub mod compliance;
pub mod consent;
pub mod contact;
pub mod context;
pub mod customer;
pub mod customer_stats;
pub mod engine;
pub mod filter;
pub mod identity;
pub mod interaction;
pub mod loaders;
pub mod me;
pub mod page;
pub mod register;
pub mod sale;
pub mod scalars;
pub mod segment;

use std::borrow::Borrow;
use std::sync::Arc;

use async_graphql::{EmptySubscription, Enum, MaybeUndefined, MergedObject, Schema, ServerError};
use sea_orm::sea_query::Order;
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::audit::{self, NewEvent};
use crate::auth::{Principal, Scope as AuthScope};
use crate::error::{ApiError, ApiResult, Code};
use crate::graphql::context::RequestContext;
use crate::metrics::Phase;
use crate::tenancy::{self, OpenError, Scoped};

/// Marks a field whose value is personal data (GDPR Art. 4(1)): reading it needs
/// `pii:read` and is recorded in the audit log.
#[async_graphql::TypeDirective(location = "FieldDefinition", name = "personalData")]
pub fn personal_data() {}

#[derive(MergedObject, Default)]
pub struct Query(
    me::MeQuery,
    engine::root::EngineQuery,
    engine::search::SearchQuery,
    audit_log::AuditQuery,
    compliance::ComplianceQuery,
    register::RegisterQuery,
    identity::IdentityProviderQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    engine::root::EngineMutation,
    consent::ConsentMutation,
    compliance::ComplianceMutation,
    register::RegisterMutation,
    identity::IdentityProviderMutation,
);

pub type DossierSchema = Schema<Query, Mutation, EmptySubscription>;

/// The entities the engine serves, in the order the schema shows their root fields.
pub fn entities() -> &'static engine::Entities {
    static ENTITIES: std::sync::LazyLock<engine::Entities> = std::sync::LazyLock::new(|| {
        use engine::root::Root;
        vec![
            Root::<entity::customer::Entity>::entity(),
            Root::<entity::contact::Entity>::entity(),
            Root::<entity::sale::Entity>::entity(),
            Root::<entity::interaction::Entity>::entity(),
            Root::<entity::segment::Entity>::entity(),
        ]
    });
    &ENTITIES
}

/// What a field that reads a tenant's whole audit log costs in query complexity (chain
/// verification, audit export): a handful per operation at most.
pub const WHOLE_LOG_COST: usize = 50_000;

/// What a document built from many tables costs (subject export, register of processing).
pub const DOCUMENT_COST: usize = 5_000;

/// Query limits, DESIGN §7.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub depth: usize,
    pub complexity: usize,
    pub directives: usize,
    /// Root fields per operation, aliases included.
    pub root_fields: usize,
    /// `totalCount`s per operation.
    pub counts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            depth: 12,
            complexity: 250_000,
            directives: 4,
            root_fields: 20,
            counts: 10,
        }
    }
}

pub fn build_schema(limits: Limits) -> DossierSchema {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .limit_directives(limits.directives)
        .limit_recursive_depth(32)
        .disable_suggestions()
        .extension(engine::compile::Compiler)
        .finish()
}

/// How deep an introspection-only operation may nest: graphql-js's standard introspection
/// query reaches 13 with its nine levels of `ofType`.
pub const INTROSPECTION_DEPTH: usize = 20;

/// The same schema, for operations that only introspect it (see `execute`): deeper, and
/// the other limits unchanged.
pub fn build_introspection(limits: Limits) -> DossierSchema {
    build_schema(Limits {
        depth: INTROSPECTION_DEPTH.max(limits.depth),
        ..limits
    })
}

/// The SDL as committed in `schema.graphql`.
pub fn sdl(schema: &DossierSchema) -> String {
    schema.sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

/// The scoped handle for a mutation that returns a row: it needs `write`, and the row it
/// returns resolves under `read`, as a query's would (DESIGN §4: write scopes do not imply
/// read). A caller without `read` may ask back only the row's `id`; a selection of anything
/// more (fragments included) is refused before anything is written.
pub(crate) fn writer<'a>(
    ctx: &async_graphql::Context<'a>,
    write: AuthScope,
    read: AuthScope,
) -> ApiResult<&'a tenancy::TenantHandle> {
    let rc = RequestContext::of(ctx);
    let scope = rc.scope_for(write)?;
    if !rc.principal.has(read)
        && ctx
            .field()
            .selection_set()
            .any(|field| !matches!(field.name(), "id" | "__typename"))
    {
        return Err(ApiError::Forbidden(format!(
            "returning the row needs the scope `{}`: without it, ask back only its `id`",
            read.as_str()
        )));
    }
    Ok(scope)
}

/// Refuses an update that names no field: it would change nothing but `updatedAt`, which
/// would reset the retention clock of a row nobody touched.
pub(crate) fn some_change(changed: &[&str]) -> ApiResult<()> {
    if changed.is_empty() {
        return Err(ApiError::BadUserInput(
            "input: name at least one field to change".into(),
        ));
    }
    Ok(())
}

/// Appends one write's audit event inside the write's savepoint.
pub(crate) async fn record<C: Borrow<DatabaseTransaction>>(
    tx: &Scoped<C>,
    rc: &RequestContext,
    event: NewEvent,
) -> ApiResult<()> {
    audit::append(tx, &rc.actor(), vec![event])
        .await
        .map_err(audit::unavailable)
}

/// Parsed query documents by query text. Clients send the same few queries over and over,
/// and parsing one costs about as much as serialising its answer; a clone of the parsed
/// document is much cheaper. Bounded in entries and query size, so a client sending ever new
/// queries only stops new ones being cached.
#[derive(Default)]
pub struct ParsedQueries {
    documents: std::sync::RwLock<
        std::collections::HashMap<String, async_graphql::parser::types::ExecutableDocument>,
    >,
}

impl ParsedQueries {
    const MAX_ENTRIES: usize = 256;
    const MAX_QUERY_BYTES: usize = 16 * 1024;

    /// Gives `request` its parsed document, from the cache when the same text was seen.
    pub fn parse(&self, request: &mut async_graphql::Request) -> Result<(), ServerError> {
        let cached = self
            .documents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&request.query)
            .cloned();
        if let Some(document) = cached {
            request.set_parsed_query(document);
            return Ok(());
        }
        let document = request.parsed_query()?.clone();
        if request.query.len() <= Self::MAX_QUERY_BYTES {
            let mut documents = self.documents.write().unwrap_or_else(|e| e.into_inner());
            if documents.len() < Self::MAX_ENTRIES {
                documents.insert(request.query.clone(), document);
            }
        }
        Ok(())
    }
}

/// What requests share: the database, the cursor key, the tenant cache, the audit sealer, the
/// parsed queries.
pub struct Services {
    pub db: DatabaseConnection,
    /// SQLite's read connections, where queries run beside the writer (`db::connect_readers`).
    pub reader: Option<DatabaseConnection>,
    pub cursors: page::CursorKey,
    /// Keys erased people's email and phone in their tombstones.
    pub subject_keys: crate::gdpr::SubjectKeys,
    /// Seals the audit log; never stored in the database.
    pub audit_key: audit::AuditKey,
    /// Checkpoints `verifyAuditChain` holds the chains against (`DOSSIER_AUDIT_CHECKPOINTS`).
    pub audit_checkpoints: Option<std::sync::Arc<std::path::Path>>,
    pub tenants: tenancy::TenantCache,
    /// The identity providers tenants registered, by tenant and issuer.
    pub providers: crate::providers::ProviderCache,
    /// Seals the audit events requests committed; PostgreSQL only (SQLite seals them in the
    /// writer's transaction).
    pub sealer: Option<audit::Sealer>,
    /// Where requests that have not written fold the customers' aggregates (PostgreSQL).
    pub folds: customer_stats::Folds,
    /// How long the sealer leaves events unsealed.
    pub seal_lag: Arc<crate::metrics::SealLag>,
    pub queries: ParsedQueries,
    /// Per-tenant rate and concurrency.
    pub budgets: crate::budget::Budgets,
    /// What one operation may ask for.
    pub limits: Limits,
    /// The schema under the limits of introspection-only operations ([`build_introspection`]).
    pub introspection: DossierSchema,
    /// Whether reads are compiled to SQL, and how many were (`engine::compile`).
    pub compiled_reads: Arc<engine::compile::CompiledReads>,
    /// Time per request phase.
    pub phases: crate::metrics::Phases,
}

/// The ids of one request: the server's own, and the `X-Request-Id` the caller sent (kept
/// beside it, never instead of it: a caller can send any id it likes).
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub server: String,
    pub caller: Option<String>,
}

/// Why a request never reached the resolvers.
pub enum Refused {
    Unauthenticated(crate::auth::AuthError),
    Unavailable,
    /// The tenant's budget is spent; try again after this long.
    RateLimited(std::time::Duration),
    /// More root fields or counts than the limits.
    TooBig(Shape),
}

/// Runs one GraphQL request for an authenticated principal.
///
/// The request gets one transaction (tenant set first, on PostgreSQL); resolvers note the
/// personal fields they return; their audit events are appended in that transaction and
/// committed before the response is handed back (on PostgreSQL the sealer chains them
/// after the commit). If that fails, the caller gets an error instead of the data
/// (DESIGN §5.3). On SQLite a query's transaction is on a read connection, and its events are
/// written by the writer once it is over, still before the response is handed back.
pub async fn execute(
    schema: &DossierSchema,
    services: &Services,
    principal: Principal,
    ids: RequestIds,
    request: async_graphql::Request,
) -> Result<Answer, Refused> {
    let mut request = request;
    let shape = shape(&mut request);
    if let Some(shape) = shape
        && (shape.root_fields > services.limits.root_fields
            || shape.counts > services.limits.counts)
    {
        return Err(Refused::TooBig(shape));
    }
    // The standard introspection query (graphql-js `getIntrospectionQuery()`, what GraphiQL,
    // codegen and IDEs send) nests deeper than data queries may; it reads no data, so it runs
    // under limits of its own instead of the data limits being raised for everyone.
    let schema = if shape.is_some_and(|s| s.introspection_only()) {
        &services.introspection
    } else {
        schema
    };
    // Admitted before the transaction opens: a request waiting for its tenant's turn holds no
    // database connection.
    let phases = &services.phases;
    let _admitted = phases
        .time(Phase::Admit, services.budgets.admit(principal.tenant_id))
        .await
        .map_err(|refused| Refused::RateLimited(refused.retry_after))?;
    // On SQLite a query runs on a read connection, beside the writer and the other readers.
    // One that turns out to write (a stale twelve-month window to refresh) is run again, from
    // the start, on the writer: nothing it did on the reader is kept.
    if let Some(reader) = &services.reader
        && shape.is_some_and(|s| !s.mutation)
    {
        let again = copy_request(&request);
        match run_on(
            schema,
            services,
            reader,
            true,
            principal.clone(),
            ids.clone(),
            request,
        )
        .await?
        {
            Ran::Answered(answer) => return Ok(*answer),
            Ran::NeedsWriter => {
                request = again;
                // From the cache of parsed documents; a failure is reported by async-graphql,
                // as it was on the first run.
                let _ = services.queries.parse(&mut request);
            }
        }
    }
    match run_on(
        schema,
        services,
        &services.db,
        false,
        principal,
        ids,
        request,
    )
    .await?
    {
        Ran::Answered(answer) => Ok(*answer),
        Ran::NeedsWriter => Err(Refused::Unavailable),
    }
}

/// How a run of a request on one connection ended.
enum Ran {
    Answered(Box<Answer>),
    /// It ran on a read connection and needed to write: run it again on the writer.
    NeedsWriter,
}

/// The same request, to run again: its text, variables, operation and extensions. The parsed
/// document is not copied: every query on a read connection would pay for a copy that only
/// the rare run again needs.
fn copy_request(request: &async_graphql::Request) -> async_graphql::Request {
    let mut copy =
        async_graphql::Request::new(request.query.clone()).variables(request.variables.clone());
    copy.operation_name = request.operation_name.clone();
    copy.extensions = request.extensions.clone();
    copy
}

/// Runs a request in a transaction on `db` (read-only: one of SQLite's read connections).
async fn run_on(
    schema: &DossierSchema,
    services: &Services,
    db: &DatabaseConnection,
    read_only: bool,
    principal: Principal,
    ids: RequestIds,
    request: async_graphql::Request,
) -> Result<Ran, Refused> {
    let phases = &services.phases;
    let opened = phases
        .time(
            Phase::Begin,
            tenancy::open(db, &services.tenants, &principal, read_only),
        )
        .await;
    let (scope, tenant) = match opened {
        Ok(opened) => opened,
        Err(OpenError::Auth(err)) => return Err(Refused::Unauthenticated(err)),
        Err(OpenError::Db(err)) => {
            tracing::error!(error = %err, "opening the request transaction failed");
            return Err(Refused::Unavailable);
        }
    };
    let context = Arc::new(RequestContext {
        loaders: loaders::Loaders::new(&scope, &tenant, &services.cursors, &services.folds),
        cursors: services.cursors.clone(),
        subject_keys: services.subject_keys.clone(),
        tenant_changed: Default::default(),
        providers_changed: Default::default(),
        principal,
        tenant,
        ids,
        audit_key: services.audit_key.clone(),
        audit_checkpoints: services.audit_checkpoints.clone(),
        scope: scope.clone(),
        reads: Default::default(),
        compiled: Default::default(),
    });
    let mut response = phases
        .time(
            Phase::Execute,
            schema.execute(
                request
                    .data(context.clone())
                    .data(services.compiled_reads.clone()),
            ),
        )
        .await;
    let mut compiled = context
        .compiled
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let events = context.reads.take_events();
    let actor = context.actor();
    let tenant_changed = context
        .tenant_changed
        .load(std::sync::atomic::Ordering::Relaxed);
    let providers_changed = context
        .providers_changed
        .load(std::sync::atomic::Ordering::Relaxed);
    let tenant_id = scope.tenant_id();
    // The loaders hold clones of the handle; the transaction can only commit once they go.
    drop(context);

    if scope.needs_writer() {
        if let Err(err) = scope.rollback().await {
            tracing::error!(error = %err, "ending a read transaction failed");
        }
        return Ok(Ran::NeedsWriter);
    }
    // Writes leave their events as they go; reads leave theirs here.
    let to_seal = !events.is_empty() || scope.wrote();
    let committed = if read_only {
        // A read connection cannot write the events: they go to the writer once the read
        // transaction is over, and the response waits for them.
        match phases.time(Phase::Commit, scope.commit()).await {
            Ok(()) => {
                phases
                    .time(
                        Phase::Audit,
                        audit::append_alone(&services.db, tenant_id, &actor, events),
                    )
                    .await
            }
            Err(err) => Err(ApiError::from(err)),
        }
    } else {
        // The events go in the request's own transaction: they commit with it or not at all.
        match phases
            .time(Phase::Audit, audit::append(&scope, &actor, events))
            .await
        {
            Ok(()) => phases
                .time(Phase::Commit, scope.commit())
                .await
                .map_err(ApiError::from),
            Err(err) => {
                if let Err(rollback) = scope.rollback().await {
                    tracing::error!(error = %rollback, "rollback after a failed audit write failed");
                }
                Err(audit::unavailable(err))
            }
        }
    };
    if let (true, Ok(()), Some(sealer)) = (to_seal, &committed, &services.sealer) {
        sealer.touch(tenant_id);
    }
    if tenant_changed {
        // After the commit: forgetting before it would let a racing request cache the old
        // settings again (see `TenantCache`).
        services.tenants.forget(tenant_id);
    }
    if providers_changed {
        services.providers.forget(tenant_id);
    }
    if let Err(err) = committed {
        let err: async_graphql::Error = err.into();
        response =
            async_graphql::Response::from_errors(vec![err.into_server_error(Default::default())]);
        compiled = None;
    }
    normalize_errors(&mut response.errors);
    Ok(Ran::Answered(Box::new(Answer { response, compiled })))
}

/// What a request answered: async-graphql's response and, for a compiled read, the data as
/// the JSON text the database built (the response's own `data` is then `null`).
pub struct Answer {
    pub response: async_graphql::Response,
    pub compiled: Option<String>,
}

/// What an operation asks for, counted before it runs: its root fields (each a query of its
/// own: a page, a count, a chain verification) and its `totalCount`s (each a statement that
/// reads every row its filter matches, however small the page — `first: 0` included; a
/// nested count is one batched statement for all its parents). Aliases and fragments count.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub root_fields: usize,
    pub counts: usize,
    /// Root fields that read data (all but `__schema`, `__type`, `__typename`).
    pub data_roots: usize,
    /// The operation is a mutation.
    pub mutation: bool,
}

impl Shape {
    /// An operation that only introspects the schema: it reads no data.
    pub fn introspection_only(&self) -> bool {
        self.root_fields > 0 && self.data_roots == 0
    }
}

/// The [`Shape`] of the operation a request runs (`None` if it does not parse, which the
/// executor then reports). Linear in the document: each fragment is measured once and its
/// measure reused wherever it is spread (a fragment spread twice in each of thirty nested
/// fragments must not cost 2^30 steps), and a fragment spreading itself — refused later by
/// validation — counts nothing more.
fn shape(request: &mut async_graphql::Request) -> Option<Shape> {
    use async_graphql::parser::types::{
        DocumentOperations, FragmentDefinition, Selection, SelectionSet,
    };
    use async_graphql::{Name, Positioned};
    use std::collections::HashMap;
    type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

    /// Measured fragments; `None` while one is being measured (a cycle).
    struct Walk<'a> {
        fragments: &'a Fragments,
        measured: HashMap<&'a str, Option<Shape>>,
    }

    impl<'a> Walk<'a> {
        /// The fields of `set` (fragments flattened) and every `totalCount` below it.
        fn set(&mut self, set: &'a SelectionSet) -> Shape {
            let mut shape = Shape::default();
            for item in &set.items {
                let inner = match &item.node {
                    Selection::Field(field) => {
                        let below = self.set(&field.node.selection_set.node);
                        Shape {
                            mutation: false,
                            root_fields: 1,
                            counts: below.counts
                                + usize::from(field.node.name.node == "totalCount"),
                            data_roots: usize::from(!field.node.name.node.starts_with("__")),
                        }
                    }
                    Selection::InlineFragment(inline) => self.set(&inline.node.selection_set.node),
                    Selection::FragmentSpread(spread) => {
                        self.fragment(&spread.node.fragment_name.node)
                    }
                };
                shape.root_fields = shape.root_fields.saturating_add(inner.root_fields);
                shape.counts = shape.counts.saturating_add(inner.counts);
                shape.data_roots = shape.data_roots.saturating_add(inner.data_roots);
            }
            shape
        }

        fn fragment(&mut self, name: &'a str) -> Shape {
            match self.measured.get(name) {
                Some(Some(known)) => return *known,
                Some(None) => return Shape::default(),
                None => {}
            }
            let Some(fragment) = self.fragments.get(name) else {
                return Shape::default();
            };
            self.measured.insert(name, None);
            let shape = self.set(&fragment.node.selection_set.node);
            self.measured.insert(name, Some(shape));
            shape
        }
    }

    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let operation = match (&document.operations, &name) {
        (DocumentOperations::Single(op), _) => &op.node,
        (DocumentOperations::Multiple(ops), Some(name)) => &ops.get(name.as_str())?.node,
        (DocumentOperations::Multiple(ops), None) => &ops.values().next()?.node,
    };
    let mut walk = Walk {
        fragments: &document.fragments,
        measured: HashMap::new(),
    };
    Some(Shape {
        mutation: operation.ty == async_graphql::parser::types::OperationType::Mutation,
        ..walk.set(&operation.selection_set.node)
    })
}

/// Gives every error a stable `extensions.code`. Errors raised by our resolvers carry one
/// already; the rest come from async-graphql's own stages.
pub fn normalize_errors(errors: &mut [ServerError]) {
    for error in errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if has_code {
            continue;
        }
        let message = error.message.as_str();
        let code = if message.contains("too complex")
            || message.contains("nested too deep")
            || message.contains("recursion depth")
            || message.contains("number of directives")
        {
            Code::QueryTooComplex
        } else if error.path.is_empty() {
            Code::GraphqlValidationFailed
        } else {
            // An argument that failed to parse while resolving (a malformed UUID, say).
            if let Some(field) = scalar_field(message) {
                error.message = format!("{field}: {}", scalar_rule(message));
            }
            Code::BadUserInput
        };
        set_code(error, code);
    }
}

/// The input field a scalar parse error blames. async-graphql names the scalar and the input
/// object, not the field; in these inputs each such scalar belongs to one field, so a
/// refusal can start with the field's name like every other refusal (`birthday: …`).
fn scalar_field(message: &str) -> Option<&'static str> {
    const FIELDS: [(&str, &str, &str); 1] = [("DateTime", "RecordConsentInput", "at")];
    FIELDS.iter().find_map(|(scalar, input, field)| {
        (message.starts_with(&format!("Failed to parse \"{scalar}\""))
            && message.contains(&format!("while parsing \"{input}\"")))
        .then_some(*field)
    })
}

fn scalar_rule(message: &str) -> &'static str {
    if message.starts_with("Failed to parse \"Date\"") {
        "must be a date as YYYY-MM-DD"
    } else {
        "must be a date and time as RFC 3339, e.g. 2026-01-31T09:30:00Z"
    }
}

pub fn set_code(error: &mut ServerError, code: Code) {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
}

/// A response made of one error.
pub fn error_response(code: Code, message: impl Into<String>) -> async_graphql::Response {
    let mut error = ServerError::new(message, None);
    set_code(&mut error, code);
    async_graphql::Response::from_errors(vec![error])
}

/// Sort direction of an `orderBy` entry.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

impl OrderDirection {
    pub fn order(self) -> Order {
        match self {
            OrderDirection::Asc => Order::Asc,
            OrderDirection::Desc => Order::Desc,
        }
    }
}

/// A personal field's value through the one gate ([`RequestContext::personal`]): the value,
/// or — refused — `null` with the `FORBIDDEN` error at the field's path, so the field stays
/// in the response as the GraphQL spec wants and the rest of the response resolves.
/// `subject` is the row the audit event names: the contact, for a contact's own fields and
/// for their consents.
pub fn personal_field<E: entity::PersonalData, T>(
    ctx: &async_graphql::Context<'_>,
    column: E::Column,
    subject: uuid::Uuid,
    value: Option<T>,
) -> Option<T> {
    match RequestContext::of(ctx).personal::<E, _>(column, subject, value) {
        Ok(value) => value,
        Err(err) => {
            let err: async_graphql::Error = err.into();
            ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
            None
        }
    }
}

/// A DataLoader failure as an internal error (its cause was logged where it happened).
pub fn loader_err(err: async_graphql::Error) -> ApiError {
    ApiError::internal(anyhow::anyhow!("loader: {}", err.message))
}

/// `Some(value or None)` when the input names the field, `None` when it leaves it out.
pub fn given<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

pub fn owned(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| (*f).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::ParsedQueries;

    #[test]
    fn parsed_queries_are_reused_by_exact_text_and_bounded() {
        let cache = ParsedQueries::default();
        let entries = |cache: &ParsedQueries| cache.documents.read().map(|d| d.len()).unwrap_or(0);
        for _ in 0..2 {
            let mut request = async_graphql::Request::new("{ me { actor } }");
            cache.parse(&mut request).expect("parses");
            assert!(request.parsed_query().is_ok());
        }
        assert_eq!(entries(&cache), 1, "the same text is parsed once");
        let mut other = async_graphql::Request::new("{ me { role } }");
        cache.parse(&mut other).expect("parses");
        assert_eq!(entries(&cache), 2);
        let mut broken = async_graphql::Request::new("{ me {");
        assert!(cache.parse(&mut broken).is_err());
        let huge = format!(
            "{{ me {{ actor }} }}{}",
            " ".repeat(ParsedQueries::MAX_QUERY_BYTES)
        );
        let mut big = async_graphql::Request::new(huge);
        cache.parse(&mut big).expect("parses");
        assert_eq!(
            entries(&cache),
            2,
            "errors and oversized queries are not kept"
        );
    }
}
