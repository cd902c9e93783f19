//! `vardval users add|list|passwd|disable`: accounts made on the command line can sign in to
//! the desk; a short password, a taken username and an unknown role are refused.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn config(dir: &Path) -> PathBuf {
    let root = common::root();
    let text = format!(
        "[mailbox]\nkind = \"maildir\"\npath = \"Maildir\"\n\
         [smtp]\nkind = \"file\"\ndir = \"outbox\"\nfrom = \"Vårdval <vardval@rjl.test>\"\n\
         [web]\nenabled = false\n\
         [database]\nurl = \"sqlite://vardval.db\"\n[archive]\ndir = \"archive\"\n\
         [cycle]\nrulebook = \"{}\"\n",
        root.join("config/rulebook-2026.toml").display()
    );
    let p = dir.join("vardval.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn users(cfg: &Path, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vardval"));
    c.arg("users")
        .arg(args[0])
        .arg("--config")
        .arg(cfg)
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let add = users(
        &cfg,
        &["add", "--username", "anna", "--role", "reviewer"],
        Some("ett-langt-losenord\n"),
        &[],
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let env = [("DESK_PW", "ett-annat-langt-losenord")];
    let add = users(
        &cfg,
        &[
            "add",
            "--username",
            "ekon",
            "--role",
            "finance",
            "--password-env",
            "DESK_PW",
        ],
        None,
        &env,
    );
    assert!(add.status.success());
    for (args, stdin, why) in [
        (
            vec!["add", "--username", "anna", "--role", "coach"],
            "ett-langt-losenord\n",
            "taken",
        ),
        (
            vec!["add", "--username", "bo", "--role", "reviewer"],
            "kort\n",
            "short",
        ),
        (
            vec!["add", "--username", "bo", "--role", "root"],
            "ett-langt-losenord\n",
            "role",
        ),
    ] {
        let out = users(&cfg, &args, Some(stdin), &[]);
        assert!(!out.status.success(), "{why} must be refused");
    }
    let list = users(&cfg, &["list", "--format", "json"], None, &[]);
    let text = String::from_utf8(list.stdout).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(rows[0]["username"], "anna");
    assert_eq!(rows[0]["role"], "reviewer");
    assert_eq!(rows[1]["role"], "finance");
    assert_eq!(rows[0]["sign_in"], "local");

    // The stored hashes verify the passwords given; passwd and disable change that.
    let store = vardval::store::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("vardval.db").display()
    ))
    .await
    .unwrap();
    let check = |u: vardval::store::UserRow, pw: &str| {
        vardval::web::auth::verify_password(pw, &u.password_hash)
    };
    let anna = store.user("anna").await.unwrap().unwrap();
    assert!(anna.password_hash.starts_with("$argon2id$"));
    assert!(check(anna, "ett-langt-losenord"));
    let pw = users(
        &cfg,
        &["passwd", "--username", "anna"],
        Some("nytt-langt-losenord\n"),
        &[],
    );
    assert!(pw.status.success());
    let anna = store.user("anna").await.unwrap().unwrap();
    assert!(check(anna.clone(), "nytt-langt-losenord"));
    assert!(!check(anna, "ett-langt-losenord"));
    assert!(
        users(&cfg, &["disable", "--username", "anna"], None, &[])
            .status
            .success()
    );
    assert!(store.user("anna").await.unwrap().unwrap().disabled);
    assert!(
        !users(&cfg, &["disable", "--username", "nobody"], None, &[])
            .status
            .success()
    );
    store.close().await;
}
