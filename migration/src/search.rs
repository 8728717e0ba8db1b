//! Search on PostgreSQL. Row-level security evaluates a policy before any condition of the
//! query that is not `LEAKPROOF`, and none of `pg_trgm`'s operators is (only a superuser
//! could mark them), so a trigram index on `customers` or `contacts` would never be used: a
//! search would compute trigrams for every row of the tenant. The searched text of each row is
//! therefore kept, folded, in `search_docs` (by triggers), which only two functions owned by
//! the schema owner touch: the triggers' writer and `dossier_search()`, which reads the
//! transaction's tenant only — the same condition as the row-level-security policies — and
//! returns ids and scores; the API then reads the rows themselves through their walls.

/// The function folding text for search: lower case, accents removed.
pub const FOLD: &str = "dossier_search_fold";

/// The function the API calls: `dossier_search(table, text, limit)` → `(row_id, score)`,
/// best first.
pub const SEARCH: &str = "dossier_search";

/// How close a word must be to the text to match (`pg_trgm`'s word similarity): 0.5 finds
/// "Dupont" for "dupnt" and "Lefèvre" for "lefebvre", not "Durand" for "dupont" (0.29);
/// pg_trgm's default, 0.6, misses the first two.
pub const WORD_THRESHOLD: f64 = 0.5;

/// The folded text of `columns` of `row` (`NEW`, or a table), separated by spaces, `NULL`s
/// as empty text.
pub fn document(row: &str, columns: &[&str]) -> String {
    let joined = columns
        .iter()
        .map(|column| format!("coalesce({row}.\"{column}\", '')"))
        .collect::<Vec<_>>()
        .join(" || ' ' || ");
    format!("public.{FOLD}({joined})")
}

/// The columns each table is searched on, by table: the latest migration's.
pub fn indexed(table: &str) -> Option<&'static [&'static str]> {
    crate::m20261202_000008_search::SEARCHED
        .iter()
        .find(|(name, _)| *name == table)
        .map(|(_, columns)| *columns)
}
