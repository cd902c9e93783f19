//! Tests of the payout file writers: exact CSV bytes, stable digests, and pain.001 validated
//! against the official XSD with xmllint (`tests/fetch-xsd.sh` provides the schema).

use super::*;
use chrono::TimeZone;

pub(crate) fn sample() -> Batch {
    let line = |seq: u32, clinic: &str, payee: &str, inst: u8, kind: LineKind, amount: i64| Line {
        seq,
        clinic_id: clinic.into(),
        name: format!("Vårdcentralen {clinic} & Co"),
        org_nr: Some("212000-0142".into()),
        payee: payee.into(),
        year: 2026,
        instalment: inst,
        kind,
        amount_ore: amount,
        reference: reference(
            "Vårdval {year} del {instalment} {kind}",
            clinic,
            2026,
            inst,
            kind,
        ),
    };
    Batch {
        header: Header {
            number: 3,
            due_date: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            sealed_at: Utc.with_ymd_and_hms(2027, 3, 1, 6, 0, 0).unwrap(),
            debtor: Debtor {
                name: "Region Exempel".into(),
                org_nr: "232100-0057".into(),
                iban: "SE45 5000 0000 0583 9825 7466".into(),
                bic: "ESSESESS".into(),
                initiating_party_id: None,
            },
            csv: CsvFormat::default(),
            stem: "vardval-utbetalning-0003".into(),
            timezone: "Europe/Stockholm".into(),
        },
        lines: vec![
            line(1, "vc-a", "bg:5050-1055", 1, LineKind::Payment, 9_000_050),
            line(2, "vc-b", "pg:4-2", 1, LineKind::Payment, 6_500_000),
            line(
                3,
                "vc-c",
                "iban:SE4550000000058398257466",
                2,
                LineKind::Payment,
                7_250_000,
            ),
            line(
                4,
                "vc-c",
                "iban:SE4550000000058398257466",
                1,
                LineKind::Correction,
                -50_000,
            ),
            line(5, "vc-d", "bg:5050-1055", 1, LineKind::Reclaim, -8_000_000),
        ],
        blocked: vec![BlockedLine {
            clinic_id: "vc-e".into(),
            reason: "antal listade invånare för 2026 saknas i registret".into(),
        }],
    }
}

#[test]
fn csv_has_bom_semicolons_decimal_comma_and_quotes() {
    let b = sample();
    let text = String::from_utf8(csv::write(&b)).unwrap();
    assert!(text.starts_with('\u{feff}'));
    let rows: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
    assert_eq!(rows[0], csv::COLUMNS.join(";"));
    assert_eq!(
        rows[1],
        "3;vc-a;Vårdcentralen vc-a & Co;212000-0142;bankgiro;5050-1055;90000,50;2026;1;utbetalning;Vårdval 2026 del 1 utbetalning"
    );
    assert_eq!(
        rows[4],
        "3;vc-c;Vårdcentralen vc-c & Co;212000-0142;iban;SE4550000000058398257466;-500,00;2026;1;korrigering;Vårdval 2026 del 1 korrigering"
    );
    assert_eq!(
        rows.len(),
        7,
        "header, five lines, and the empty tail after the last CRLF"
    );
    let mut b2 = b.clone();
    b2.header.csv = CsvFormat {
        separator: ',',
        bom: false,
        decimal_comma: false,
    };
    b2.lines[0].name = "Hälsan, Norr \"Ö\"".into();
    let text = String::from_utf8(csv::write(&b2)).unwrap();
    assert!(text.starts_with("batch,"));
    assert!(text.contains(",\"Hälsan, Norr \"\"Ö\"\"\",212000-0142,bankgiro,5050-1055,90000.50,"));
}

#[test]
fn transfers_net_per_clinic_and_reclaims_are_invoiced() {
    let b = sample();
    let t: Vec<(&str, i64)> = b
        .transfers()
        .iter()
        .map(|t| (t.clinic_id, t.amount_ore))
        .collect();
    assert_eq!(
        t,
        vec![
            ("vc-a", 9_000_050),
            ("vc-b", 6_500_000),
            ("vc-c", 7_200_000)
        ]
    );
    assert_eq!(
        b.invoices(),
        vec![("vc-d", "Vårdcentralen vc-d & Co", 8_000_000)]
    );
    assert_eq!(
        b.total_ore(),
        9_000_050 + 6_500_000 + 7_250_000 - 50_000 - 8_000_000
    );
}

#[test]
fn the_digest_covers_every_field_and_files_are_deterministic() {
    let b = sample();
    let d = b.digest();
    assert_eq!(d.len(), 64);
    assert_eq!(b.files().unwrap(), sample().files().unwrap());
    let mut c = sample();
    c.lines[2].amount_ore += 1;
    assert_ne!(c.digest(), d);
    let mut c = sample();
    c.lines[0].reference.push('x');
    assert_ne!(c.digest(), d);
}

#[test]
fn summary_escapes_and_names_what_matters() {
    let html = summary::write(&sample());
    assert!(html.contains("Vårdcentralen vc-a &amp; Co"));
    assert!(!html.contains("vc-a & Co"));
    assert!(html.contains("1\u{a0}mars\u{a0}2027") || html.contains("1 mars 2027"));
    assert!(html.contains("Återkrav att fakturera"));
    assert!(html.contains("antal listade invånare för 2026 saknas"));
    assert!(html.contains(&sample().digest()));
}

/// The pain.001.001.09 XSD: `VARDVAL_PAIN001_XSD`, else what `tests/fetch-xsd.sh` left in the
/// target dir.
pub(crate) fn xsd() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("VARDVAL_PAIN001_XSD") {
        return p.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_string());
    let p = std::path::Path::new(&target).join("xsd/sepaxml-2.7.0/pain.001.001.09.xsd");
    assert!(
        p.exists(),
        "the pain.001.001.09 XSD is missing: run `bash tests/fetch-xsd.sh` (tests/run.sh does)"
    );
    p
}

/// Validates with `xmllint --schema`; returns xmllint's complaint on failure.
pub(crate) fn validate(xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pain001.xml");
    std::fs::write(&f, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd())
        .arg(&f)
        .output()
        .expect("xmllint (Debian libxml2-utils) must be installed: tests/run.sh installs it");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn pain001_validates_against_the_official_xsd() {
    let b = sample();
    let xml = pain001::write(&b).unwrap();
    validate(&xml).unwrap();
    assert!(xml.contains("<NbOfTxs>3</NbOfTxs>"));
    assert!(xml.contains("<CtrlSum>227000.50</CtrlSum>"));
    assert!(xml.contains("<Id>50501055</Id><SchmeNm><Prtry>BGNR</Prtry>"));
    assert!(xml.contains("<MmbId>9960</MmbId>"));
    assert!(xml.contains("<IBAN>SE4550000000058398257466</IBAN>"));
    assert!(xml.contains("<Dt>2027-03-01</Dt>"));
    assert!(xml.contains("Vårdcentralen vc-a &amp; Co"));
    // the validator can fail: a broken document is refused
    let broken = xml.replace("<PmtMtd>TRF</PmtMtd>", "<PmtMtd>XXX</PmtMtd>");
    assert!(validate(&broken).is_err());
}

#[test]
fn pain001_refuses_a_bad_payer_account() {
    let mut b = sample();
    b.header.debtor.iban = "SE45 5000 0000 0583 9825 7467".into();
    assert!(pain001::write(&b).unwrap_err().contains("iban"));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "Vård", "å", "Ö", ";", "\"", "&", "<", ">", " ", "'", "x", ",", "\n",
            ]),
            1..12,
        )
        .prop_map(|v| v.concat())
    }

    fn batch() -> impl Strategy<Value = Batch> {
        prop::collection::vec(
            (
                0usize..6,
                name(),
                prop::sample::select(vec![
                    "bg:5050-1055".to_string(),
                    "pg:4-2".to_string(),
                    "iban:SE4550000000058398257466".to_string(),
                ]),
                1u8..=2,
                -100_000_000i64..1_000_000_000,
                any::<bool>(),
            ),
            0..25,
        )
        .prop_map(|rows| {
            let mut b = sample();
            b.lines = rows
                .into_iter()
                .enumerate()
                .map(|(i, (c, n, payee, inst, amount, comma))| {
                    b.header.csv.decimal_comma = comma;
                    Line {
                        seq: i as u32 + 1,
                        clinic_id: format!("vc-{c}"),
                        name: n,
                        org_nr: None,
                        payee,
                        year: 2026,
                        instalment: inst,
                        kind: if amount < 0 {
                            LineKind::Correction
                        } else {
                            LineKind::Payment
                        },
                        amount_ore: amount,
                        reference: "Vårdval 2026".into(),
                    }
                })
                .collect();
            b
        })
    }

    fn ore_of(s: &str) -> i64 {
        let neg = s.starts_with('-');
        let t = s.trim_start_matches('-').replace(',', ".");
        let (kr, o) = t.split_once('.').unwrap();
        assert_eq!(o.len(), 2);
        let v = kr.parse::<i64>().unwrap() * 100 + o.parse::<i64>().unwrap();
        if neg { -v } else { v }
    }

    proptest! {
        #[test]
        fn csv_and_pain001_carry_every_ore(b in batch()) {
            // the CSV parses back (any name) to the same lines and amounts
            let bytes = csv::write(&b);
            let text = String::from_utf8(bytes).unwrap();
            let mut r = ::csv::ReaderBuilder::new()
                .delimiter(b';')
                .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
            let rows: Vec<::csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
            prop_assert_eq!(rows.len(), b.lines.len());
            for (row, l) in rows.iter().zip(&b.lines) {
                prop_assert_eq!(&row[2], l.name.as_str());
                prop_assert_eq!(ore_of(&row[6]), l.amount_ore);
            }
            // pain.001: the control sum is the sum of the positive nets, to the öre
            let t: i64 = b.transfers().iter().map(|t| t.amount_ore).sum();
            if t > 0 {
                let xml = pain001::write(&b).unwrap();
                let ctrl = format!("<CtrlSum>{}.{:02}</CtrlSum>", t / 100, t % 100);
                prop_assert!(xml.contains(&ctrl));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn any_batch_gives_a_valid_pain001(b in batch()) {
            if !b.transfers().is_empty() {
                let xml = pain001::write(&b).unwrap();
                prop_assert!(validate(&xml).is_ok(), "{:?}", validate(&xml));
            }
        }
    }
}
