//! Unit tests of the analysis steps.

use super::*;
use crate::domain::document::Block;
use measures::find_goal;

fn rb() -> Rulebook {
    Rulebook::embedded()
}

fn h(t: &str) -> Block {
    Block::Heading {
        level: 1,
        text: t.into(),
    }
}
fn p(t: &str) -> Block {
    Block::Paragraph {
        text: t.into(),
        bold: false,
    }
}
fn b(t: &str) -> Block {
    Block::Paragraph {
        text: t.into(),
        bold: true,
    }
}
const LONG: &str = "Vi har under hösten sett att många patienter med diabetes inte får sin årliga fotundersökning i tid, vilket påverkar både livskvalitet och risken för komplikationer för de listade.";

fn doc(blocks: Vec<Block>) -> Document {
    Document {
        blocks,
        ..Default::default()
    }
}

#[test]
fn heading_forms() {
    let rb = rb();
    let m = Matcher::new(&rb);
    let secs = |t: &str, styled| m.heading(t, styled, false).map(|h| h.sections);
    assert_eq!(secs("A. Val av förbättringsområde", false), Some(vec!['A']));
    assert_eq!(secs("B) Bakgrund", false), Some(vec!['B']));
    assert_eq!(secs("C: Övergripande mål", false), Some(vec!['C']));
    assert_eq!(secs("D – Nuläge", false), Some(vec!['D']));
    assert_eq!(secs("4. Nuläge", false), Some(vec!['D']));
    assert_eq!(secs("NULAGE", false), Some(vec!['D']));
    assert_eq!(secs("Overgripande mal", false), Some(vec!['C']));
    assert_eq!(secs("D–E. Nuläge och analys", false), Some(vec!['D', 'E']));
    assert_eq!(secs("Nuläge och analys", true), Some(vec!['D', 'E']));
    assert_eq!(secs("Syfte och bakgrund", false), Some(vec!['B']));
    assert_eq!(secs("Orsaksanalys", false), Some(vec!['E']));
    assert_eq!(secs("Sammanfattning", false), Some(vec!['I']));
    assert_eq!(
        secs("I dag får 42 % av patienterna sin undersökning.", false),
        None
    );
    assert_eq!(
        secs("Beskriv varför detta förbättringsområde är valt?", true),
        None
    );
    let toc = m
        .heading("A. Val av förbättringsområde ........ 3", false, false)
        .unwrap();
    assert!(toc.toc_like);
}

#[test]
fn green_plan_with_baseline_goal_and_sources() {
    let d = doc(vec![
        p("Projektplan 2026 – Vårdcentralen Testby"),
        h("A. Val av förbättringsområde"),
        p(&format!(
            "{LONG} Valet bygger på PrimarvardsKvalitet och Länsbarometern."
        )),
        h("B. Bakgrund"),
        p(LONG),
        h("C. Övergripande mål"),
        p(
            "Andelen patienter med årlig fotundersökning ska öka från 42 % till 80 % senast december 2026, med delmål varje kvartal.",
        ),
        h("D. Nuläge"),
        p(
            "I dag får 42 % av patienterna med diabetes sin fotundersökning inom rekommenderad tid enligt vår uppföljning.",
        ),
        h("E. Analys av nuläge"),
        p(LONG),
        h("F. Prioritering av förändringar som ska testas"),
        p(LONG),
    ]);
    let a = analyse(&d, &rb(), None);
    assert_eq!(a.milestone, 1);
    assert_eq!(a.grade, Grade::Green, "{a:#?}");
    assert!(a.baseline.found);
    assert_eq!(a.baseline.values, vec!["42 %"]);
    assert!(a.goal.measurable && a.goal.time_bound);
    assert_eq!(
        a.data_sources,
        vec!["PrimärvårdsKvalitet", "Länsbarometern"]
    );
    assert_eq!(a.section('G').status, Status::Ok);
    assert!(!a.section('H').required);
}

#[test]
fn placeholders_instructions_and_toc_are_not_content() {
    let d = doc(vec![
        p("Innehållsförteckning"),
        p("A. Val av förbättringsområde\t2"),
        p("B. Bakgrund\t2"),
        p("C. Övergripande mål\t3"),
        b("A. Val av förbättringsområde"),
        p(LONG),
        b("B. Bakgrund"),
        p(
            "Beskriv varför detta förbättringsområde är valt? Varför just nu? Samt hur det relaterar patientnytta ur ett kliniskt perspektiv utifrån den listade befolkningens behov.",
        ),
        b("C. Övergripande mål"),
        p("Ej ifyllt"),
        b("D. Nuläge"),
        p("Se bilaga"),
    ]);
    let a = analyse(&d, &rb(), Some(1));
    assert_eq!(a.section('A').status, Status::Ok);
    assert_eq!(a.section('B').status, Status::Weak);
    assert_eq!(a.section('C').status, Status::Weak);
    assert_eq!(a.section('D').status, Status::Weak);
    assert_eq!(a.section('E').status, Status::Missing);
    assert_eq!(a.grade, Grade::Red);
}

#[test]
fn template_table_is_unrolled() {
    let rows = vec![
        vec!["A. Val av förbättringsområde".to_string(), LONG.to_string()],
        vec!["B. Bakgrund".to_string(), LONG.to_string()],
        vec!["C. Övergripande mål".to_string(), String::new()],
    ];
    let a = analyse(&doc(vec![Block::Table { rows }]), &rb(), Some(1));
    assert_eq!(a.section('A').status, Status::Ok);
    assert_eq!(a.section('B').status, Status::Ok);
    assert_eq!(a.section('C').status, Status::Weak);
}

#[test]
fn h_needs_two_measurement_points() {
    let one = doc(vec![
        p("Slutrapport"),
        h("H. Analys och resultat"),
        p(&format!("{LONG} Efter testerna är andelen nu 58 %.")),
    ]);
    let a = analyse(&one, &rb(), None);
    assert_eq!(a.milestone, 2);
    assert_eq!(a.h_points, Some(1));
    assert_eq!(a.section('H').status, Status::Weak);
    assert_eq!(a.notes.len(), 1);
    let table = doc(vec![
        h("H. Analys och resultat"),
        p(LONG),
        Block::Table {
            rows: vec![
                vec!["Mätpunkt".into(), "Andel".into()],
                vec!["Mars".into(), "45 %".into()],
                vec!["Juni".into(), "58 %".into()],
            ],
        },
    ]);
    let a = analyse(&table, &rb(), Some(2));
    assert_eq!(a.h_points, Some(2));
    assert_eq!(a.section('H').status, Status::Ok);
}

#[test]
fn goal_flags() {
    let g = |t: &str| find_goal(&[t.to_string()]);
    let both = g("Andelen ska öka till 80 % senast december 2026.");
    assert!(both.measurable && both.time_bound);
    let period = g("Vi vill förbättra flödet för patienterna inom sex månader.");
    assert!(!period.measurable && period.time_bound);
    let not_time = g("Väntetiden ska vara högst 14 dagar för alla patienter.");
    assert!(not_time.measurable && !not_time.time_bound);
    let neither = g("Vi vill att patienterna ska bli mer nöjda med vården.");
    assert!(neither.found && !neither.measurable && !neither.time_bound);
    let year_only = g("Målet är att arbeta bättre under 2026 med detta.");
    assert!(!year_only.measurable && year_only.time_bound);
}

#[test]
fn sources_only_from_the_body() {
    let mut d = doc(vec![p(
        "Vi följer LANSBAROMETERN och vårdcentralens dashboard noga.",
    )]);
    d.furniture.push("Källa: PrimärvårdsKvalitet".into());
    let a = analyse(&d, &rb(), Some(1));
    assert_eq!(
        a.data_sources,
        vec!["Vårdcentralens dashboard", "Länsbarometern"]
    );
}
