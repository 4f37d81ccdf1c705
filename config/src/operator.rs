//! The constraint operators: their names, what each compares against (one `value` or a
//! list of `values`), and the comparand read from what a rule wrote.
//!
//! The one list of operators in flowgate: the rules file is checked against it, and the
//! runtime compiles both the file and Unleash's feature states through it, so an
//! operator cannot be known in one place and missing in another.

use std::fmt;

/// A constraint operator, as Unleash defines them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operator {
    /// The label is one of the values.
    In,
    /// The label is none of the values (a missing label is not in them).
    NotIn,
    /// The label contains one of the values.
    StrContains,
    /// The label starts with one of the values.
    StrStartsWith,
    /// The label ends with one of the values.
    StrEndsWith,
    /// The label, read as a number, equals the value.
    NumEq,
    /// ... is greater than the value.
    NumGt,
    /// ... is greater than or equal to the value.
    NumGte,
    /// ... is less than the value.
    NumLt,
    /// ... is less than or equal to the value.
    NumLte,
    /// The label (or now, for `currentTime` without a label) is after the date.
    DateAfter,
    /// ... is before the date.
    DateBefore,
    /// The label, read as a semantic version, equals the value.
    SemverEq,
    /// ... is greater than the value.
    SemverGt,
    /// ... is greater than or equal to the value.
    SemverGte,
    /// ... is less than the value.
    SemverLt,
    /// ... is less than or equal to the value.
    SemverLte,
    /// The label matches the regular expression.
    Regex,
    /// The label is an address inside one of the networks.
    InCidr,
}

/// What an operator compares a label against: one value or a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// `value = "..."`
    One,
    /// `values = [...]`
    List,
}

/// The value of a constraint, read once, as its operator compares it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Comparand {
    /// For `IN`, `NOT_IN` and the `STR_` operators: the values as written.
    Values(Vec<String>),
    /// For the `NUM_` operators.
    Number(f64),
    /// For the `DATE_` operators.
    Timestamp(jiff::Timestamp),
    /// For the `SEMVER_` operators.
    Version(semver::Version),
    /// For `REGEX`: a pattern the `regex` crate's parser accepts.
    Pattern(String),
    /// For `IN_CIDR`.
    Networks(Vec<ipnet::IpNet>),
}

impl Operator {
    /// Every operator, in the order the documentation lists them.
    pub const ALL: [Operator; 19] = [
        Operator::In,
        Operator::NotIn,
        Operator::StrContains,
        Operator::StrStartsWith,
        Operator::StrEndsWith,
        Operator::NumEq,
        Operator::NumGt,
        Operator::NumGte,
        Operator::NumLt,
        Operator::NumLte,
        Operator::DateAfter,
        Operator::DateBefore,
        Operator::SemverEq,
        Operator::SemverGt,
        Operator::SemverGte,
        Operator::SemverLt,
        Operator::SemverLte,
        Operator::Regex,
        Operator::InCidr,
    ];

    /// The operator's name, as rules and Unleash write it (`"SEMVER_GT"`).
    pub const fn name(self) -> &'static str {
        match self {
            Operator::In => "IN",
            Operator::NotIn => "NOT_IN",
            Operator::StrContains => "STR_CONTAINS",
            Operator::StrStartsWith => "STR_STARTS_WITH",
            Operator::StrEndsWith => "STR_ENDS_WITH",
            Operator::NumEq => "NUM_EQ",
            Operator::NumGt => "NUM_GT",
            Operator::NumGte => "NUM_GTE",
            Operator::NumLt => "NUM_LT",
            Operator::NumLte => "NUM_LTE",
            Operator::DateAfter => "DATE_AFTER",
            Operator::DateBefore => "DATE_BEFORE",
            Operator::SemverEq => "SEMVER_EQ",
            Operator::SemverGt => "SEMVER_GT",
            Operator::SemverGte => "SEMVER_GTE",
            Operator::SemverLt => "SEMVER_LT",
            Operator::SemverLte => "SEMVER_LTE",
            Operator::Regex => "REGEX",
            Operator::InCidr => "IN_CIDR",
        }
    }

    /// The operator called `name`, exactly as written (names are upper case).
    ///
    /// ```
    /// use flowgate_config::Operator;
    /// assert_eq!(Operator::from_name("SEMVER_GT"), Some(Operator::SemverGt));
    /// assert_eq!(Operator::from_name("semver_gt"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|operator| operator.name() == name)
    }

    /// Whether the operator compares against one `value` or a list of `values`.
    pub const fn arity(self) -> Arity {
        match self {
            Operator::In
            | Operator::NotIn
            | Operator::StrContains
            | Operator::StrStartsWith
            | Operator::StrEndsWith
            | Operator::InCidr => Arity::List,
            _ => Arity::One,
        }
    }

    /// Reads what a rule compares against: `values` for the list operators, `value` for
    /// the others.
    ///
    /// ```
    /// use flowgate_config::{Comparand, Operator};
    /// assert_eq!(Operator::NumGt.comparand(vec![], "10"), Ok(Comparand::Number(10.0)));
    /// assert!(Operator::SemverGt.comparand(vec![], "1.0").is_err());
    /// ```
    ///
    /// # Errors
    /// Why the value cannot be compared, in a sentence that quotes it.
    pub fn comparand(self, values: Vec<String>, value: &str) -> Result<Comparand, String> {
        let not = |what: &str| format!("{value:?} is not {what}");
        Ok(match self {
            Operator::In
            | Operator::NotIn
            | Operator::StrContains
            | Operator::StrStartsWith
            | Operator::StrEndsWith => Comparand::Values(values),
            Operator::NumEq
            | Operator::NumGt
            | Operator::NumGte
            | Operator::NumLt
            | Operator::NumLte => {
                Comparand::Number(crate::values::number(value).ok_or_else(|| not("a number"))?)
            }
            Operator::DateAfter | Operator::DateBefore => {
                Comparand::Timestamp(crate::values::timestamp(value).ok_or_else(|| {
                    not("a date (RFC 3339, e.g. \"2025-01-31T12:00:00Z\", or \"2025-01-31\")")
                })?)
            }
            Operator::SemverEq
            | Operator::SemverGt
            | Operator::SemverGte
            | Operator::SemverLt
            | Operator::SemverLte => Comparand::Version(
                crate::values::version(value)
                    .ok_or_else(|| not("a semantic version (e.g. \"2.1.0\")"))?,
            ),
            Operator::Regex => {
                crate::values::check_pattern(value).map_err(|reason| {
                    format!("{value:?} is not a valid regular expression: {reason}")
                })?;
                Comparand::Pattern(value.to_owned())
            }
            Operator::InCidr => Comparand::Networks(
                values
                    .iter()
                    .map(|v| {
                        crate::values::network(v).ok_or_else(|| {
                            format!(
                                "{v:?} is not an address or a network; IN_CIDR takes values \
                                 such as \"10.0.0.0/8\" or \"::1\""
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// Reads what a rule compares against as Unleash's SDKs do: entries of a list that do
    /// not read are skipped, and `REGEX` takes the first of `values` when `value` is
    /// empty. `None` when nothing can be compared: such a constraint matches nothing.
    pub fn comparand_lenient(self, values: Vec<String>, value: &str) -> Option<Comparand> {
        match self {
            Operator::InCidr => Some(Comparand::Networks(
                values
                    .iter()
                    .filter_map(|v| crate::values::network(v))
                    .collect(),
            )),
            Operator::Regex if value.is_empty() => self
                .comparand(Vec::new(), values.first().map_or("", String::as_str))
                .ok(),
            _ => self.comparand(values, value).ok(),
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_arity_follows_the_kind() {
        for operator in Operator::ALL {
            assert_eq!(Operator::from_name(operator.name()), Some(operator));
            let list = operator.name().starts_with("STR_")
                || matches!(operator, Operator::In | Operator::NotIn | Operator::InCidr);
            assert_eq!(operator.arity() == Arity::List, list, "{operator}");
        }
        assert_eq!(Operator::from_name("EQUALS"), None);
    }

    #[test]
    fn lenient_reading_skips_what_does_not_read() {
        let values = ["10.0.0.0/8".to_owned(), "nonsense".to_owned()];
        assert_eq!(
            Operator::InCidr.comparand_lenient(values.to_vec(), ""),
            Some(Comparand::Networks(vec!["10.0.0.0/8".parse().unwrap()]))
        );
        assert!(Operator::InCidr.comparand(values.to_vec(), "").is_err());
        assert_eq!(
            Operator::Regex.comparand_lenient(vec!["^a".to_owned()], ""),
            Some(Comparand::Pattern("^a".into()))
        );
        assert_eq!(Operator::NumEq.comparand_lenient(vec![], "x"), None);
    }
}
