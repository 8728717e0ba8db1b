//! Dossier's black-box tests: the real application over HTTP, on SQLite and PostgreSQL.
//! One test binary (fast to link); each module is one area of behaviour.

mod aggregates;
mod audit;
mod auth;
mod compiled;
mod compliance;
mod console;
mod interactions;
mod limits;
mod mutations;
mod ops;
mod personal_data;
mod protocol;
mod queries;
mod schema;
mod search;
mod segments;
mod sqlite;
mod tenancy;
mod trust;
