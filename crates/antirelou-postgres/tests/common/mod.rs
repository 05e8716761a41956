//! Shared helpers of the PostgreSQL tests: the database URL and a throw-away schema per test.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use antirelou_postgres::{PgConfig, PgStore};
use sqlx::Connection;

/// The reason PostgreSQL tests are ignored by default.
pub const NEEDS_PG: &str = "needs PostgreSQL: set DATABASE_URL (CI sets it)";

/// `DATABASE_URL`; the tests that call this are `#[ignore]`d so they run only when asked.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must be set for PostgreSQL tests (see .ci/run)")
}

/// A fresh, random schema name.
pub fn fresh_schema(tag: &str) -> String {
    format!("antirelou_test_{tag}_{:016x}", rand::random::<u64>())
}

/// A store in a fresh schema.
pub async fn store_in(schema: &str) -> PgStore {
    PgStore::connect_with(&database_url(), PgConfig::default().schema(schema).unwrap())
        .await
        .unwrap()
}

/// Drop a test schema and everything in it.
pub async fn drop_schema(schema: &str) {
    let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}
