//! Ingredient amounts: converting to a base unit per dimension (grams, millilitres, or a
//! count that never converts), summing, and presenting in the user's measurement system
//! with a unit that reads naturally (`1.2 kg`, not `1200 g`; `2.5 cup`, not `20 fl_oz`).

use fitpulse_actors::domain::Units;

use super::vocabulary::Unit;

/// What an amount measures. Counts keep their own unit (3 pieces and a pinch do not add).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Mass,
    Volume,
    Count(Unit),
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Mass => "mass",
            Dimension::Volume => "volume",
            Dimension::Count(unit) => unit.as_str(),
        }
    }
}

const GRAMS_PER_OZ: f64 = 28.349_523_125;
const GRAMS_PER_LB: f64 = 453.592_37;
const ML_PER_TSP: f64 = 4.928_921_593_75;
const ML_PER_TBSP: f64 = 14.786_764_781_25;
const ML_PER_FL_OZ: f64 = 29.573_529_562_5;
const ML_PER_CUP: f64 = 236.588_236_5;

/// The amount in its dimension's base unit (g, ml, or the count itself).
pub fn to_base(quantity: f64, unit: Unit) -> (Dimension, f64) {
    use Dimension::*;
    match unit {
        Unit::G => (Mass, quantity),
        Unit::Kg => (Mass, quantity * 1000.0),
        Unit::Oz => (Mass, quantity * GRAMS_PER_OZ),
        Unit::Lb => (Mass, quantity * GRAMS_PER_LB),
        Unit::Ml => (Volume, quantity),
        Unit::L => (Volume, quantity * 1000.0),
        Unit::Tsp => (Volume, quantity * ML_PER_TSP),
        Unit::Tbsp => (Volume, quantity * ML_PER_TBSP),
        Unit::FlOz => (Volume, quantity * ML_PER_FL_OZ),
        Unit::Cup => (Volume, quantity * ML_PER_CUP),
        Unit::Piece | Unit::Pinch => (Count(unit), quantity),
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

/// A base amount shown in `units`: the quantity (rounded for reading) and its unit.
pub fn present(dimension: Dimension, base: f64, units: Units) -> (f64, Unit) {
    match (dimension, units) {
        (Dimension::Mass, Units::Metric) if base < 1000.0 => (round(base, 0), Unit::G),
        (Dimension::Mass, Units::Metric) => (round(base / 1000.0, 2), Unit::Kg),
        (Dimension::Volume, Units::Metric) if base < 1000.0 => (round(base, 0), Unit::Ml),
        (Dimension::Volume, Units::Metric) => (round(base / 1000.0, 2), Unit::L),
        (Dimension::Mass, Units::Imperial) => {
            let oz = base / GRAMS_PER_OZ;
            if oz < 16.0 {
                (round(oz, 1), Unit::Oz)
            } else {
                (round(base / GRAMS_PER_LB, 2), Unit::Lb)
            }
        }
        (Dimension::Volume, Units::Imperial) => {
            let fl_oz = base / ML_PER_FL_OZ;
            if fl_oz < 8.0 {
                (round(fl_oz, 1), Unit::FlOz)
            } else {
                (round(base / ML_PER_CUP, 2), Unit::Cup)
            }
        }
        (Dimension::Count(unit), _) => (round(base, 2), unit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_convert_through_their_base_unit() {
        assert_eq!(to_base(2.0, Unit::Kg), (Dimension::Mass, 2000.0));
        assert_eq!(
            to_base(3.0, Unit::Piece),
            (Dimension::Count(Unit::Piece), 3.0)
        );
        let (dim, ml) = to_base(2.0, Unit::Tbsp);
        assert_eq!(dim, Dimension::Volume);
        assert!((ml - 29.57).abs() < 0.01);
    }

    #[test]
    fn metric_amounts_switch_to_the_larger_unit_at_a_thousand() {
        assert_eq!(
            present(Dimension::Mass, 120.0, Units::Metric),
            (120.0, Unit::G)
        );
        assert_eq!(
            present(Dimension::Mass, 1250.0, Units::Metric),
            (1.25, Unit::Kg)
        );
        assert_eq!(
            present(Dimension::Volume, 1500.0, Units::Metric),
            (1.5, Unit::L)
        );
    }

    #[test]
    fn imperial_amounts_use_ounces_pounds_fluid_ounces_and_cups() {
        assert_eq!(
            present(Dimension::Mass, 120.0, Units::Imperial),
            (4.2, Unit::Oz)
        );
        assert_eq!(
            present(Dimension::Mass, 907.18474, Units::Imperial),
            (2.0, Unit::Lb)
        );
        assert_eq!(
            present(Dimension::Volume, 90.0, Units::Imperial),
            (3.0, Unit::FlOz)
        );
        assert_eq!(
            present(Dimension::Volume, 473.176473, Units::Imperial),
            (2.0, Unit::Cup)
        );
        assert_eq!(
            present(Dimension::Count(Unit::Piece), 3.0, Units::Imperial),
            (3.0, Unit::Piece)
        );
    }
}
