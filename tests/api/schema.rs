//! `schema.graphql` is the SDL printed from the code. `UPDATE_SCHEMA=1` rewrites it on purpose.

#[test]
fn schema_graphql_matches_the_code() {
    let sdl = api::graphql::sdl(&api::graphql::build_schema(Default::default()));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).expect("write schema.graphql");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "schema.graphql differs from the code: run `UPDATE_SCHEMA=1 cargo test -p tests schema` and review the diff"
    );
}
