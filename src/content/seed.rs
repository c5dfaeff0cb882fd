//! The demo catalog written into an empty store on first start (`content.seed_demo`), so a
//! fresh server shows a living app: 60 recipes, 40 workouts, 3 plan templates, 10 posts.
//! Everything is derived from the small tables below, so the ids and order are the same on
//! every start.

use fitpulse_actors::domain::UnixMillis;

use super::items::{
    Block, Body, Ingredient, Item, Meta, PlanDay, PlanEntry, PlanTemplate, PlanWeek, Post, Recipe,
    Workout, slug,
};
use super::vocabulary::{Aisle, BodyFocus, Diet, Equipment, Level, MealSlot, Unit};

/// 2026-01-01T00:00:00Z: seeded items are dated from here, an hour apart.
const SEED_EPOCH: UnixMillis = 1_767_225_600_000;

struct BaseRecipe {
    title: &'static str,
    meal: &'static str,
    minutes: u32,
    kcal: u32,
    protein: f64,
    diet: &'static [Diet],
    ingredients: &'static [(&'static str, f64, Unit, Aisle)],
}

use Aisle::*;
use Unit::*;

const RECIPES: [BaseRecipe; 20] = [
    BaseRecipe {
        title: "overnight oats",
        meal: "breakfast",
        minutes: 5,
        kcal: 420,
        protein: 18.0,
        diet: &[Diet::Vegetarian],
        ingredients: &[
            ("rolled oats", 80.0, G, Pantry),
            ("milk", 200.0, Ml, Dairy),
            ("blueberries", 60.0, G, Produce),
            ("honey", 1.0, Tbsp, Pantry),
        ],
    },
    BaseRecipe {
        title: "scrambled eggs on toast",
        meal: "breakfast",
        minutes: 10,
        kcal: 390,
        protein: 24.0,
        diet: &[Diet::Vegetarian, Diet::HighProtein],
        ingredients: &[
            ("eggs", 3.0, Piece, Dairy),
            ("wholegrain bread", 2.0, Piece, Bakery),
            ("butter", 10.0, G, Dairy),
        ],
    },
    BaseRecipe {
        title: "greek yogurt bowl",
        meal: "breakfast",
        minutes: 5,
        kcal: 330,
        protein: 22.0,
        diet: &[Diet::Vegetarian, Diet::GlutenFree],
        ingredients: &[
            ("greek yogurt", 250.0, G, Dairy),
            ("walnuts", 20.0, G, Pantry),
            ("honey", 1.0, Tsp, Pantry),
        ],
    },
    BaseRecipe {
        title: "banana pancakes",
        meal: "breakfast",
        minutes: 15,
        kcal: 450,
        protein: 16.0,
        diet: &[Diet::Vegetarian],
        ingredients: &[
            ("banana", 1.0, Piece, Produce),
            ("eggs", 2.0, Piece, Dairy),
            ("rolled oats", 40.0, G, Pantry),
        ],
    },
    BaseRecipe {
        title: "green smoothie",
        meal: "breakfast",
        minutes: 5,
        kcal: 280,
        protein: 9.0,
        diet: &[Diet::Vegan, Diet::GlutenFree, Diet::DairyFree],
        ingredients: &[
            ("spinach", 50.0, G, Produce),
            ("banana", 1.0, Piece, Produce),
            ("almond milk", 250.0, Ml, Drinks),
        ],
    },
    BaseRecipe {
        title: "chicken stir fry",
        meal: "dinner",
        minutes: 20,
        kcal: 540,
        protein: 42.0,
        diet: &[Diet::HighProtein, Diet::DairyFree],
        ingredients: &[
            ("chicken breast", 150.0, G, MeatFish),
            ("broccoli", 120.0, G, Produce),
            ("soy sauce", 2.0, Tbsp, Pantry),
            ("brown rice", 75.0, G, Pantry),
        ],
    },
    BaseRecipe {
        title: "chickpea curry",
        meal: "dinner",
        minutes: 30,
        kcal: 510,
        protein: 19.0,
        diet: &[Diet::Vegan, Diet::GlutenFree],
        ingredients: &[
            ("chickpeas", 240.0, G, Pantry),
            ("coconut milk", 200.0, Ml, Pantry),
            ("spinach", 60.0, G, Produce),
            ("curry powder", 1.0, Tbsp, Spices),
        ],
    },
    BaseRecipe {
        title: "salmon with greens",
        meal: "dinner",
        minutes: 25,
        kcal: 560,
        protein: 38.0,
        diet: &[Diet::GlutenFree, Diet::LowCarb, Diet::HighProtein],
        ingredients: &[
            ("salmon fillet", 160.0, G, MeatFish),
            ("green beans", 150.0, G, Produce),
            ("olive oil", 1.0, Tbsp, Pantry),
            ("lemon", 0.5, Piece, Produce),
        ],
    },
    BaseRecipe {
        title: "turkey chili",
        meal: "dinner",
        minutes: 40,
        kcal: 580,
        protein: 45.0,
        diet: &[Diet::HighProtein, Diet::GlutenFree],
        ingredients: &[
            ("ground turkey", 150.0, G, MeatFish),
            ("kidney beans", 120.0, G, Pantry),
            ("chopped tomatoes", 200.0, G, Pantry),
            ("chili powder", 1.0, Tsp, Spices),
        ],
    },
    BaseRecipe {
        title: "lentil soup",
        meal: "lunch",
        minutes: 35,
        kcal: 410,
        protein: 21.0,
        diet: &[Diet::Vegan, Diet::GlutenFree],
        ingredients: &[
            ("red lentils", 90.0, G, Pantry),
            ("carrot", 1.0, Piece, Produce),
            ("vegetable stock", 400.0, Ml, Pantry),
            ("cumin", 1.0, Tsp, Spices),
        ],
    },
    BaseRecipe {
        title: "quinoa salad",
        meal: "lunch",
        minutes: 20,
        kcal: 460,
        protein: 15.0,
        diet: &[Diet::Vegan, Diet::GlutenFree],
        ingredients: &[
            ("quinoa", 70.0, G, Pantry),
            ("cucumber", 0.5, Piece, Produce),
            ("cherry tomatoes", 100.0, G, Produce),
            ("olive oil", 1.0, Tbsp, Pantry),
        ],
    },
    BaseRecipe {
        title: "tuna wrap",
        meal: "lunch",
        minutes: 10,
        kcal: 430,
        protein: 32.0,
        diet: &[Diet::HighProtein, Diet::DairyFree],
        ingredients: &[
            ("tuna", 120.0, G, Pantry),
            ("tortilla wrap", 1.0, Piece, Bakery),
            ("lettuce", 40.0, G, Produce),
        ],
    },
    BaseRecipe {
        title: "chicken caesar salad",
        meal: "lunch",
        minutes: 15,
        kcal: 480,
        protein: 40.0,
        diet: &[Diet::HighProtein, Diet::LowCarb],
        ingredients: &[
            ("chicken breast", 120.0, G, MeatFish),
            ("romaine lettuce", 100.0, G, Produce),
            ("parmesan", 20.0, G, Dairy),
        ],
    },
    BaseRecipe {
        title: "veggie omelette",
        meal: "lunch",
        minutes: 12,
        kcal: 360,
        protein: 25.0,
        diet: &[
            Diet::Vegetarian,
            Diet::GlutenFree,
            Diet::LowCarb,
            Diet::Keto,
        ],
        ingredients: &[
            ("eggs", 3.0, Piece, Dairy),
            ("bell pepper", 0.5, Piece, Produce),
            ("spinach", 30.0, G, Produce),
        ],
    },
    BaseRecipe {
        title: "beef and broccoli",
        meal: "dinner",
        minutes: 25,
        kcal: 600,
        protein: 44.0,
        diet: &[Diet::HighProtein, Diet::DairyFree],
        ingredients: &[
            ("lean beef strips", 150.0, G, MeatFish),
            ("broccoli", 150.0, G, Produce),
            ("soy sauce", 1.0, Tbsp, Pantry),
        ],
    },
    BaseRecipe {
        title: "tofu buddha bowl",
        meal: "dinner",
        minutes: 25,
        kcal: 520,
        protein: 24.0,
        diet: &[Diet::Vegan, Diet::DairyFree],
        ingredients: &[
            ("firm tofu", 150.0, G, Dairy),
            ("sweet potato", 1.0, Piece, Produce),
            ("brown rice", 60.0, G, Pantry),
            ("tahini", 1.0, Tbsp, Pantry),
        ],
    },
    BaseRecipe {
        title: "protein energy balls",
        meal: "snack",
        minutes: 15,
        kcal: 210,
        protein: 10.0,
        diet: &[Diet::Vegetarian, Diet::HighProtein],
        ingredients: &[
            ("rolled oats", 40.0, G, Pantry),
            ("peanut butter", 2.0, Tbsp, Pantry),
            ("protein powder", 20.0, G, Pantry),
        ],
    },
    BaseRecipe {
        title: "hummus and veggies",
        meal: "snack",
        minutes: 5,
        kcal: 190,
        protein: 7.0,
        diet: &[Diet::Vegan, Diet::GlutenFree],
        ingredients: &[
            ("hummus", 80.0, G, Dairy),
            ("carrot", 1.0, Piece, Produce),
            ("cucumber", 0.5, Piece, Produce),
        ],
    },
    BaseRecipe {
        title: "cottage cheese and berries",
        meal: "snack",
        minutes: 3,
        kcal: 170,
        protein: 18.0,
        diet: &[Diet::Vegetarian, Diet::GlutenFree, Diet::HighProtein],
        ingredients: &[
            ("cottage cheese", 150.0, G, Dairy),
            ("strawberries", 80.0, G, Produce),
        ],
    },
    BaseRecipe {
        title: "apple with almond butter",
        meal: "snack",
        minutes: 2,
        kcal: 230,
        protein: 5.0,
        diet: &[Diet::Vegan, Diet::GlutenFree],
        ingredients: &[
            ("apple", 1.0, Piece, Produce),
            ("almond butter", 1.0, Tbsp, Pantry),
        ],
    },
];

/// Three takes on each base recipe.
const VARIANTS: [(&str, f64); 3] = [("classic", 1.0), ("quick", 0.8), ("big batch", 4.0)];

struct BaseWorkout {
    title: &'static str,
    equipment: &'static [Equipment],
    focus: &'static [BodyFocus],
    kcal_per_minute: u32,
}

const WORKOUTS: [BaseWorkout; 10] = [
    BaseWorkout {
        title: "full body burn",
        equipment: &[Equipment::None],
        focus: &[BodyFocus::FullBody, BodyFocus::Cardio],
        kcal_per_minute: 10,
    },
    BaseWorkout {
        title: "dumbbell strength",
        equipment: &[Equipment::Dumbbells],
        focus: &[BodyFocus::UpperBody, BodyFocus::LowerBody],
        kcal_per_minute: 8,
    },
    BaseWorkout {
        title: "core crusher",
        equipment: &[Equipment::Mat],
        focus: &[BodyFocus::Core],
        kcal_per_minute: 7,
    },
    BaseWorkout {
        title: "kettlebell flow",
        equipment: &[Equipment::Kettlebell],
        focus: &[BodyFocus::FullBody],
        kcal_per_minute: 11,
    },
    BaseWorkout {
        title: "hiit sprint",
        equipment: &[Equipment::None],
        focus: &[BodyFocus::Cardio],
        kcal_per_minute: 13,
    },
    BaseWorkout {
        title: "yoga stretch",
        equipment: &[Equipment::Mat],
        focus: &[BodyFocus::Mobility],
        kcal_per_minute: 4,
    },
    BaseWorkout {
        title: "band booty",
        equipment: &[Equipment::ResistanceBand],
        focus: &[BodyFocus::LowerBody],
        kcal_per_minute: 7,
    },
    BaseWorkout {
        title: "jump rope cardio",
        equipment: &[Equipment::JumpRope],
        focus: &[BodyFocus::Cardio],
        kcal_per_minute: 12,
    },
    BaseWorkout {
        title: "indoor cycling",
        equipment: &[Equipment::Bike],
        focus: &[BodyFocus::Cardio, BodyFocus::LowerBody],
        kcal_per_minute: 11,
    },
    BaseWorkout {
        title: "upper body sculpt",
        equipment: &[Equipment::Dumbbells, Equipment::Mat],
        focus: &[BodyFocus::UpperBody],
        kcal_per_minute: 7,
    },
];

/// Four lengths of each base workout.
const WORKOUT_LEVELS: [(Level, u32, &str); 4] = [
    (Level::Beginner, 15, "express"),
    (Level::Beginner, 20, "starter"),
    (Level::Intermediate, 30, "classic"),
    (Level::Advanced, 45, "extended"),
];

const POSTS: [&str; 10] = [
    "Five habits of people who never skip a workout",
    "How much protein do you really need",
    "Meal prep Sunday: a beginner's guide",
    "Why rest days make you stronger",
    "Hydration myths, busted",
    "Our coaches' favourite 10-minute warm-up",
    "Sleep, stress and your training",
    "From couch to 5k: member stories",
    "Eating well on a budget",
    "Send us your workout and get featured",
];

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

fn item(id: String, title: String, premium: bool, tags: Vec<String>, body: Body, n: i64) -> Item {
    let at = SEED_EPOCH + n * 3_600_000;
    Item {
        meta: Meta {
            summary: format!("{title}, from the fitpulse demo catalog."),
            image_url: Some(format!("/images/{id}.jpg")),
            title,
            premium,
            tags,
            author_id: None,
        },
        id,
        body,
        published: true,
        created_at: at,
        updated_at: at,
    }
}

fn recipes() -> Vec<Item> {
    let mut out = Vec::new();
    for (v, (variant, scale)) in VARIANTS.iter().enumerate() {
        for (r, base) in RECIPES.iter().enumerate() {
            let title = capitalized(&format!("{variant} {}", base.title));
            let servings = if *scale > 1.0 { 4 } else { 1 };
            let minutes = ((f64::from(base.minutes) * scale.min(1.5)).round() as u32).max(2);
            let ingredients = base
                .ingredients
                .iter()
                .map(|(name, quantity, unit, aisle)| Ingredient {
                    name: (*name).to_owned(),
                    quantity: quantity * scale,
                    unit: *unit,
                    aisle: *aisle,
                })
                .collect();
            let recipe = Recipe {
                minutes,
                kcal: base.kcal,
                protein_g: base.protein,
                servings,
                diet: base.diet.to_vec(),
                ingredients,
                steps: vec![
                    "Get every ingredient ready.".into(),
                    format!("Prepare the {} as the video shows.", base.title),
                    "Serve and enjoy.".into(),
                ],
            };
            let n = (v * RECIPES.len() + r) as i64;
            out.push(item(
                slug(&title),
                title,
                n % 4 == 3,
                vec![base.meal.to_owned(), variant.replace(' ', "-")],
                Body::Recipe(recipe),
                n,
            ));
        }
    }
    out
}

fn workouts() -> Vec<Item> {
    let mut out = Vec::new();
    for (l, (level, minutes, name)) in WORKOUT_LEVELS.iter().enumerate() {
        for (w, base) in WORKOUTS.iter().enumerate() {
            let title = capitalized(&format!("{} {name} ({minutes} min)", base.title));
            let workout = Workout {
                duration_minutes: *minutes,
                kcal_min: base.kcal_per_minute * minutes * 8 / 10,
                kcal_max: base.kcal_per_minute * minutes,
                equipment: base.equipment.to_vec(),
                body_focus: base.focus.to_vec(),
                level: *level,
                video_ref: format!("videos/{}.m3u8", slug(&title)),
                blocks: vec![
                    Block {
                        name: "Warm-up".into(),
                        seconds: 180,
                    },
                    Block {
                        name: "Main set".into(),
                        seconds: minutes * 60 - 360,
                    },
                    Block {
                        name: "Cool-down".into(),
                        seconds: 180,
                    },
                ],
            };
            let n = 100 + (l * WORKOUTS.len() + w) as i64;
            let tags = vec![level.as_str().to_owned(), format!("{minutes}-min")];
            out.push(item(
                slug(&title),
                title,
                n % 3 == 0,
                tags,
                Body::Workout(workout),
                n,
            ));
        }
    }
    out
}

/// A plan of `weeks` weeks cycling through the given workouts and meals.
fn plan(goal: &str, weeks: usize, workouts: &[String], meals: &[[String; 4]]) -> PlanTemplate {
    let entry = |slot, id: &String| PlanEntry {
        slot,
        item_id: id.clone(),
    };
    let weeks = (0..weeks)
        .map(|w| PlanWeek {
            days: (0..7)
                .map(|d| {
                    let n = w * 7 + d;
                    let [breakfast, lunch, dinner, snack] = &meals[n % meals.len()];
                    let mut entries = vec![
                        entry(MealSlot::Breakfast, breakfast),
                        entry(MealSlot::Lunch, lunch),
                        entry(MealSlot::Dinner, dinner),
                        entry(MealSlot::Snack, snack),
                    ];
                    // Rest on the last day of each week.
                    if d < 6 {
                        entries.insert(0, entry(MealSlot::Workout, &workouts[n % workouts.len()]));
                    }
                    PlanDay { entries }
                })
                .collect(),
        })
        .collect();
    PlanTemplate {
        goal: goal.to_owned(),
        weeks,
    }
}

fn plans(recipes: &[Item], workouts: &[Item]) -> Vec<Item> {
    let ids = |items: &[Item], wanted: &dyn Fn(&Item) -> bool| -> Vec<String> {
        items
            .iter()
            .filter(|i| wanted(i))
            .map(|i| i.id.clone())
            .collect()
    };
    let free_recipe = |meal: &'static str| {
        move |i: &Item| !i.meta.premium && i.meta.tags.iter().any(|t| t == meal)
    };
    let breakfasts = ids(recipes, &free_recipe("breakfast"));
    let lunches = ids(recipes, &free_recipe("lunch"));
    let dinners = ids(recipes, &free_recipe("dinner"));
    let snacks = ids(recipes, &free_recipe("snack"));
    let meals: Vec<[String; 4]> = (0..7)
        .map(|i| {
            [
                breakfasts[i % breakfasts.len()].clone(),
                lunches[i % lunches.len()].clone(),
                dinners[i % dinners.len()].clone(),
                snacks[i % snacks.len()].clone(),
            ]
        })
        .collect();
    let free_workouts = ids(workouts, &|i| !i.meta.premium);
    let cardio: Vec<String> = free_workouts
        .iter()
        .filter(|id| id.contains("burn") || id.contains("hiit") || id.contains("cycling"))
        .cloned()
        .collect();
    let strength: Vec<String> = ids(workouts, &|i| {
        i.id.contains("strength") || i.id.contains("kettlebell") || i.id.contains("sculpt")
    });
    let gentle: Vec<String> = free_workouts
        .iter()
        .filter(|id| id.contains("yoga") || id.contains("core"))
        .cloned()
        .collect();
    let templates = [
        (
            "Lose weight - 2 week plan",
            "Burn fat with daily cardio and balanced meals.",
            2,
            cardio,
            false,
        ),
        (
            "Build strength - 4 week plan",
            "Progressive strength training with protein-rich meals.",
            4,
            strength,
            true,
        ),
        (
            "Gentle reset - 1 week plan",
            "Move gently and eat well for a week.",
            1,
            gentle,
            false,
        ),
    ];
    templates
        .into_iter()
        .enumerate()
        .map(|(n, (title, goal, weeks, workouts, premium))| {
            let template = plan(goal, weeks, &workouts, &meals);
            item(
                slug(title),
                title.to_owned(),
                premium,
                vec!["plan".into()],
                Body::Plan(template),
                200 + n as i64,
            )
        })
        .collect()
}

fn posts() -> Vec<Item> {
    POSTS
        .iter()
        .enumerate()
        .map(|(n, title)| {
            let body = format!(
                "{title}.\n\nA story from the fitpulse team. Train well, eat well, rest well."
            );
            item(
                slug(title),
                (*title).to_owned(),
                n % 5 == 4,
                vec!["blog".into()],
                Body::Post(Post { body }),
                300 + n as i64,
            )
        })
        .collect()
}

/// The whole demo catalog.
pub fn demo_catalog() -> Vec<Item> {
    let recipes = recipes();
    let workouts = workouts();
    let plans = plans(&recipes, &workouts);
    let mut all = recipes;
    all.extend(workouts);
    all.extend(plans);
    all.extend(posts());
    all
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use fitpulse_actors::domain::ContentKind;

    use super::*;

    #[test]
    fn the_demo_catalog_has_the_promised_counts_and_unique_ids() {
        let all = demo_catalog();
        let count = |kind| all.iter().filter(|i| i.body.kind() == kind).count();
        assert_eq!(count(ContentKind::Recipe), 60);
        assert_eq!(count(ContentKind::Workout), 40);
        assert_eq!(count(ContentKind::Plan), 3);
        assert_eq!(count(ContentKind::Post), 10);
        let ids: HashSet<_> = all.iter().map(|i| (i.body.kind(), i.id.clone())).collect();
        assert_eq!(ids.len(), all.len());
    }

    #[test]
    fn every_plan_entry_points_at_a_seeded_item_of_the_right_kind() {
        let all = demo_catalog();
        let has = |kind, id: &str| all.iter().any(|i| i.body.kind() == kind && i.id == id);
        for item in &all {
            let Body::Plan(plan) = &item.body else {
                continue;
            };
            for entry in plan
                .weeks
                .iter()
                .flat_map(|w| &w.days)
                .flat_map(|d| &d.entries)
            {
                let kind = if entry.slot == MealSlot::Workout {
                    ContentKind::Workout
                } else {
                    ContentKind::Recipe
                };
                assert!(
                    has(kind, &entry.item_id),
                    "{} -> {}",
                    item.id,
                    entry.item_id
                );
            }
        }
    }

    #[test]
    fn every_seeded_item_passes_the_editors_validation() {
        for item in demo_catalog() {
            let mut doc = serde_json::to_value(&item.meta).expect("meta");
            let body = serde_json::to_value(&item.body).expect("body");
            for (k, v) in body.as_object().expect("object") {
                if k != "kind" {
                    doc[k] = v.clone();
                }
            }
            if doc["author_id"].is_null() {
                doc.as_object_mut().expect("object").remove("author_id");
            }
            super::super::items::parse_document(item.body.kind(), doc)
                .unwrap_or_else(|e| panic!("{}: {e}", item.id));
        }
    }
}
