//! Integration tests against the real test stack (`tests/stack/stack.sh`).
//! One binary, one module per subsystem or concern.

mod annuaire;
mod api;
mod auth;
mod backup;
mod bundle;
mod config;
mod dns;
mod firstrun;
mod docker;
mod hostile;
mod human;
mod imap;
mod logs;
mod mssante;
mod network;
mod outputs;
mod postfix;
mod postgres;
mod privilege;
mod quick;
mod readonly;
mod report;
mod secrets;
mod smtp;
mod storage;
mod system;
mod tls;
