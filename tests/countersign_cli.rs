//! The two-person rule from the command line, on both databases: `review confirm --send`
//! proposes (nothing is sent by the next `run --once`), `review list` shows it waiting, the
//! proposer's own `review countersign` is refused, a colleague's sends the mail once, and
//! `review reject-pending` drops a proposal; all audited and the chain verifies.

mod common;

use common::cli::{json, ok, run};

use std::path::Path;

use serde_json::Value;

both!(two_person_rule_from_the_command_line);

/// The `[reviewers]` section of these tests.
const REVIEWERS: &str =
    "[reviewers]\ncoach_emails = [\"coach.ett@rjl.test\"]\ntwo_person_rule = true";

fn refused(cfg: &Path, args: &[&str]) -> String {
    let out = run(cfg, args);
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn decision_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("outbox"))
        .map(|rd| {
            rd.filter(|e| {
                std::fs::read_to_string(e.as_ref().unwrap().path())
                    .unwrap()
                    .contains("beslut-")
            })
            .count()
        })
        .unwrap_or(0)
}

async fn two_person_rule_from_the_command_line(url: String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (cfg, _) = common::cli::setup(dir, &url, REVIEWERS, 11);
    ok(&cfg, &["run", "--once"]);
    let rows = json(&cfg, &["review", "list", "--format", "json"]);
    let id_of = |clinic: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["clinic_id"] == clinic && r["milestone"] == 1)
            .unwrap()["submission_id"]
            .as_i64()
            .unwrap()
            .to_string()
    };
    let (bjork, ekb) = (id_of("bjorkdalen"), id_of("ekbacken"));

    let proposed = json(
        &cfg,
        &[
            "review",
            "confirm",
            "--submission",
            &bjork,
            "--as",
            "anna",
            "--send",
            "--format",
            "json",
        ],
    );
    assert_eq!(proposed["state"], "pending");
    assert_eq!(proposed["proposed_by"], "cli:anna");
    assert_eq!(proposed["mail"]["to"], "kontakt@bjorkdalen.vc.test");
    ok(&cfg, &["run", "--once"]);
    assert_eq!(decision_files(dir), 0, "nothing is sent while it waits");
    let list = ok(&cfg, &["review", "list"]);
    assert!(
        list.lines().any(|l| l.starts_with(&format!("{bjork}\t"))
            && l.contains("confirmed -")
            && l.contains("awaiting a second reviewer")
            && l.contains("cli:anna")),
        "{list}"
    );
    let rows = json(&cfg, &["review", "list", "--format", "json"]);
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["submission_id"].as_i64().unwrap().to_string() == bjork)
        .unwrap();
    assert_eq!(row["pending_id"], proposed["pending_id"]);
    assert_eq!(row["grade"], Value::Null);

    let err = refused(
        &cfg,
        &[
            "review",
            "countersign",
            "--submission",
            &bjork,
            "--as",
            "Anna",
        ],
    );
    assert!(
        err.contains("a different reviewer must confirm it"),
        "{err}"
    );
    let done = json(
        &cfg,
        &[
            "review",
            "countersign",
            "--submission",
            &bjork,
            "--as",
            "bo",
            "--format",
            "json",
        ],
    );
    assert_eq!(done["countersigned_by"], "cli:bo");
    assert_eq!(done["proposed_by"], "cli:anna");
    assert_eq!(done["mail"]["queued_now"], true);
    let err = refused(
        &cfg,
        &[
            "review",
            "countersign",
            "--submission",
            &bjork,
            "--as",
            "cecilia",
        ],
    );
    assert!(err.contains("cannot find a decision awaiting"), "{err}");
    ok(&cfg, &["run", "--once"]);
    assert_eq!(decision_files(dir), 1, "one decision mail");

    // A proposal rejected: nothing sent, undecided again.
    let over = ok(
        &cfg,
        &[
            "review",
            "override",
            "--submission",
            &ekb,
            "--as",
            "bo",
            "--grade",
            "red",
            "--send",
        ],
    );
    assert!(over.contains("awaiting a second reviewer"), "{over}");
    let rej = ok(
        &cfg,
        &[
            "review",
            "reject-pending",
            "--submission",
            &ekb,
            "--as",
            "anna",
            "--comment",
            "Gul räcker.",
        ],
    );
    assert!(rej.contains("rejected; nothing was sent"), "{rej}");
    ok(&cfg, &["run", "--once"]);
    assert_eq!(decision_files(dir), 1);
    let rows = json(&cfg, &["review", "list", "--format", "json"]);
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["submission_id"].as_i64().unwrap().to_string() == ekb)
        .unwrap();
    assert_eq!(row["pending_id"], Value::Null);
    assert_eq!(row["grade"], Value::Null);

    let audit = json(&cfg, &["audit", "list", "--format", "json"]);
    let actions: Vec<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["action"].as_str().unwrap(),
                a["actor"].as_str().unwrap()
            )
        })
        .filter(|a| a.starts_with("decision."))
        .collect();
    assert_eq!(
        actions,
        [
            "decision.reject cli:anna",
            "decision.propose cli:bo",
            "decision.countersign cli:bo",
            "decision.propose cli:anna"
        ]
    );
    assert!(ok(&cfg, &["audit", "verify"]).starts_with("ok"));
}
