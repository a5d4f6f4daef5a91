//! cardbot is the callback server of a WeChat Official Account that hands out cards and
//! coupons. The path of one event through the crate:
//!
//! - [`server`]: the HTTP callback. Verifies the signature, decrypts, parses and
//!   drops WeChat's retries, then answers `success` once the event is durable.
//! - [`wechat`]: the protocol itself, with no I/O: signatures, AES, XML, replies.
//! - [`store`]: sled trees that must survive a crash: the inbox, dedup keys and more.
//! - [`rules`]: the merchant's Rhai scripts that decide what to send.
//! - [`pipeline`]: delivery policy around the rules: customer-service windows, contact
//!   pressure, the cards each user holds, and the log of every decision.
//! - [`stats`]: channel statistics, counted in the worker's transaction, and queried.
//! - [`api`]: the WeChat HTTP API client: access token, card queries, messages.
//! - [`config`]: `config.toml` and environment overrides, validated at start.
//! - [`telemetry`]: tracing setup; values from requests escaped and capped in log lines.
//! - [`metrics`]: the Prometheus metrics every stage records, served at `/metrics`.
//! - [`sandbox`]: a stand-in for WeChat's API, to run everything with no account.

// Unit tests panic on purpose: a failed unwrap there is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod metrics;
pub mod pipeline;
pub mod rules;
pub mod sandbox;
pub mod server;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod wechat;
