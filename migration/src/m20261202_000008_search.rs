//! Search (`search(text)`). On PostgreSQL: `pg_trgm` (ranked, typo-tolerant), `unaccent`,
//! the searched text of every customer and contact in `search_docs` (kept by triggers), its
//! trigram index per tenant, and `dossier_search()` (see [`crate::search`] for why the text
//! is kept apart). SQLite matches with `LIKE` on the tables themselves and needs nothing here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::search::{FOLD, SEARCH, WORD_THRESHOLD, document};
use crate::walls::CURRENT_TENANT;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns each table is searched on.
pub const SEARCHED: &[(&str, &[&str])] = &[
    (
        "customers",
        &[
            "name",
            "registration_number",
            "billing_city",
            "external_ref",
        ],
    ),
    ("contacts", &["first_name", "last_name", "email", "phone"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        crate::execute(manager, statements()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let mut statements = vec![format!(
            "DROP FUNCTION IF EXISTS {SEARCH}(text, text, integer)"
        )];
        for (table, _) in SEARCHED {
            statements.push(format!(
                "DROP TRIGGER IF EXISTS {table}_search_doc ON {table}"
            ));
            statements.push(format!(
                "DROP FUNCTION IF EXISTS dossier_search_doc_{table}()"
            ));
        }
        statements.push("DROP TABLE IF EXISTS search_docs".to_owned());
        statements.push(format!("DROP FUNCTION IF EXISTS {FOLD}(text)"));
        crate::execute(manager, statements).await
    }
}

/// Every search document, from scratch.
pub fn rebuild() -> Vec<String> {
    let mut statements = vec!["DELETE FROM search_docs".to_owned()];
    for (table, columns) in SEARCHED {
        statements.push(format!(
            "INSERT INTO search_docs (tenant_id, entity, row_id, doc) \
             SELECT tenant_id, '{table}', id, {} FROM {table}",
            document(table, columns)
        ));
    }
    statements
}

fn statements() -> Vec<String> {
    let mut statements = vec![
        // All three are trusted extensions: the database's owner may create them. In `public`,
        // so that the functions below can name them whatever the search path.
        "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public".to_owned(),
        "CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public".to_owned(),
        "CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA public".to_owned(),
        // `unaccent(text)` is only STABLE (its dictionary could change); the two-argument form
        // naming the dictionary, wrapped as IMMUTABLE, is the documented way to index it.
        format!(
            "CREATE FUNCTION public.{FOLD}(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT \
             AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$"
        ),
        "CREATE TABLE search_docs (\
           tenant_id uuid NOT NULL REFERENCES tenants (id), \
           entity text NOT NULL, \
           row_id uuid NOT NULL, \
           doc text NOT NULL, \
           PRIMARY KEY (tenant_id, entity, row_id))"
            .to_owned(),
        // Per tenant and table first, so that one tenant's search reads its own entries only.
        "CREATE INDEX search_docs_trgm ON search_docs USING gin (tenant_id, entity, doc public.gin_trgm_ops)"
            .to_owned(),
        // The policy binds any role ever granted the table; the owner is not FORCEd, so that
        // its two functions below can use the index (they state the tenant condition
        // themselves). The API's role is granted nothing on the table.
        "ALTER TABLE search_docs ENABLE ROW LEVEL SECURITY".to_owned(),
        format!(
            "CREATE POLICY tenant_isolation ON search_docs USING (tenant_id = {CURRENT_TENANT}) \
             WITH CHECK (tenant_id = {CURRENT_TENANT})"
        ),
        "REVOKE ALL ON search_docs FROM PUBLIC".to_owned(),
    ];
    for (table, columns) in SEARCHED {
        let doc = document("NEW", columns);
        // Runs as the owner, which alone may write `search_docs`; the row is the one the
        // write touched, under the tenant the row-level-security policies let it write.
        statements.push(format!(
            "CREATE FUNCTION dossier_search_doc_{table}() RETURNS trigger LANGUAGE plpgsql \
             SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$ \
             BEGIN \
               IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.tenant_id, OLD.id) IS DISTINCT FROM (NEW.tenant_id, NEW.id)) THEN \
                 DELETE FROM public.search_docs WHERE tenant_id = OLD.tenant_id AND entity = '{table}' AND row_id = OLD.id; \
               END IF; \
               IF TG_OP = 'DELETE' THEN \
                 RETURN NULL; \
               END IF; \
               INSERT INTO public.search_docs (tenant_id, entity, row_id, doc) \
                 VALUES (NEW.tenant_id, '{table}', NEW.id, {doc}) \
                 ON CONFLICT (tenant_id, entity, row_id) DO UPDATE SET doc = EXCLUDED.doc; \
               RETURN NULL; \
             END $$"
        ));
        // EXECUTE is checked when a trigger is created, not when it fires: nobody else may
        // hang this owner's function on a table of their own (a temporary one, say) to write
        // another tenant's documents.
        statements.push(format!(
            "REVOKE ALL ON FUNCTION dossier_search_doc_{table}() FROM PUBLIC"
        ));
        // A row's key too: a document must not outlive the key it was written under.
        statements.push(format!(
            "CREATE TRIGGER {table}_search_doc AFTER INSERT OR DELETE OR UPDATE OF tenant_id, id, {} \
             ON {table} FOR EACH ROW EXECUTE FUNCTION dossier_search_doc_{table}()",
            columns.join(", ")
        ));
    }
    // The rows already there, read across tenants by the owner.
    let tables: Vec<&str> = SEARCHED.iter().map(|(table, _)| *table).collect();
    statements.extend(crate::walls::across_tenants(&tables, rebuild()));
    let mine = format!("d.tenant_id = {CURRENT_TENANT} AND d.entity = p_table");
    statements.push(format!(
        // The text is folded, then escaped for LIKE: folding turns some characters into
        // LIKE's own (a fullwidth `％` into `%`) and drops combining marks, so escaping first
        // would let them through as wildcards. Rows holding the text come first: as a whole
        // word (1), at a word's start (0.75), inside a word (0.5). Only when no row holds it,
        // the rows that come close to it (typos), by word similarity (at most 0.5): ranking
        // every near row costs a trigram comparison each, and with the text itself found they
        // would only be noise. Among equal scores, the shorter text (the closer row) first.
        "CREATE FUNCTION {SEARCH}(p_table text, p_text text, p_limit integer) \
         RETURNS TABLE (row_id uuid, score double precision) \
         LANGUAGE plpgsql STABLE SECURITY DEFINER \
         SET search_path = pg_catalog, public, pg_temp \
         SET pg_trgm.word_similarity_threshold = {WORD_THRESHOLD} \
         AS $$ \
         #variable_conflict use_column
         DECLARE \
           v_text text := public.{FOLD}(p_text); \
           v_like text := replace(replace(replace(public.{FOLD}(p_text), '\\', '\\\\'), '%', '\\%'), '_', '\\_'); \
         BEGIN \
           IF v_text IS NULL OR length(v_text) < 2 THEN \
             RETURN; \
           END IF; \
           RETURN QUERY \
           WITH holding AS MATERIALIZED ( \
             SELECT d.row_id, d.doc FROM public.search_docs d \
             WHERE {mine} AND d.doc LIKE '%' || v_like || '%' \
           ) \
           SELECT m.row_id, m.score FROM ( \
             SELECT h.row_id, \
                    CASE WHEN ' ' || h.doc || ' ' LIKE '% ' || v_like || ' %' THEN 1.0 \
                         WHEN ' ' || h.doc LIKE '% ' || v_like || '%' THEN 0.75 \
                         ELSE 0.5 END::float8 AS score, \
                    length(h.doc) AS len \
             FROM holding h \
             UNION ALL \
             SELECT d.row_id, (public.word_similarity(v_text, d.doc) / 2)::float8, length(d.doc) \
             FROM public.search_docs d \
             WHERE NOT EXISTS (SELECT 1 FROM holding) AND {mine} \
               AND v_text OPERATOR(public.<%) d.doc \
           ) m \
           ORDER BY m.score DESC, m.len, m.row_id \
           LIMIT least(greatest(p_limit, 0), 100); \
         END $$"
    ));
    statements.push(format!(
        "REVOKE ALL ON FUNCTION {SEARCH}(text, text, integer) FROM PUBLIC"
    ));
    statements.push(format!(
        "DO $$ BEGIN \
           IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dossier_runtime') THEN \
             GRANT EXECUTE ON FUNCTION {SEARCH}(text, text, integer) TO dossier_runtime; \
           END IF; \
         END $$"
    ));
    statements
}
