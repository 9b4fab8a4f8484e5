//! The integration suite: every end-to-end test of the binary, the engine, the server and the
//! reports, in one test binary. One binary links the library (polars, arrow, the AWS SDK) once
//! instead of once per file, which keeps a cold CI build's disk use and link time small.
//!
//! Run one area with a module filter, e.g. `cargo test --release --locked --test suite
//! rules_pack::`. Fixtures, golden files and client scripts live beside this folder in
//! `tests/fixtures`, `tests/golden` and `tests/clients`.

mod browser;
mod common;
mod server;

mod cli_input;
mod frameworks;
mod kms_audit_records;
mod kms_clients;
mod kms_durability;
mod kms_engine;
mod kms_ops_crypto;
mod kms_ops_grants_import;
mod kms_ops_manage;
mod kms_ops_multiregion;
mod kms_server;
mod kms_trail_fidelity;
mod lake;
mod log_integrity;
mod pull;
mod report;
mod report_html;
mod report_oscal;
mod rules_bench;
mod rules_cli;
mod rules_inventory;
mod rules_pack;
mod rules_quality;
mod rules_sigma;
mod rules_state;
mod rules_window;
mod scan_findings;
mod simulate;
