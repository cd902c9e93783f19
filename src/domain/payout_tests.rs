//! Unit and property tests of [`super::plan`] and [`super::reclaim_candidates`].

use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn money() -> MoneyRules {
    MoneyRules {
        base_ore: 10_000_000,
        per_inhabitant_ore: 1_000,
        first_instalment_percent: 50,
        rounding_unit_ore: 1,
        inhabitants_reference_date: None,
    }
}

fn rules() -> BTreeMap<i32, YearRules> {
    let mut m = BTreeMap::new();
    m.insert(
        2026,
        YearRules {
            money: money(),
            report_due_end: Utc.with_ymd_and_hms(2026, 12, 1, 23, 0, 0).unwrap(),
        },
    );
    m
}

fn clinic(id: &str, listed: u64) -> ClinicYear {
    ClinicYear {
        clinic_id: id.into(),
        year: 2026,
        name: format!("Vårdcentralen {id}"),
        org_nr: Some("212000-0142".into()),
        payee: Some("bg:5050-1055".into()),
        listed: Some(Listed {
            count: listed,
            reference_date: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        }),
        plan_approved: false,
        report_approved: false,
        presented: false,
        reclaim: None,
    }
}

fn paid_from(plan: &Plan) -> Vec<PaidLine> {
    plan.lines
        .iter()
        .map(|l| PaidLine {
            clinic_id: l.clinic_id.clone(),
            year: l.year,
            instalment: l.instalment,
            kind: l.kind,
            amount_ore: l.amount_ore,
        })
        .collect()
}

#[test]
fn a_pre_grade_never_pays_and_a_confirmed_green_plan_pays_instalment_one() {
    let mut f = Facts {
        clinics: vec![clinic("vc-a", 8_000)],
        paid: vec![],
        rules: rules(),
    };
    assert!(plan(&f).lines.is_empty());
    f.clinics[0].plan_approved = true;
    let p = plan(&f);
    assert_eq!(p.lines.len(), 1);
    assert_eq!(p.lines[0].kind, LineKind::Payment);
    assert_eq!(p.lines[0].instalment, 1);
    assert_eq!(p.lines[0].amount_ore, 9_000_000); // (100 000 + 80 000) / 2 kr
    // once sealed, nothing more is due
    f.paid = paid_from(&p);
    assert!(plan(&f).lines.is_empty());
}

#[test]
fn a_correction_after_payment_is_a_new_line_never_an_edit() {
    let mut c = clinic("vc-a", 8_000);
    c.plan_approved = true;
    let mut f = Facts {
        clinics: vec![c],
        paid: vec![],
        rules: rules(),
    };
    f.paid = paid_from(&plan(&f));
    f.clinics[0].listed.as_mut().unwrap().count = 8_100; // +100 inhabitants x 10 kr / 2
    let p = plan(&f);
    assert_eq!(p.lines.len(), 1);
    assert_eq!(p.lines[0].kind, LineKind::Correction);
    assert_eq!(p.lines[0].amount_ore, 50_000);
}

#[test]
fn a_negative_correction_larger_than_the_payment_blocks_the_clinic() {
    let mut c = clinic("vc-a", 8_000);
    c.plan_approved = true;
    let mut f = Facts {
        clinics: vec![c, clinic("vc-b", 4_000)],
        paid: vec![],
        rules: rules(),
    };
    f.paid = paid_from(&plan(&f));
    f.clinics[0].listed.as_mut().unwrap().count = 7_000;
    f.clinics[1].plan_approved = true;
    let p = plan(&f);
    assert_eq!(p.blocked.len(), 1);
    assert_eq!(p.blocked[0].clinic_id, "vc-a");
    assert_eq!(
        p.blocked[0].reason,
        BlockReason::NegativeNet { net_ore: -500_000 }
    );
    assert!(p.blocked[0].reason.text().contains("5\u{a0}000,00"));
    // the other clinic is paid
    assert_eq!(p.lines.len(), 1);
    assert_eq!(p.lines[0].clinic_id, "vc-b");
    // the presentation's payment covers the negative correction: both go out together
    f.paid.extend(paid_from(&p));
    f.clinics[0].presented = true;
    let p = plan(&f);
    let a: Vec<_> = p.lines.iter().filter(|l| l.clinic_id == "vc-a").collect();
    assert_eq!(a.len(), 2);
    assert_eq!(
        a.iter().map(|l| l.amount_ore).sum::<i64>(),
        8_500_000 - 500_000
    );
}

#[test]
fn bad_payee_and_missing_inhabitants_stop_only_that_clinic() {
    let mut a = clinic("vc-a", 8_000);
    a.payee = Some("bg:5050-1056".into());
    a.plan_approved = true;
    let mut b = clinic("vc-b", 8_000);
    b.listed = None;
    b.plan_approved = true;
    let mut c = clinic("vc-c", 8_000);
    c.plan_approved = true;
    let f = Facts {
        clinics: vec![a, b, c],
        paid: vec![],
        rules: rules(),
    };
    let p = plan(&f);
    assert_eq!(p.lines.len(), 1);
    assert_eq!(p.lines[0].clinic_id, "vc-c");
    assert!(matches!(p.blocked[0].reason, BlockReason::BadPayee { .. }));
    assert!(p.blocked[0].reason.text().contains("kontrollsiffra"));
    assert_eq!(
        p.blocked[1].reason,
        BlockReason::MissingListed { year: 2026 }
    );
}

#[test]
fn a_wrong_reference_date_blocks() {
    let mut r = rules();
    r.get_mut(&2026).unwrap().money.inhabitants_reference_date =
        NaiveDate::from_ymd_opt(2026, 1, 1);
    let mut a = clinic("vc-a", 8_000);
    a.plan_approved = true;
    let p = plan(&Facts {
        clinics: vec![a],
        paid: vec![],
        rules: r,
    });
    assert!(matches!(
        p.blocked[0].reason,
        BlockReason::WrongReferenceDate { .. }
    ));
}

#[test]
fn reclaim_is_proposed_after_the_deadline_and_taken_back_only_when_accepted() {
    let mut a = clinic("vc-a", 8_000);
    a.plan_approved = true;
    let mut f = Facts {
        clinics: vec![a, clinic("vc-b", 5_000)],
        paid: vec![],
        rules: rules(),
    };
    f.paid = paid_from(&plan(&f));
    let before = Utc.with_ymd_and_hms(2026, 12, 1, 22, 59, 0).unwrap();
    let after = Utc.with_ymd_and_hms(2026, 12, 2, 6, 0, 0).unwrap();
    assert!(reclaim_candidates(&f, before).is_empty());
    assert_eq!(
        reclaim_candidates(&f, after),
        vec![("vc-a".to_string(), 2026)]
    );
    f.clinics[0].reclaim = Some(Reclaim::Proposed);
    assert!(reclaim_candidates(&f, after).is_empty());
    assert!(
        plan(&f).lines.is_empty(),
        "a proposal alone takes nothing back"
    );
    f.clinics[0].reclaim = Some(Reclaim::Rejected);
    assert!(plan(&f).lines.is_empty());
    f.clinics[0].reclaim = Some(Reclaim::Accepted);
    let p = plan(&f);
    assert_eq!(p.lines.len(), 1);
    assert_eq!(p.lines[0].kind, LineKind::Reclaim);
    assert_eq!(p.lines[0].amount_ore, -9_000_000);
    assert!(p.blocked.is_empty(), "a reclaim is invoiced, not blocked");
}

/// One event in a clinic's year.
#[derive(Debug, Clone)]
enum Ev {
    Plan(bool),
    Presented,
    Listed(u64),
    Reclaim(Reclaim),
    Run,
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        any::<bool>().prop_map(Ev::Plan),
        Just(Ev::Presented),
        (0u64..40_000).prop_map(Ev::Listed),
        prop_oneof![
            Just(Reclaim::Proposed),
            Just(Reclaim::Accepted),
            Just(Reclaim::Rejected)
        ]
        .prop_map(Ev::Reclaim),
        Just(Ev::Run),
    ]
}

fn apply(c: &mut ClinicYear, e: &Ev) {
    match e {
        Ev::Plan(g) => c.plan_approved = *g,
        Ev::Presented => c.presented = true,
        Ev::Listed(n) => c.listed.as_mut().unwrap().count = *n,
        Ev::Reclaim(r) => c.reclaim = Some(*r),
        Ev::Run => {}
    }
}

/// The expected total per instalment for a clinic's final state: written from the rules,
/// not from the code under test.
fn expected(c: &ClinicYear, m: &MoneyRules) -> [i64; 2] {
    let listed = c.listed.unwrap().count as i64;
    let total = m.base_ore + m.per_inhabitant_ore * listed;
    let first = total * i64::from(m.first_instalment_percent) / 100;
    let first = first - first % m.rounding_unit_ore;
    [
        if c.plan_approved && c.reclaim != Some(Reclaim::Accepted) {
            first
        } else {
            0
        },
        if c.presented { total - first } else { 0 },
    ]
}

proptest! {
    #[test]
    fn never_paid_twice_whatever_the_order(events in prop::collection::vec(ev(), 0..30), listed in 0u64..40_000) {
        let mut f = Facts { clinics: vec![clinic("vc-a", listed)], paid: vec![], rules: rules() };
        let mut runs = events.clone();
        runs.push(Ev::Run);
        for e in &runs {
            apply(&mut f.clinics[0], e);
            if let Ev::Run = e {
                let p = plan(&f);
                f.paid.extend(paid_from(&p));
                for k in [1u8, 2] {
                    let payments = f.paid.iter().filter(|l| l.instalment == k && l.kind == LineKind::Payment).count();
                    prop_assert!(payments <= 1, "instalment {} paid {} times", k, payments);
                }
                if p.blocked.is_empty() {
                    let want = expected(&f.clinics[0], &money());
                    for k in [1u8, 2] {
                        let got: i64 = f.paid.iter().filter(|l| l.instalment == k).map(|l| l.amount_ore).sum();
                        prop_assert_eq!(got, want[usize::from(k - 1)]);
                    }
                    prop_assert!(plan(&f).lines.is_empty(), "a second run right after pays nothing");
                }
            }
        }
    }

    #[test]
    fn the_final_state_decides_not_the_order(mut events in prop::collection::vec(ev(), 0..20), seed in any::<u64>()) {
        // the same facts reached in a different order, with runs anywhere in between, end with
        // the same total per instalment once nothing is blocked
        events.retain(|e| !matches!(e, Ev::Run | Ev::Listed(_)));
        let finals = |evs: &[Ev]| {
            let mut c = clinic("vc-a", 9_000);
            for e in evs { apply(&mut c, e); }
            c
        };
        let target = finals(&events);
        let mut f = Facts { clinics: vec![clinic("vc-a", 12_000)], paid: vec![], rules: rules() };
        // a shuffled walk with runs after every step, then the final facts and one more run
        let mut order: Vec<usize> = (0..events.len()).collect();
        let mut s = seed;
        for i in (1..order.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        for i in order {
            apply(&mut f.clinics[0], &events[i]);
            let p = plan(&f);
            f.paid.extend(paid_from(&p));
        }
        f.clinics[0] = target.clone();
        let p = plan(&f);
        f.paid.extend(paid_from(&p));
        if p.blocked.is_empty() {
            let want = expected(&target, &money());
            for k in [1u8, 2] {
                let got: i64 = f.paid.iter().filter(|l| l.instalment == k).map(|l| l.amount_ore).sum();
                prop_assert_eq!(got, want[usize::from(k - 1)]);
                let payments = f.paid.iter().filter(|l| l.instalment == k && l.kind == LineKind::Payment).count();
                prop_assert!(payments <= 1);
            }
        }
    }
}

#[test]
fn the_decision_mail_sentence_names_the_amount() {
    let t = instalment_text(&money(), 1, Some(8_000)).unwrap();
    assert_eq!(
        t,
        "Beloppet är 90\u{a0}000,00\u{a0}kr (50 % av årsersättningen 180\u{a0}000,00\u{a0}kr för 8000 listade invånare)."
    );
    assert!(instalment_text(&money(), 1, None).is_none());
    assert!(instalment_text(&money(), 3, Some(1)).is_none());
}
