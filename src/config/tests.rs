use super::*;

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("c.toml");
    std::fs::write(&p, text).unwrap();
    p
}

const MIN: &str = r#"
[mailbox]
kind = "maildir"
path = "mail"
[smtp]
kind = "file"
dir = "out"
from = "Vårdval <vardval@rjl.test>"
[database]
url = "sqlite://x.db"
[cycle]
rulebook = "rulebook-2026.toml"
[clinics]
path = "clinics.csv"
"#;

#[test]
fn demo_config_loads() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
    let s = Settings::load(&p).expect("demo config is valid");
    assert_eq!(s.mailbox.kind, MailboxKind::Maildir);
    assert!(s.database_url().starts_with("sqlite:///"));
}

#[test]
fn relative_paths_resolve_against_the_config_dir() {
    let d = tempfile::tempdir().unwrap();
    let s = Settings::load(&write(d.path(), MIN)).unwrap();
    assert_eq!(s.resolve(Path::new("mail")), d.path().join("mail"));
    assert_eq!(
        s.database_url(),
        format!("sqlite://{}", d.path().join("x.db").display())
    );
    assert_eq!(s.limits.document, Limits::default());
}

#[test]
fn plain_imap_to_a_remote_host_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let text = MIN.replace(
            "kind = \"maildir\"\npath = \"mail\"",
            "kind = \"imap\"\nhost = \"imap.example.org\"\nusername = \"u\"\npassword_env = \"X\"\ntls = \"none\"",
        );
    let e = Settings::load(&write(d.path(), &text)).unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
}

#[test]
fn secrets_come_from_env_or_command_and_never_print() {
    let s = resolve_secret(&None, &Some("echo hemligt".into()), &None).unwrap();
    assert!(matches!(&s, Secret::Password(p) if p == "hemligt"));
    assert_eq!(format!("{s:?}"), "Password(***)");
    let t = resolve_secret(&None, &None, &Some("printf 'tok\\nrest'".into())).unwrap();
    assert!(matches!(&t, Secret::OAuth2Token(p) if p == "tok"));
    assert!(resolve_secret(&Some("VARDVAL_SURELY_UNSET_VAR".into()), &None, &None).is_err());
    assert!(resolve_secret(&None, &Some("false".into()), &None).is_err());
}

#[test]
fn unknown_limit_keys_are_rejected_and_known_ones_read() {
    let d = tempfile::tempdir().unwrap();
    let ok = format!("{MIN}\n[limits]\nmax_message_bytes = 1000\nmax_pdf_pages = 7\n");
    let s = Settings::load(&write(d.path(), &ok)).unwrap();
    assert_eq!(s.limits.max_message_bytes(), 1000);
    assert_eq!(s.limits.batch_bytes(), 64 * 1024 * 1024, "default");
    let b = format!("{MIN}\n[limits]\nbatch_bytes = 1048576\n");
    assert_eq!(
        Settings::load(&write(d.path(), &b))
            .unwrap()
            .limits
            .batch_bytes(),
        1 << 20
    );
    let zero = format!("{MIN}\n[limits]\nbatch_bytes = 0\n");
    assert!(Settings::load(&write(d.path(), &zero)).is_err());
    assert_eq!(s.limits.document.max_pdf_pages, 7);
    assert_eq!(
        s.limits.document.max_zip_ratio,
        Limits::default().max_zip_ratio
    );
    let typo = format!("{MIN}\n[limits]\nmax_pdf_page = 7\n");
    assert!(Settings::load(&write(d.path(), &typo)).is_err());
}

#[test]
fn poison_and_reply_guards_have_defaults_and_are_read() {
    let d = tempfile::tempdir().unwrap();
    let s = Settings::load(&write(d.path(), MIN)).unwrap();
    assert_eq!(s.limits.max_attempts(), 3);
    assert_eq!(s.limits.message_budget(), Duration::from_secs(120));
    assert_eq!(s.replies.max_per_clinic_per_hour, 10);
    assert_eq!(s.replies.max_per_clinic_per_day, 40);
    assert_eq!(s.mailbox.quarantine_folder, "Karantan");
    let set = format!(
        "{MIN}\n[limits]\nmax_attempts = 5\nmessage_budget_secs = 9\n\
             [replies]\nmax_per_clinic_per_hour = 2\nmax_per_clinic_per_day = 3\n"
    );
    let s = Settings::load(&write(d.path(), &set)).unwrap();
    assert_eq!(s.limits.max_attempts(), 5);
    assert_eq!(s.limits.message_budget(), Duration::from_secs(9));
    assert_eq!(s.replies.max_per_clinic_per_hour, 2);
    assert_eq!(s.replies.max_per_clinic_per_day, 3);
    let zero = format!("{MIN}\n[limits]\nmax_attempts = 0\n");
    assert!(Settings::load(&write(d.path(), &zero)).is_err());
}

#[test]
fn mail_policy_defaults_and_bounds() {
    let d = tempfile::tempdir().unwrap();
    let s = Settings::load(&write(d.path(), MIN)).unwrap();
    assert_eq!(s.mailbox.mail_policy(), crate::mail::MailPolicy::default());
    let text = MIN.replace(
        "path = \"mail\"",
        "path = \"mail\"\ntrusted_authserv_ids = [\"MX.rjl.test\"]\nmax_mime_depth = 10",
    );
    let p = Settings::load(&write(d.path(), &text))
        .unwrap()
        .mailbox
        .mail_policy();
    assert_eq!(p.trusted_authserv_ids, vec!["mx.rjl.test".to_string()]);
    assert_eq!(p.max_mime_depth, 10);
    for bad in [
        "max_mime_depth = 0",
        "max_mime_depth = 1000",
        "trusted_authserv_ids = [\"\"]",
    ] {
        let text = MIN.replace("path = \"mail\"", &format!("path = \"mail\"\n{bad}"));
        assert!(Settings::load(&write(d.path(), &text)).is_err(), "{bad}");
    }
}

#[test]
fn unknown_keys_are_rejected() {
    let d = tempfile::tempdir().unwrap();
    let text = MIN.replace("[database]", "[database]\npassword = \"x\"");
    assert!(Settings::load(&write(d.path(), &text)).is_err());
}

#[test]
fn payout_settings_default_and_the_documented_example_reads() {
    let d = tempfile::tempdir().unwrap();
    let s = Settings::load(&write(d.path(), MIN)).unwrap();
    assert_eq!(s.payouts.schedule, "0 0 7 1 Mar,Jun *");
    assert!(s.payouts.debtor.name.is_empty());
    assert!(s.payouts.check_debtor().is_err());
    assert!(s.finance.emails.is_empty());
    // the [payouts]/[payouts.debtor]/[finance] part of docs/configuration.md's full example
    let doc = include_str!("../../docs/configuration.md");
    let from = doc.rfind("\n[payouts]\n").expect("example has [payouts]");
    let example = &doc[from..doc[from..].find("```").map(|i| from + i).unwrap()];
    let s = Settings::load(&write(d.path(), &format!("{MIN}{example}"))).unwrap();
    assert_eq!(s.payouts.csv().unwrap().separator, ';');
    s.payouts.check_debtor().unwrap();
    assert_eq!(s.finance.emails, vec!["ekonomi@rjl.test".to_string()]);
    let bad = format!("{MIN}[payouts]\ncsv_separator = \";;\"\n");
    assert!(Settings::load(&write(d.path(), &bad)).is_err());
    let bad =
        format!("{MIN}[payouts.debtor]\nname = \"R\"\niban = \"SE45 5000 0000 0583 9825 7467\"\n");
    let s = Settings::load(&write(d.path(), &bad)).unwrap();
    assert!(s.payouts.check_debtor().unwrap_err().contains("org_nr"));
}
