//! Why a flag is on or off for some labels: the decision of a built-in source (the
//! rules file, Unleash) told step by step, for people and tools (`flowgate explain`).
//!
//! The steps are taken by the same functions gates decide with (each constraint's match,
//! each rollout's bucket, the variant's bucket), composed in the order evaluation takes
//! them, and the answer they give is checked against the gate's own in the tests. The
//! types here only hold and print the steps; `rules/explain.rs` takes them.

use std::fmt;

use serde::Serialize;

/// The decision of one flag for one set of labels, and how it was reached: see
/// [`Client::explain`](crate::Client::explain).
///
/// ```
/// use flowgate::{labels, Client};
///
/// let client = Client::from_toml_str(r#"
///     [flags.Checkout]
///     rollout = 50
///     stickiness = "userId"
///     constraints = [{ label = "region", operator = "IN", values = ["eu", "us"] }]
/// "#)?;
/// let why = client.explain("Checkout", &labels! { "userId" => "42", "region" => "ap" }).unwrap();
/// assert!(!why.enabled);
/// println!("{why}");
/// // Checkout: off
/// //   strategy 1 (rollout 50% by userId): no match
/// //     constraint region IN (2 values): `ap`: no match
/// # Ok::<(), flowgate::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The flag.
    pub flag: String,
    /// Whether it is on for the labels.
    pub enabled: bool,
    /// The variant it hands out, when it is on and has variants.
    pub variant: Option<String>,
    /// The steps, in the order evaluation takes them.
    pub steps: Vec<Step>,
}

/// One step of an [`Explanation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// The flag is disabled outright: no strategy is looked at.
    Disabled,
    /// A dependency on a parent flag: `held` when the parent is as required.
    Dependency {
        /// The parent flag.
        parent: String,
        /// Whether the parent must be on (`false`: must be off).
        parent_enabled: bool,
        /// Variants of the parent that satisfy it (empty: any).
        variants: Vec<String>,
        /// Whether the dependency holds.
        held: bool,
    },
    /// The flag has no strategies: it is on for everyone.
    NoStrategies,
    /// A strategy (numbered from 1), and whether it turned the flag on. Strategies
    /// after the first that does are not looked at.
    Strategy {
        /// Its position, from 1.
        number: usize,
        /// What it is: `default`, `rollout 50% by userId`, `user ids (3)`, ...
        kind: String,
        /// Whether it turned the flag on.
        matched: bool,
    },
    /// A constraint of the strategy before it, with the label's value it saw.
    Constraint {
        /// The label it reads.
        label: String,
        /// The operator and its values, as written: `IN (2 values)`, `SEMVER_GTE 2.1.0`.
        operator: String,
        /// The label's value in the call (`None`: the call has no such label).
        value: Option<String>,
        /// Whether it matched (`inverted` already applied).
        matched: bool,
    },
    /// The rollout of the strategy before it: the value hashed, its bucket (1 to 100)
    /// and the percentage it is compared with.
    Rollout {
        /// The label the rollout sticks to (`default`: `userId`, else `sessionId`,
        /// else random; `random`).
        stickiness: String,
        /// The value hashed (`None`: the call has none).
        value: Option<String>,
        /// The call's bucket, 1 to 100: the value's, or drawn at random when there is
        /// no value and the stickiness allows it (then the answer changes from call to
        /// call); `None`: not in the rollout, for want of the label it sticks to.
        bucket: Option<u32>,
        /// The rollout's percentage: in when the bucket is at most this.
        percentage: u32,
    },
    /// The variant chosen: by an override, or by its bucket among the weights.
    Variant {
        /// The variant.
        name: String,
        /// Whether an override on a label chose it.
        overridden: bool,
        /// The value's bucket, 1 to `total` (`None`: an override, or random).
        bucket: Option<u32>,
        /// The weights added up.
        total: u32,
    },
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.flag,
            if self.enabled { "on" } else { "off" }
        )?;
        if let Some(variant) = &self.variant {
            write!(f, ", variant `{variant}`")?;
        }
        for step in &self.steps {
            writeln!(f)?;
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

fn verdict(matched: bool) -> &'static str {
    if matched {
        "match"
    } else {
        "no match"
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Disabled => f.write_str("  disabled in the rules"),
            Step::Dependency {
                parent,
                parent_enabled,
                variants,
                held,
            } => {
                let want = if *parent_enabled { "on" } else { "off" };
                write!(f, "  depends on `{parent}` being {want}")?;
                if !variants.is_empty() {
                    write!(f, " with variant {}", variants.join(" or "))?;
                }
                f.write_str(if *held { ": holds" } else { ": does not hold" })
            }
            Step::NoStrategies => f.write_str("  no strategies: on for everyone"),
            Step::Strategy {
                number,
                kind,
                matched,
            } => write!(f, "  strategy {number} ({kind}): {}", verdict(*matched)),
            Step::Constraint {
                label,
                operator,
                value,
                matched,
            } => match value {
                Some(value) => write!(
                    f,
                    "    constraint {label} {operator}: `{value}`: {}",
                    verdict(*matched)
                ),
                None => write!(
                    f,
                    "    constraint {label} {operator}: no `{label}` label: {}",
                    verdict(*matched)
                ),
            },
            Step::Rollout {
                stickiness,
                value,
                bucket,
                percentage,
            } => {
                let place = |bucket: u32| {
                    if bucket <= *percentage {
                        format!("within {percentage}%")
                    } else {
                        format!("above {percentage}%")
                    }
                };
                match (value, bucket) {
                    (Some(value), Some(bucket)) => write!(
                        f,
                        "    rollout by {stickiness}: `{value}` is in bucket {bucket} of 100, {}",
                        place(*bucket)
                    ),
                    (None, Some(bucket)) => write!(
                        f,
                        "    rollout by {stickiness}: no value to hash, so a random bucket: {bucket} of 100, {} (another call may differ)",
                        place(*bucket)
                    ),
                    _ => write!(
                        f,
                        "    rollout by {stickiness}: no `{stickiness}` label, so not in the rollout"
                    ),
                }
            }
            Step::Variant {
                name,
                overridden,
                bucket,
                total,
            } => {
                if *overridden {
                    write!(f, "  variant `{name}`: chosen by an override")
                } else if let Some(bucket) = bucket {
                    write!(f, "  variant `{name}`: bucket {bucket} of {total}")
                } else {
                    write!(f, "  variant `{name}`: chosen at random (no value to hash)")
                }
            }
        }
    }
}
