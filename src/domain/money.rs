//! Money: amounts in integer öre and the compensation rules of a cycle (base amount, amount
//! per listed inhabitant, instalment split). Pure arithmetic, no floating point.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in öre (1 SEK = 100 öre).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Ore(pub i64);

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
}

impl MoneyRules {
    pub fn validate(&self) -> Result<(), String> {
        if self.base_ore < 0 || self.per_inhabitant_ore < 0 {
            return Err("money amounts must not be negative".into());
        }
        if self.first_instalment_percent > 100 {
            return Err("first_instalment_percent must be 0..=100".into());
        }
        Ok(())
    }

    /// Yearly compensation for a clinic with `listed` inhabitants; None on overflow.
    pub fn yearly(&self, listed: u64) -> Option<Ore> {
        let listed = i64::try_from(listed).ok()?;
        let per = self.per_inhabitant_ore.checked_mul(listed)?;
        Some(Ore(self.base_ore.checked_add(per)?))
    }

    /// The two instalments; they always add up to the yearly amount exactly (the second takes
    /// the remainder of the integer division).
    pub fn instalments(&self, listed: u64) -> Option<(Ore, Ore)> {
        let total = self.yearly(listed)?.0;
        let first = total.checked_mul(i64::from(self.first_instalment_percent))? / 100;
        Some((Ore(first), Ore(total - first)))
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
        }
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
        fn instalments_add_up(listed in 0u64..10_000_000, pct in 0u8..=100) {
            let r = MoneyRules { first_instalment_percent: pct, ..rules() };
            let (a, b) = r.instalments(listed).unwrap();
            prop_assert_eq!(a.0 + b.0, r.yearly(listed).unwrap().0);
            prop_assert!(a.0 >= 0 && b.0 >= 0);
        }
    }
}
