//! Integration tests against the real test stack (`tests/stack/stack.sh`).
//! One binary, one module per subsystem or concern.

mod api;
mod auth;
mod backup;
mod config;
mod dns;
mod docker;
mod hostile;
mod imap;
mod logs;
mod postfix;
mod postgres;
mod quick;
mod report;
mod secrets;
mod smtp;
mod storage;
mod system;
mod tls;
