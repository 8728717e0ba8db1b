//! PostgreSQL: an audit event's `entity_ids` (a Q1 page names 150 people, about 6 KB) is
//! compressed with LZ4 instead of the default `pglz`, which was over a hundredth of the
//! database's CPU under Q1 and three times slower per event. Existing rows keep their
//! compression until rewritten; a server built without LZ4, or older than 14, keeps `pglz`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        crate::execute(
            manager,
            // Run by `EXECUTE` so that a server older than 14, which does not know the clause,
            // fails inside the block and is caught.
            ["DO $$ BEGIN \
                EXECUTE 'ALTER TABLE audit_events ALTER COLUMN entity_ids SET COMPRESSION lz4'; \
              EXCEPTION WHEN feature_not_supported OR syntax_error THEN \
                RAISE NOTICE 'this server cannot compress with LZ4: audit events keep pglz'; \
              END $$"
                .to_owned()],
        )
        .await
    }
}
