//! The core's errors as JavaScript errors whose `code` is the core's error kind.

use napi::{Env, JsError};

/// A JS `Error` with `code` = [`mssante_diag_core::Error::code`] and the whole cause
/// chain as message, wrapped so napi throws (or rejects with) that very object.
pub(crate) fn to_js(env: &Env, e: &mssante_diag_core::Error) -> napi::Error {
    let js = JsError::from(napi::Error::new(e.code(), e.chain())).into_unknown(*env);
    napi::Error::from(js)
}
