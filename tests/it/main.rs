//! Integration tests against the real test stack (`tests/stack/stack.sh`).
//! One binary, one module per subsystem or concern.

mod api;
mod backup;
mod docker;
mod hostile;
mod imap;
mod postfix;
mod postgres;
mod quick;
mod report;
mod secrets;
mod smtp;
mod tls;
