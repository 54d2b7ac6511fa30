//! Reports across the boundary. A report reaches JavaScript as `JSON.parse` of
//! [`Report::to_json`]: the very document the CLI prints with `--format json`,
//! with its key order and JSON numbers (no `BigInt`).

use mssante_diag_core::Report;
use napi::bindgen_prelude::{Function, JsObjectValue, Unknown};
use napi::{Env, Result, JSON};

/// The report as a plain JS object.
pub(crate) fn to_js<'env>(env: &'env Env, report: &Report) -> Result<Unknown<'env>> {
    let json: JSON = env.get_global()?.get_named_property_unchecked("JSON")?;
    let parse: Function<String, Unknown> = json.get_named_property_unchecked("parse")?;
    parse.call(report.to_json())
}

/// A report given back by JavaScript (to render it); `InvalidArg` when it is not one.
pub(crate) fn from_js(value: serde_json::Value) -> Result<Report> {
    serde_json::from_value(value).map_err(|e| napi::Error::new(napi::Status::InvalidArg, format!("not a report: {e}")))
}
