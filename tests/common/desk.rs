//! The reviewers' desk over a seeded ledger: the fixture registry imported, a handful of
//! fixture mails ingested (plans, a supplement, a final report, an unknown sender in triage),
//! and three accounts (reviewer, finance, coach), for the HTTP and browser tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use vardval::config::WebSettings;
use vardval::domain::access::Role;
use vardval::domain::rulebook::Rulebook;
use vardval::ports::{Clock, Fetched, ManualClock};
use vardval::reply::{Composer, Templates};
use vardval::store::Store;
use vardval::web::WebState;
use vardval::web::auth::hash_password;

/// Every seeded account has this password.
pub const PASSWORD: &str = "korrekt-häst-batteri";

/// The fixture mails the desk is seeded with, in delivery order.
pub const SEED_MAILS: &[&str] = &["01-", "02-", "07-", "11-", "04-", "18-"];

pub struct Desk {
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub archive: PathBuf,
    pub state: WebState,
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Seed the ledger at `url` (archive under `dir`) and build the desk's state at
/// 2026-02-23 09:00 (after milestone 1's deadline).
/// The coach account `coach` coaches Björkdalen and Ekbacken.
pub async fn seed(url: &str, dir: &Path, web: WebSettings) -> Desk {
    seed_with(url, dir, web, Options::default()).await
}

/// `[reviewers]` settings that change the desk (default: as `seed`).
#[derive(Debug, Clone)]
pub struct Options {
    /// `two_person_rule`; also adds a second reviewer account, `granskare2`.
    pub two_person_rule: bool,
    /// `coach_clinics` (default: `coach` coaches Björkdalen and Ekbacken).
    pub coach_clinics: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            two_person_rule: false,
            coach_clinics: [(
                "coach".to_string(),
                vec!["bjorkdalen".to_string(), "ekbacken".to_string()],
            )]
            .into(),
        }
    }
}

/// [`seed`] with these options.
pub async fn seed_with(url: &str, dir: &Path, web: WebSettings, opts: Options) -> Desk {
    let clock = Arc::new(ManualClock::new(t("2026-02-23T08:00:00Z")));
    let archive = dir.join("archive");
    let p = super::pipeline(url, clock.clone(), &archive).await;
    let csv = std::fs::read_to_string(super::root().join("fixtures/mail/clinics.csv")).unwrap();
    vardval::commands::clinics::import_text(&p.store, &csv, 2026, "test", clock.now())
        .await
        .expect("import the fixture registry");
    let fx = super::mail_fixtures();
    for prefix in SEED_MAILS {
        let f = fx.iter().find(|f| f.name.starts_with(prefix)).unwrap();
        p.ingest_one(&Fetched {
            source_key: format!("maildir:{}", f.name),
            bytes: f.bytes.clone(),
            received_at: f.received.unwrap_or_else(|| clock.now()),
            handle: f.name.clone(),
            only_header_of: None,
            whole_file: None,
        })
        .await
        .unwrap_or_else(|e| panic!("ingest {}: {e}", f.name));
    }
    let store = p.store.clone();
    for (user, role) in [
        ("granskare", Role::Reviewer),
        ("ekonomi", Role::Finance),
        ("coach", Role::Coach),
    ]
    .into_iter()
    .chain(
        opts.two_person_rule
            .then_some(("granskare2", Role::Reviewer)),
    ) {
        let hash = hash_password(PASSWORD).unwrap();
        assert!(
            store
                .add_user(user, role, &hash, clock.now())
                .await
                .unwrap()
        );
    }
    let desk = review_desk(&store, vec!["coach@rjl.test".into()], opts.two_person_rule);
    let reingest = Arc::new(LedgerReingest {
        url: url.to_string(),
        clock: clock.clone(),
        archive: archive.clone(),
    });
    let raw_archive = Arc::new(vardval::adapters::archive::Archive::new(archive.clone()));
    let state = WebState::new(web, desk, clock.clone(), raw_archive)
        .unwrap()
        .with_reingest(reingest)
        .with_coach_clinics(&opts.coach_clinics);
    Desk {
        store,
        clock,
        archive,
        state,
    }
}

/// Records assigned triage mail as `vardval run` does: a pipeline whose registry is read from
/// the ledger at that moment.
struct LedgerReingest {
    url: String,
    clock: Arc<ManualClock>,
    archive: PathBuf,
}

impl vardval::web::Reingest for LedgerReingest {
    fn reingest<'a>(
        &'a self,
        message: &'a vardval::store::MessageRow,
        triage_id: i64,
    ) -> futures::future::BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(async move {
            let mut p = super::pipeline(&self.url, self.clock.clone(), &self.archive).await;
            p.registry =
                vardval::commands::clinics::registry_from_records(&p.store.clinics().await?, 2026)?
                    .into();
            let bytes = p.archive.get(&message.sha256)?;
            let outcome = p
                .ingest_one(&Fetched {
                    source_key: format!("triage:{triage_id}"),
                    bytes,
                    received_at: message.received_at,
                    handle: String::new(),
                    only_header_of: None,
                    whole_file: None,
                })
                .await?;
            p.store.close().await;
            Ok(format!("{outcome:?}"))
        })
    }
}

/// Bjorkdalen's listed inhabitants, payee and organisation number (valid checksums),
/// imported the real way (for the finance pages).
pub async fn give_bjorkdalen_a_payee(d: &Desk, listed: i64) {
    use vardval::domain::ids::luhn_check_digit;
    let body = "5012345";
    let org = "212000017";
    let csv = format!(
        "id,name,emails,listed_inhabitants,org_nr,payee\n\
         bjorkdalen,Vårdcentralen Björkdalen,kontakt@bjorkdalen.vc.test;verksamhetschef@bjorkdalen.vc.test,{listed},{}-{}{},bg:{body}{}\n",
        &org[..6],
        &org[6..],
        luhn_check_digit(org),
        luhn_check_digit(body)
    );
    vardval::commands::clinics::import_text(&d.store, &csv, 2026, "test", d.clock.now())
        .await
        .expect("import the payee");
}

/// The review core over `store`: the embedded templates and rulebook, `vardval@rjl.test` as the
/// sender, these coaches in Cc of red decisions.
pub fn review_desk(
    store: &Store,
    coach_emails: Vec<String>,
    two_person_rule: bool,
) -> vardval::review::Desk {
    vardval::review::Desk {
        store: store.clone(),
        composer: Composer {
            templates: Templates::load(None).unwrap(),
            rulebook: Rulebook::embedded(),
            from: "Vårdval <vardval@rjl.test>".parse().unwrap(),
        },
        coach_emails,
        two_person_rule,
    }
}
