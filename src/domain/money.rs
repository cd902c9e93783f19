//! Money: amounts in integer öre and the compensation rules of a cycle (base amount, amount
//! per listed inhabitant, instalment split with its rounding rule, the reference date of the
//! listed inhabitants). Pure arithmetic, no floating point.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in öre (1 SEK = 100 öre).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Ore(pub i64);

impl Ore {
    /// Plain decimal SEK with two decimals and a point, as files for machines want it:
    /// `123456.78`, `-0.05`. Integer arithmetic only.
    pub fn sek_decimal(self) -> String {
        let neg = self.0 < 0;
        let abs = self.0.unsigned_abs();
        format!(
            "{}{}.{:02}",
            if neg { "-" } else { "" },
            abs / 100,
            abs % 100
        )
    }

    /// Like [`Ore::sek_decimal`] with a decimal comma (Swedish spreadsheets).
    pub fn sek_decimal_comma(self) -> String {
        self.sek_decimal().replace('.', ",")
    }
}

impl fmt::Display for Ore {
    /// Swedish formatting: "150 000,00 kr".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let abs = self.0.unsigned_abs();
        let kr = (abs / 100).to_string();
        let mut grouped = String::new();
        for (i, c) in kr.chars().enumerate() {
            if i > 0 && (kr.len() - i).is_multiple_of(3) {
                grouped.push('\u{a0}');
            }
            grouped.push(c);
        }
        write!(
            f,
            "{}{},{:02}\u{a0}kr",
            if neg { "-" } else { "" },
            grouped,
            abs % 100
        )
    }
}

/// The compensation rules of one cycle year.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MoneyRules {
    pub base_ore: i64,
    pub per_inhabitant_ore: i64,
    pub first_instalment_percent: u8,
    /// Instalment 1 is rounded down to a multiple of this many öre (1 = whole öre, 100 =
    /// whole kronor); instalment 2 takes the remainder, so the parts always sum to the whole.
    #[serde(default = "one")]
    pub rounding_unit_ore: i64,
    /// The date the listed inhabitants must be counted on (the registry's `reference_date`
    /// for the cycle year). `None`: any reference date of that year is accepted.
    #[serde(default)]
    pub inhabitants_reference_date: Option<NaiveDate>,
}

fn one() -> i64 {
    1
}

impl MoneyRules {
    pub fn validate(&self) -> Result<(), String> {
        if self.base_ore < 0 || self.per_inhabitant_ore < 0 {
            return Err("money amounts must not be negative".into());
        }
        if self.first_instalment_percent > 100 {
            return Err("first_instalment_percent must be 0..=100".into());
        }
        if self.rounding_unit_ore < 1 {
            return Err("rounding_unit_ore must be at least 1".into());
        }
        Ok(())
    }

    /// Yearly compensation for a clinic with `listed` inhabitants; None on overflow.
    pub fn yearly(&self, listed: u64) -> Option<Ore> {
        let listed = i64::try_from(listed).ok()?;
        let per = self.per_inhabitant_ore.checked_mul(listed)?;
        Some(Ore(self.base_ore.checked_add(per)?))
    }

    /// The two instalments; they always add up to the yearly amount exactly: the first is
    /// the configured share rounded down to `rounding_unit_ore`, the second the remainder.
    pub fn instalments(&self, listed: u64) -> Option<(Ore, Ore)> {
        let total = self.yearly(listed)?.0;
        let share = total.checked_mul(i64::from(self.first_instalment_percent))? / 100;
        let unit = self.rounding_unit_ore.max(1);
        let first = share - share % unit;
        Some((Ore(first), Ore(total - first)))
    }

    /// Instalment `n` (1 or 2) for `listed` inhabitants.
    pub fn instalment(&self, n: u8, listed: u64) -> Option<Ore> {
        let (a, b) = self.instalments(listed)?;
        match n {
            1 => Some(a),
            2 => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules() -> MoneyRules {
        MoneyRules {
            base_ore: 10_000_000,
            per_inhabitant_ore: 1_000,
            first_instalment_percent: 50,
            rounding_unit_ore: 1,
            inhabitants_reference_date: None,
        }
    }

    #[test]
    fn sek_decimal_has_no_float() {
        assert_eq!(Ore(12_345_678).sek_decimal(), "123456.78");
        assert_eq!(Ore(-5).sek_decimal(), "-0.05");
        assert_eq!(Ore(0).sek_decimal_comma(), "0,00");
    }

    #[test]
    fn whole_krona_rounding_puts_the_remainder_in_the_second() {
        let r = MoneyRules {
            first_instalment_percent: 33,
            rounding_unit_ore: 100,
            ..rules()
        };
        // 10 000 000 + 1 000 x 3 001 = 13 001 000; 33 % = 4 290 330 -> 4 290 300
        assert_eq!(r.instalments(3_001), Some((Ore(4_290_300), Ore(8_710_700))));
    }

    #[test]
    fn yearly_amount_follows_the_rulebook() {
        // 100 000 kr + 10 kr x 8 123 = 181 230 kr
        assert_eq!(rules().yearly(8_123), Some(Ore(18_123_000)));
        assert_eq!(
            rules().yearly(8_123).unwrap().to_string(),
            "181\u{a0}230,00\u{a0}kr"
        );
    }

    proptest! {
        #[test]
        fn instalments_add_up(
            listed in 0u64..10_000_000,
            pct in 0u8..=100,
            base in 0i64..100_000_000_000,
            per in 0i64..1_000_000,
            unit in prop::sample::select(vec![1i64, 10, 100, 1_000, 100_000]),
        ) {
            let r = MoneyRules {
                first_instalment_percent: pct,
                base_ore: base,
                per_inhabitant_ore: per,
                rounding_unit_ore: unit,
                ..rules()
            };
            let (a, b) = r.instalments(listed).unwrap();
            let total = r.yearly(listed).unwrap().0;
            prop_assert_eq!(a.0 + b.0, total);
            prop_assert!(a.0 >= 0 && b.0 >= 0);
            prop_assert_eq!(a.0 % unit, 0);
            // the first is the share, rounded down by less than one unit
            let exact = i128::from(total) * i128::from(pct);
            prop_assert!(i128::from(a.0) * 100 <= exact);
            prop_assert!(exact < (i128::from(a.0) + i128::from(unit)) * 100);
        }
    }
}
