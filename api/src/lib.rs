//! Dossier: a multi-tenant GraphQL API over a company's customer file (customers, contacts,
//! sales), where every access to personal data is audited.
//!
//! `main.rs` is a thin command line over this library; the tests start the same
//! [`startup::Application`] on SQLite and on PostgreSQL.

pub mod audit;
pub mod auth;
pub mod budget;
pub mod config;
pub mod csv;
pub mod db;
pub mod demo;
pub mod error;
pub mod gdpr;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod money;
pub mod providers;
pub mod startup;
pub mod telemetry;
pub mod tenancy;
pub mod validate;
