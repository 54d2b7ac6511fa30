//! Reports across the boundary. A report reaches JavaScript as `JSON.parse` of
//! [`Report::to_json`]: the very document the CLI prints with `--format json`,
//! with its key order and JSON numbers (no `BigInt`).

use mssante_diag_core::{CheckResult, Report};
use napi::bindgen_prelude::{Function, JsObjectValue, Unknown};
use napi::{Env, Result, JSON};

/// The report as a plain JS object.
pub(crate) fn to_js<'env>(env: &'env Env, report: &Report) -> Result<Unknown<'env>> {
    parse(env, report.to_json())
}

/// A check's result as JSON text, made off the JS thread; [`parse`] turns it into
/// an object on the JS thread (for `onCheck`).
pub(crate) fn check_json(check: &CheckResult) -> String {
    serde_json::to_string(check).unwrap_or_default()
}

/// `JSON.parse(json)`.
pub(crate) fn parse(env: &Env, json: String) -> Result<Unknown<'static>> {
    let global: JSON<'static> = env.get_global()?.get_named_property_unchecked("JSON")?;
    let parse: Function<'static, String, Unknown<'static>> = global.get_named_property_unchecked("parse")?;
    parse.call(json)
}

/// A report given back by JavaScript (to render it); `InvalidArg` when it is not one.
pub(crate) fn from_js(value: serde_json::Value) -> Result<Report> {
    serde_json::from_value(value).map_err(|e| napi::Error::new(napi::Status::InvalidArg, format!("not a report: {e}")))
}
