//! Coaches see only their clinics (part of `tests/web_http.rs`), both databases: the board,
//! its CSV, submission pages and original files of other clinics are hidden from a coach
//! (404, as an unknown id), reviewers still see everything, and a coach without clinics gets
//! an empty board with a Swedish explanation.

use super::*;

crate::both!(
    a_coach_sees_only_their_clinics,
    a_coach_without_clinics_sees_an_explanation,
);

async fn a_coach_sees_only_their_clinics(url: String) {
    let dir = tempfile::tempdir().unwrap();
    // `coach` coaches Björkdalen and Ekbacken (tests/common/desk.rs).
    let d = desk(&url, dir.path()).await;
    let subs = d.store.submissions().await.unwrap();
    let own = subs.iter().find(|s| s.clinic_id == "bjorkdalen").unwrap();
    let other = subs
        .iter()
        .find(|s| s.clinic_id != "bjorkdalen" && s.clinic_id != "ekbacken")
        .expect("a submission of a clinic the coach does not coach");
    let mut coach = Client::new(&d);
    coach.sign_in("coach", PASSWORD).await;
    let board = coach.get("/tavla").await;
    assert_eq!(board.status, StatusCode::OK);
    let html = board.text();
    assert!(html.contains("Vårdcentralen Björkdalen") && html.contains("Vårdcentralen Ekbacken"));
    for hidden in [
        "Vårdcentralen Sjöudden",
        "Vårdcentralen Älvsnäs",
        "Vårdcentralen Aspvik",
    ] {
        assert!(!html.contains(hidden), "{hidden} is not the coach's");
    }
    assert!(html.contains("(4 rader)"), "2 clinics × 2 milestones");
    let csv = coach.get("/tavla.csv").await.text();
    let clinics: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(clinics, ["bjorkdalen", "ekbacken"].into());

    assert_eq!(
        coach.get(&format!("/inlamning/{}", own.id)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        coach
            .get(&format!("/inlamning/{}/original", own.id))
            .await
            .status,
        StatusCode::OK
    );
    for path in [
        format!("/inlamning/{}", other.id),
        format!("/inlamning/{}/original", other.id),
    ] {
        assert_eq!(
            coach.get(&path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // A reviewer reads every clinic.
    let mut reviewer = Client::new(&d);
    reviewer.sign_in("granskare", PASSWORD).await;
    assert_eq!(
        reviewer
            .get(&format!("/inlamning/{}", other.id))
            .await
            .status,
        StatusCode::OK
    );
    let all = reviewer.get("/tavla").await.text();
    assert!(all.contains("Vårdcentralen Sjöudden"));
    d.store.close().await;
}

async fn a_coach_without_clinics_sees_an_explanation(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let hash = vardval::web::auth::hash_password(PASSWORD).unwrap();
    assert!(
        d.store
            .add_user(
                "ny.coach",
                vardval::domain::access::Role::Coach,
                &hash,
                d.clock.now()
            )
            .await
            .unwrap()
    );
    let mut coach = Client::new(&d);
    coach.sign_in("ny.coach", PASSWORD).await;
    let board = coach.get("/tavla").await;
    assert_eq!(board.status, StatusCode::OK);
    let html = board.text();
    assert!(html.contains("inga vårdcentraler är kopplade till ditt konto"));
    assert!(html.contains("(0 rader)"));
    assert!(!html.contains("Vårdcentralen Björkdalen"));
    let csv = coach.get("/tavla.csv").await.text();
    assert_eq!(csv.lines().count(), 1, "only the header: {csv}");
    let any = d.store.submissions().await.unwrap()[0].id;
    assert_eq!(
        coach.get(&format!("/inlamning/{any}")).await.status,
        StatusCode::NOT_FOUND
    );
    d.store.close().await;
}
