//! Swedish identifiers in the clinic registry, validated and written in one canonical form:
//! organisation number (Luhn over all 10 digits), bankgiro (7–8 digits, Luhn), plusgiro
//! (2–8 digits, Luhn), IBAN (ISO 13616, mod 97 = 1, Swedish IBANs 24 characters) and the
//! shape of an HSA-id (`SE2321000057-1234`). Pure functions, no I/O.

use std::fmt;

/// Why an identifier was refused. The text is Swedish: it reaches the person importing a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("organisationsnumret `{0}` ska ha 10 siffror (NNNNNN-NNNN)")]
    OrgNrShape(String),
    #[error("organisationsnumret `{0}` har fel kontrollsiffra")]
    OrgNrChecksum(String),
    #[error("bankgironumret `{0}` ska ha 7 eller 8 siffror")]
    BankgiroShape(String),
    #[error("bankgironumret `{0}` har fel kontrollsiffra")]
    BankgiroChecksum(String),
    #[error("plusgironumret `{0}` ska ha 2 till 8 siffror")]
    PlusgiroShape(String),
    #[error("plusgironumret `{0}` har fel kontrollsiffra")]
    PlusgiroChecksum(String),
    #[error("IBAN `{0}` har fel form (landskod, två kontrollsiffror, högst 30 tecken)")]
    IbanShape(String),
    #[error("IBAN `{0}` ska ha 24 tecken för ett svenskt konto")]
    IbanLength(String),
    #[error("IBAN `{0}` har fel kontrollsiffror")]
    IbanChecksum(String),
    #[error(
        "mottagaren `{0}` ska skrivas bg:NNNN-NNNN, pg:NNNNNN-N eller iban:SE… (bankgiro, plusgiro eller IBAN)"
    )]
    PayeeKind(String),
    #[error(
        "HSA-id `{0}` har fel form: landskod, 10 siffror, bindestreck och en lokal del (t.ex. SE2321000057-1234)"
    )]
    HsaShape(String),
}

/// Luhn (mod 10) over a string of ASCII digits, the last one being the check digit.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The Luhn check digit to append to `body` (ASCII digits).
pub fn luhn_check_digit(body: &str) -> u8 {
    (0..=9u8)
        .find(|d| luhn_valid(&format!("{body}{d}")))
        .expect("one of ten digits completes a Luhn number")
}

/// The digits of `s` when it holds only digits and the allowed separators (`-`, space).
fn digits_only(s: &str, separators: &[char]) -> Option<String> {
    let mut out = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            out.push(c);
        } else if !separators.contains(&c) {
            return None;
        }
    }
    Some(out)
}

/// A Swedish organisation number, `NNNNNN-NNNN` (Luhn over all 10 digits). Returns the
/// canonical form with the hyphen.
pub fn org_nr(s: &str) -> Result<String, IdError> {
    let shape = || IdError::OrgNrShape(s.trim().to_string());
    let d = digits_only(s, &['-', ' ']).ok_or_else(shape)?;
    if d.len() != 10 {
        return Err(shape());
    }
    if !luhn_valid(&d) {
        return Err(IdError::OrgNrChecksum(s.trim().to_string()));
    }
    Ok(format!("{}-{}", &d[..6], &d[6..]))
}

/// An HSA-id: two-letter country code, 10 digits (an organisation number), `-`, and a local
/// part of 1–31 letters or digits. Only the shape is checked. Returns it in upper case.
pub fn hsa_id(s: &str) -> Result<String, IdError> {
    let t = s.trim().to_ascii_uppercase();
    let bad = || IdError::HsaShape(s.trim().to_string());
    let (head, local) = t.split_once('-').ok_or_else(bad)?;
    let ok_head = head.len() == 12
        && head[..2].bytes().all(|b| b.is_ascii_uppercase())
        && head[2..].bytes().all(|b| b.is_ascii_digit());
    let ok_local =
        (1..=31).contains(&local.len()) && local.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok_head && ok_local {
        Ok(t)
    } else {
        Err(bad())
    }
}

/// Who the compensation is paid to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payee {
    /// Digits only; shown `NNN-NNNN` or `NNNN-NNNN`.
    Bankgiro(String),
    /// Digits only; shown with a hyphen before the check digit.
    Plusgiro(String),
    /// Upper case, no spaces.
    Iban(String),
}

impl Payee {
    /// Parses `bg:5050-1055`, `pg:4-2`, `iban:SE45 5000 0000 0583 9825 7466`.
    pub fn parse(s: &str) -> Result<Payee, IdError> {
        let t = s.trim();
        let (kind, value) = t
            .split_once(':')
            .ok_or_else(|| IdError::PayeeKind(t.to_string()))?;
        match kind.trim().to_ascii_lowercase().as_str() {
            "bg" => bankgiro(value).map(Payee::Bankgiro),
            "pg" => plusgiro(value).map(Payee::Plusgiro),
            "iban" => iban(value).map(Payee::Iban),
            _ => Err(IdError::PayeeKind(t.to_string())),
        }
    }
}

impl fmt::Display for Payee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payee::Bankgiro(d) => {
                let (a, b) = d.split_at(d.len() - 4);
                write!(f, "bg:{a}-{b}")
            }
            Payee::Plusgiro(d) => {
                let (a, b) = d.split_at(d.len() - 1);
                write!(f, "pg:{a}-{b}")
            }
            Payee::Iban(i) => write!(f, "iban:{i}"),
        }
    }
}

/// A bankgiro number: 7 or 8 digits, Luhn. Returns the digits.
pub fn bankgiro(s: &str) -> Result<String, IdError> {
    let shape = || IdError::BankgiroShape(s.trim().to_string());
    let d = digits_only(s, &['-', ' ']).ok_or_else(shape)?;
    if !(7..=8).contains(&d.len()) {
        return Err(shape());
    }
    if !luhn_valid(&d) {
        return Err(IdError::BankgiroChecksum(s.trim().to_string()));
    }
    Ok(d)
}

/// A plusgiro number: 2 to 8 digits, Luhn. Returns the digits.
pub fn plusgiro(s: &str) -> Result<String, IdError> {
    let shape = || IdError::PlusgiroShape(s.trim().to_string());
    let d = digits_only(s, &['-', ' ']).ok_or_else(shape)?;
    if !(2..=8).contains(&d.len()) {
        return Err(shape());
    }
    if !luhn_valid(&d) {
        return Err(IdError::PlusgiroChecksum(s.trim().to_string()));
    }
    Ok(d)
}

/// ISO 7064 mod 97 of an IBAN after moving the first four characters to the end and
/// turning letters into numbers (A = 10 … Z = 35).
fn iban_mod97(iban: &str) -> u32 {
    let rotated = iban[4..].chars().chain(iban[..4].chars());
    let mut rem: u32 = 0;
    for c in rotated {
        let v = c.to_digit(36).expect("checked alphanumeric");
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem
}

/// An IBAN (ISO 13616): country code, two check digits, up to 30 letters and digits in all,
/// mod 97 = 1; a Swedish (`SE`) IBAN has exactly 24 characters. Returns it upper case
/// without spaces.
pub fn iban(s: &str) -> Result<String, IdError> {
    let t: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let shown = || s.trim().to_string();
    let ok_shape = (15..=34).contains(&t.len())
        && t.bytes().all(|b| b.is_ascii_alphanumeric())
        && t[..2].bytes().all(|b| b.is_ascii_uppercase())
        && t[2..4].bytes().all(|b| b.is_ascii_digit());
    if !ok_shape {
        return Err(IdError::IbanShape(shown()));
    }
    if t.starts_with("SE") && t.len() != 24 {
        return Err(IdError::IbanLength(shown()));
    }
    if iban_mod97(&t) != 1 {
        return Err(IdError::IbanChecksum(shown()));
    }
    Ok(t)
}

/// The two IBAN check digits for `country` + `bban` (used by tests and examples).
pub fn iban_check_digits(country: &str, bban: &str) -> String {
    let probe = format!("{country}00{bban}");
    let r = iban_mod97(&probe);
    format!("{:02}", 98 - r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_numbers() {
        assert_eq!(org_nr("556036-0793").unwrap(), "556036-0793");
        assert_eq!(org_nr("5560360793").unwrap(), "556036-0793");
        assert_eq!(
            org_nr("556036-0794"),
            Err(IdError::OrgNrChecksum("556036-0794".into()))
        );
        assert!(matches!(org_nr("55603-0793"), Err(IdError::OrgNrShape(_))));
        assert_eq!(bankgiro("5050-1055").unwrap(), "50501055");
        assert!(matches!(
            bankgiro("5050-1056"),
            Err(IdError::BankgiroChecksum(_))
        ));
        assert!(matches!(bankgiro("505-10"), Err(IdError::BankgiroShape(_))));
        assert_eq!(plusgiro("4-2").unwrap(), "42");
        assert!(matches!(plusgiro("4-4"), Err(IdError::PlusgiroChecksum(_))));
        assert!(matches!(
            plusgiro("123456789-0"),
            Err(IdError::PlusgiroShape(_))
        ));
        assert_eq!(
            iban("SE45 5000 0000 0583 9825 7466").unwrap(),
            "SE4550000000058398257466"
        );
        assert!(matches!(
            iban("SE45 5000 0000 0583 9825 7467"),
            Err(IdError::IbanChecksum(_))
        ));
        assert!(matches!(
            iban("SE45 5000 0000 0583 9825 746"),
            Err(IdError::IbanLength(_))
        ));
        assert_eq!(
            iban("GB82 WEST 1234 5698 7654 32").unwrap(),
            "GB82WEST12345698765432"
        );
        assert_eq!(hsa_id("se2321000057-1234").unwrap(), "SE2321000057-1234");
        for bad in [
            "SE232100005-1234",
            "2321000057-1234",
            "SE2321000057",
            "SE2321000057-",
            "SE2321000057-12 4",
        ] {
            assert!(matches!(hsa_id(bad), Err(IdError::HsaShape(_))), "{bad}");
        }
    }

    #[test]
    fn payee_round_trips_through_its_text() {
        for text in [
            "bg:5050-1055",
            "bg:505-1057",
            "pg:4-2",
            "iban:SE4550000000058398257466",
        ] {
            let p = Payee::parse(text).unwrap();
            assert_eq!(p.to_string(), text);
            assert_eq!(Payee::parse(&p.to_string()).unwrap(), p);
        }
        assert!(matches!(
            Payee::parse("5050-1055"),
            Err(IdError::PayeeKind(_))
        ));
        assert!(matches!(
            Payee::parse("sw:5050-1055"),
            Err(IdError::PayeeKind(_))
        ));
    }

    /// Replace the digit at `pos` (among the digits) with a different digit.
    fn change_digit(s: &str, pos: usize, delta: u8) -> String {
        let mut n = 0;
        s.chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    n += 1;
                    if n - 1 == pos {
                        let d = c as u8 - b'0';
                        return char::from(b'0' + (d + delta) % 10);
                    }
                }
                c
            })
            .collect()
    }

    fn luhn_number(body: &str) -> String {
        format!("{body}{}", luhn_check_digit(body))
    }

    proptest! {
        #[test]
        fn org_nr_valid_passes_and_any_digit_change_fails(
            body in "[0-9]{9}", pos in 0usize..10, delta in 1u8..10
        ) {
            let n = luhn_number(&body);
            let text = format!("{}-{}", &n[..6], &n[6..]);
            prop_assert_eq!(org_nr(&text).unwrap(), text.clone());
            prop_assert!(org_nr(&change_digit(&text, pos, delta)).is_err());
        }

        #[test]
        fn bankgiro_valid_passes_and_any_digit_change_fails(
            body in "[0-9]{6,7}", pos in 0usize..8, delta in 1u8..10
        ) {
            let n = luhn_number(&body);
            prop_assert_eq!(bankgiro(&n).unwrap(), n.clone());
            let pos = pos % n.len();
            prop_assert!(bankgiro(&change_digit(&n, pos, delta)).is_err());
            let p = Payee::Bankgiro(n.clone());
            prop_assert_eq!(Payee::parse(&p.to_string()).unwrap(), p);
        }

        #[test]
        fn plusgiro_valid_passes_and_any_digit_change_fails(
            body in "[0-9]{1,7}", pos in 0usize..8, delta in 1u8..10
        ) {
            let n = luhn_number(&body);
            prop_assert_eq!(plusgiro(&n).unwrap(), n.clone());
            let pos = pos % n.len();
            prop_assert!(plusgiro(&change_digit(&n, pos, delta)).is_err());
        }

        #[test]
        fn swedish_iban_valid_passes_and_any_digit_change_fails(
            bban in "[0-9]{20}", pos in 0usize..22, delta in 1u8..10
        ) {
            let text = format!("SE{}{bban}", iban_check_digits("SE", &bban));
            prop_assert_eq!(iban(&text).unwrap(), text.clone());
            prop_assert!(iban(&change_digit(&text, pos, delta)).is_err());
        }
    }
}
