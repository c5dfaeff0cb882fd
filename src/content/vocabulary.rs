//! The closed vocabularies of the catalog: units, aisles, diets, equipment, body focus,
//! levels and plan slots. Each parses from and prints as its snake_case name, and lists
//! its names for error messages ("one of: ...").

use serde::{Deserialize, Serialize};

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == raw)
            }

            /// The accepted names, for error messages.
            pub fn names() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

vocabulary!(
    /// Ingredient units. Mass and volume convert between metric and imperial; `piece`
    /// (and the like) never converts.
    Unit {
        G => "g", Kg => "kg", Oz => "oz", Lb => "lb",
        Ml => "ml", L => "l", Tsp => "tsp", Tbsp => "tbsp", Cup => "cup", FlOz => "fl_oz",
        Piece => "piece", Pinch => "pinch",
    }
);

vocabulary!(
    /// Where an ingredient is found in a store; the shopping list groups by it.
    Aisle {
        Produce => "produce", Dairy => "dairy", MeatFish => "meat_fish", Bakery => "bakery",
        Pantry => "pantry", Frozen => "frozen", Spices => "spices", Drinks => "drinks",
        Other => "other",
    }
);

impl Aisle {
    pub fn other() -> Aisle {
        Aisle::Other
    }
}

vocabulary!(
    Diet {
        Vegetarian => "vegetarian", Vegan => "vegan", GlutenFree => "gluten_free",
        DairyFree => "dairy_free", Keto => "keto", HighProtein => "high_protein",
        LowCarb => "low_carb",
    }
);

vocabulary!(
    /// Equipment a workout needs; `none` is bodyweight only.
    Equipment {
        None => "none", Mat => "mat", Dumbbells => "dumbbells", Kettlebell => "kettlebell",
        ResistanceBand => "resistance_band", JumpRope => "jump_rope", Bike => "bike",
        Treadmill => "treadmill",
    }
);

vocabulary!(
    BodyFocus {
        FullBody => "full_body", UpperBody => "upper_body", LowerBody => "lower_body",
        Core => "core", Cardio => "cardio", Mobility => "mobility",
    }
);

vocabulary!(
    Level { Beginner => "beginner", Intermediate => "intermediate", Advanced => "advanced" }
);

vocabulary!(
    /// A slot of a plan day: the workout or one of the meals.
    MealSlot {
        Workout => "workout", Breakfast => "breakfast", Lunch => "lunch", Dinner => "dinner",
        Snack => "snack",
    }
);

impl MealSlot {
    pub fn is_meal(self) -> bool {
        self != MealSlot::Workout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for unit in Unit::ALL {
            assert_eq!(Unit::parse(unit.as_str()), Some(*unit));
        }
        assert_eq!(Diet::parse("pizza"), None);
        assert!(Equipment::names().contains("resistance_band"));
        let parsed: Unit = serde_json::from_str("\"fl_oz\"").expect("json");
        assert_eq!(parsed, Unit::FlOz);
    }
}
