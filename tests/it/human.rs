//! The human format on real reports (healthy stack, a dead Redis), French and English for every
//! check id, and `--changes` through the CLI with a state file of its own.

use std::process::Command;

use mssante_diag_core::output::{render, Format, Style};
use mssante_diag_core::{Lang, Report, Selection, Status};
use mssante_diag_tests::{cli_bin, healthy, run, run_only, Stack};

fn human(report: &Report, lang: Lang) -> String {
    render(report, Format::Human, Style { color: false, lang })
}

#[test]
fn every_check_id_in_french_and_in_english_on_the_healthy_stack() {
    let _guard = healthy();
    let stack = Stack::get();
    let mut en_config = stack.config();
    en_config.lang = Lang::En;
    let mut fr_config = stack.config();
    fr_config.lang = Lang::Fr;
    let en = run(en_config, &Selection::All);
    let fr = run(fr_config, &Selection::All);
    let (en_text, fr_text) = (human(&en, Lang::En), human(&fr, Lang::Fr));
    assert!(en_text.contains("\nOverall: OK") && fr_text.contains("\nBilan: OK"), "{en_text}\n{fr_text}");
    let mut same = Vec::new();
    for def in mssante_diag_core::catalogue() {
        let (e, f) = (en.check(def.id), fr.check(def.id));
        let (Some(e), Some(f)) = (e, f) else { panic!("{} missing from a report", def.id) };
        assert!(!e.summary.trim().is_empty() && !f.summary.trim().is_empty(), "{}: empty summary", def.id);
        for text in [&en_text, &fr_text] {
            assert!(text.contains(&format!(" {} ", def.id)), "{} not shown", def.id);
        }
        // A summary made of words must be translated; one of names and numbers only may not.
        let words = |s: &str| s.split(|c: char| !c.is_alphabetic()).filter(|w| w.chars().count() > 3 && w.chars().all(char::is_lowercase)).count();
        if e.summary == f.summary && words(&e.summary) > 0 {
            same.push(format!("{}: {}", def.id, e.summary));
        }
    }
    assert!(same.is_empty(), "summaries not translated:\n{}", same.join("\n"));
}

#[test]
fn a_dead_service_comes_first_with_its_guide_section_and_remedy() {
    let _guard = healthy();
    let mut config = Stack::get().config();
    // Redis down, as the operator sees it: nothing listens on its port.
    let closed = std::net::TcpListener::bind("127.0.77.1:0").expect("bind").local_addr().expect("addr").port();
    config.redis.port = closed;
    let report = run_only(config, &["redis", "postgres.reachable", "system.clock"]);
    assert_eq!(report.check("redis.reachable").map(|c| c.status), Some(Status::Critical));
    for lang in [Lang::En, Lang::Fr] {
        let text = human(&report, lang);
        let redis = text.find("\nredis (").expect("redis group");
        let postgres = text.find("\npostgres (").expect("postgres group");
        assert!(redis < postgres, "the worst group is not first:\n{text}");
        let block = &text[redis..postgres];
        let word = if lang == Lang::En { "CRITICAL" } else { "CRITIQUE" };
        assert!(block.contains(&format!("{word} redis.reachable")), "{block}");
        assert!(block.contains("guide: Général") && block.contains("-> "), "no guide section or remedy:\n{block}");
        // Nothing under the ok check.
        let pg_block = &text[postgres..];
        assert!(!pg_block.contains("-> "), "{pg_block}");
    }
}

/// Runs the CLI with `--changes` and a given state file; returns its exit code and stdout.
fn changes(project: &std::path::Path, state: &std::path::Path, format: &str, names: &[&str]) -> (i32, String) {
    let out = Command::new(cli_bin())
        .arg("--project")
        .arg(project)
        .args(["--lang", "en", "--changes", "--format", format, "--state-file"])
        .arg(state)
        .arg("check")
        .args(names)
        .output()
        .expect("the CLI runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn changes_shows_new_problems_then_what_was_resolved() {
    let _guard = healthy();
    let stack = Stack::get();
    let dir = std::env::temp_dir().join(format!("mssante-diag-changes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create");
    let state = dir.join("state/last.json");
    // A copy of the platform whose Redis is down (its port closed).
    let broken = dir.join("broken");
    assert!(Command::new("cp").arg("-a").arg(&stack.project).arg(&broken).status().expect("cp").success());
    let closed = std::net::TcpListener::bind("127.0.77.1:0").expect("bind").local_addr().expect("addr").port();
    let toml = std::fs::read_to_string(broken.join("mssante-diag.toml")).expect("toml").replace("port = 16379", &format!("port = {closed}"));
    std::fs::write(broken.join("mssante-diag.toml"), toml).expect("write");

    let names = ["redis", "postgres.reachable"];
    let (code, first) = changes(&stack.project, &state, "json", &names);
    assert_eq!(code, 0, "{first}");
    let first: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    assert!(first["since"].is_null(), "{first}");
    let all = first["changes"].as_array().expect("changes");
    let ids: Vec<&str> = all.iter().filter_map(|c| c["check"]["id"].as_str()).collect();
    assert!(ids.contains(&"redis.reachable") && ids.contains(&"postgres.reachable"), "{first}");
    assert!(all.iter().all(|c| c["kind"] == "new"), "first run: every check is new: {first}");

    let (_, again) = changes(&stack.project, &state, "human", &names);
    assert!(again.contains("No change."), "{again}");

    let (code, down) = changes(&broken, &state, "human", &names);
    assert_eq!(code, 2, "the exit code is the run's: {down}");
    assert!(down.contains("NEW       CRITICAL redis.reachable") && down.contains("(was ok)"), "{down}");
    assert!(!down.contains("postgres.reachable"), "an unchanged check is shown: {down}");

    let (code, up) = changes(&stack.project, &state, "json", &names);
    assert_eq!(code, 0);
    let up: serde_json::Value = serde_json::from_str(&up).expect("JSON");
    let resolved: Vec<&str> = up["changes"].as_array().expect("changes").iter().filter(|c| c["kind"] == "resolved").filter_map(|c| c["check"]["id"].as_str()).collect();
    assert!(resolved.contains(&"redis.reachable"), "{up}");
    let _ = std::fs::remove_dir_all(&dir);
}
