//! The request kinds of `rest` and `spike`, their weights (`--mix catalog=90,like=5,plan=5`,
//! `edit` for plan edits) and the deterministic hash that picks among them.

use std::fmt;
use std::str::FromStr;

/// What a request does; the report times each kind apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Catalog,
    Like,
    Plan,
    /// An entry of the user's plan marked done or not done (a write through the session).
    Edit,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Catalog, Kind::Like, Kind::Plan, Kind::Edit];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Catalog => "catalog",
            Kind::Like => "like",
            Kind::Plan => "plan",
            Kind::Edit => "edit",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The weights of the request kinds, e.g. `catalog=90,like=5,plan=5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: [u64; 4],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    #[error("`{0}` is not `kind=weight` with kind one of catalog, like, plan, edit")]
    Part(String),
    #[error("the weights add up to 0")]
    Empty,
}

impl FromStr for Mix {
    type Err = MixError;

    fn from_str(text: &str) -> Result<Mix, MixError> {
        let mut weights = [0; 4];
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let bad = || MixError::Part(part.trim().to_owned());
            let (name, weight) = part.split_once('=').ok_or_else(bad)?;
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.as_str() == name.trim())
                .ok_or_else(bad)?;
            let weight: u32 = weight.trim().parse().map_err(|_| bad())?;
            weights[kind.index()] = u64::from(weight);
        }
        if weights.iter().sum::<u64>() == 0 {
            return Err(MixError::Empty);
        }
        Ok(Mix { weights })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Kinds left out weigh 0 and are left out here too.
        let parts: Vec<String> = Kind::ALL
            .iter()
            .filter(|k| self.weights[k.index()] > 0)
            .map(|k| format!("{}={}", k.as_str(), self.weights[k.index()]))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl Mix {
    pub fn has(&self, kind: Kind) -> bool {
        self.weights[kind.index()] > 0
    }

    /// The kind whose share of the weights holds `roll`.
    pub fn pick(&self, roll: u64) -> Kind {
        let mut left = roll % self.weights.iter().sum::<u64>();
        for kind in Kind::ALL {
            if left < self.weights[kind.index()] {
                return kind;
            }
            left -= self.weights[kind.index()];
        }
        Kind::Catalog
    }
}

/// A well-mixed 64-bit hash of `x` (splitmix64's finalizer): deterministic, uniform
/// choices without a random number generator.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_parses_from_weights_and_prints_back() {
        let mix: Mix = "catalog=90,like=5,plan=5".parse().expect("valid");
        assert_eq!(mix.to_string(), "catalog=90,like=5,plan=5");
        let catalog_only: Mix = "catalog=1".parse().expect("valid");
        assert!(!catalog_only.has(Kind::Like));
        let edits: Mix = "edit=100".parse().expect("valid");
        assert!(edits.has(Kind::Edit) && !edits.has(Kind::Plan));
        assert_eq!(edits.to_string(), "edit=100");
        for bad in ["", "catalog=0", "feed=3", "catalog", "catalog=-1", "like=x"] {
            assert!(bad.parse::<Mix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn picks_follow_the_weights() {
        let mix: Mix = "catalog=90,like=5,plan=5".parse().expect("valid");
        let mut counts = [0u64; 4];
        for i in 0..100_000 {
            counts[mix.pick(splitmix64(i)).index()] += 1;
        }
        assert!((89_000..91_000).contains(&counts[0]), "{counts:?}");
        assert!((4_500..5_500).contains(&counts[1]), "{counts:?}");
        assert!((4_500..5_500).contains(&counts[2]), "{counts:?}");
        assert_eq!(counts[3], 0);
    }
}
