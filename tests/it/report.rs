//! The report document: its committed JSON Schema is current and real output validates against it.

use mssante_diag_core::{Report, Selection, Status};
use mssante_diag_tests::{healthy, run, Stack};

fn committed_schema() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/report.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("schema/report.schema.json exists")).expect("schema is JSON")
}

#[test]
fn committed_schema_is_current() {
    assert_eq!(
        committed_schema(),
        Report::json_schema(),
        "schema/report.schema.json is stale: regenerate it with `cargo run -q -p mssante-diag-cli -- schema > schema/report.schema.json`"
    );
}

#[test]
fn real_report_validates_against_the_schema() {
    let stack = Stack::get();
    let _g = healthy();
    // Every check: healthy ones, faulty ones and skipped ones all validate.
    let report = run(stack.config(), &Selection::All);
    let doc = serde_json::to_value(&report).expect("serialises");
    let validator = jsonschema::validator_for(&committed_schema()).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // Catalogue order and overall status are what the model promises.
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    let order: Vec<&str> = mssante_diag_core::catalogue().iter().map(|d| d.id).filter(|id| ids.contains(id)).collect();
    assert_eq!(ids, order);
    assert_eq!(report.status, Report::overall(&report.checks));
}

#[test]
fn cli_check_on_the_healthy_stack_is_all_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let out = assert_cmd::Command::cargo_bin("mssante-diag")
        .expect("the CLI is built with the workspace")
        .arg("--project")
        .arg(&stack.project)
        .args(["check", "--format", "json"])
        .output()
        .expect("runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    // A check the project's own TOML switches off (`[subsystem] name = false`, e.g. `[storage]
    // smart = false` where the VM's disk has no SMART data) may be skipped, and only such a check.
    let toml = std::fs::read_to_string(stack.project.join("mssante-diag.toml")).expect("project TOML");
    let disabled = |id: &str| mssante_diag_tests::disabled_in(&toml, id);
    let not_ok: Vec<String> = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] != "ok" && !(c["status"] == "skipped" && disabled(c["id"].as_str().unwrap_or_default())))
        .map(|c| format!("{} {}: {}", c["id"], c["status"], c["summary"]))
        .collect();
    assert!(not_ok.is_empty(), "every implemented check should be ok on the healthy stack: {not_ok:#?}");
    assert_eq!(doc["checks"].as_array().map(Vec::len), Some(mssante_diag_core::catalogue().len()));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn non_ok_report_validates_against_the_schema() {
    let stack = Stack::get();
    let _g = healthy();
    // Real faults, no fixture documents: a closed Redis port (critical), an API slower than a
    // 0 ms threshold (warning), disk paths that do not exist (unknown), Docker disabled (skipped).
    let config = stack.faulty_config("/nonexistent/mssante-diag");
    let report = run(config, &Selection::Only(vec!["redis".into(), "api".into(), "system.disk".into(), "docker.daemon".into()]));
    let status = |id: &str| report.check(id).map(|c| c.status);
    assert_eq!(status("redis.reachable"), Some(Status::Critical));
    assert_eq!(status("api.health"), Some(Status::Warning));
    assert_eq!(status("system.disk"), Some(Status::Unknown));
    assert_eq!(status("docker.daemon"), Some(Status::Skipped));
    assert!(report.checks.iter().filter(|c| c.status != Status::Skipped).all(|c| !c.remediation.is_empty()));
    let doc = serde_json::to_value(&report).expect("serialises");
    let validator = jsonschema::validator_for(&committed_schema()).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And the schema is not vacuous: a result with a status outside the model is rejected.
    let mut bad = doc.clone();
    bad["checks"][0]["status"] = serde_json::json!("fine");
    assert!(validator.iter_errors(&bad).next().is_some(), "the schema must reject an unknown status");
}
