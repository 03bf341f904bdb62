//! Named numeric parameters from the protocol's `simulator.params`: declared once with their range
//! and meaning, checked once in `SimHal::new`, then read as plain struct fields.

use std::collections::BTreeMap;

/// One parameter: its name (the unit is part of it), its allowed range and what it means.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamDef {
    pub name: &'static str,
    pub min: f64,
    pub max: f64,
    pub meaning: &'static str,
}

impl ParamDef {
    /// Checks `value` against the range; the error names the parameter and what is allowed.
    pub(crate) fn check(&self, value: f64) -> Result<(), String> {
        if value.is_finite() && value >= self.min && value <= self.max {
            Ok(())
        } else {
            Err(format!(
                "simulator param `{}` = {value}: must be a number from {} to {} ({})",
                self.name, self.min, self.max, self.meaning
            ))
        }
    }
}

/// Declares a parameter struct together with its table of [`ParamDef`]s, so the two cannot
/// disagree. Each field is `/// meaning` then `name: [min, max]`; defaults are written as a struct
/// literal elsewhere, which the compiler checks for completeness.
macro_rules! param_set {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( #[doc = $doc:literal] $field:ident : [$min:expr, $max:expr] ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name {
            $( #[doc = $doc] pub $field: f64, )*
        }

        impl $name {
            /// Every parameter of the set, in declaration order.
            pub(crate) const DEFS: &'static [$crate::params::ParamDef] = &[
                $( $crate::params::ParamDef {
                    name: stringify!($field),
                    min: $min,
                    max: $max,
                    meaning: $doc.trim_ascii(),
                }, )*
            ];

            /// Every parameter's value, in declaration order.
            pub(crate) fn values(&self) -> Vec<f64> {
                vec![$( self.$field, )*]
            }

            fn slot(&mut self, name: &str) -> Option<&mut f64> {
                match name {
                    $( stringify!($field) => Some(&mut self.$field), )*
                    _ => None,
                }
            }

            /// Overrides the defaults with the given values of this set's parameters; names of
            /// other sets are skipped (the caller rejects names no set knows). Every bad value is
            /// reported, one per line.
            pub(crate) fn apply(&mut self, given: &std::collections::BTreeMap<String, f64>)
                -> Result<(), String>
            {
                let mut errors = Vec::new();
                for (name, &value) in given {
                    let Some(def) = Self::DEFS.iter().find(|d| d.name == name) else {
                        continue;
                    };
                    match (def.check(value), self.slot(name)) {
                        (Ok(()), Some(slot)) => *slot = value,
                        (Err(e), _) => errors.push(e),
                        (Ok(()), None) => {}
                    }
                }
                if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
            }
        }
    };
}

pub(crate) use param_set;

/// Rejects every given name that none of `sets` declares; the error lists what is allowed.
pub(crate) fn reject_unknown(
    model: &str,
    given: &BTreeMap<String, f64>,
    sets: &[&[&str]],
) -> Result<(), String> {
    let unknown: Vec<&str> = given
        .keys()
        .map(String::as_str)
        .filter(|name| !sets.iter().any(|s| s.contains(name)))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let allowed: Vec<String> = sets.iter().map(|s| s.join(", ")).collect();
    Err(format!(
        "unknown simulator param{} {} for model `{model}`; allowed: {}",
        if unknown.len() > 1 { "s" } else { "" },
        unknown
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
        allowed.join(", ")
    ))
}

/// A parameter that switches a model between two modes: absent means `default`, otherwise it
/// must be 0 (`meanings.0`) or 1 (`meanings.1`), and the error says so.
pub(crate) fn mode(
    given: &BTreeMap<String, f64>,
    name: &str,
    default: bool,
    meanings: (&str, &str),
) -> Result<bool, String> {
    match given.get(name).copied() {
        None => Ok(default),
        Some(0.0) => Ok(false),
        Some(1.0) => Ok(true),
        Some(v) => Err(format!(
            "simulator param `{name}` = {v}: must be 0 ({}) or 1 ({})",
            meanings.0, meanings.1
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    param_set! {
        struct Demo {
            /// a length in metres
            length_m: [0.0, 10.0],
            /// a mass in grams
            mass_g: [1.0, 100.0],
        }
    }

    fn given(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn applies_values_in_range_and_names_bad_ones() {
        let mut d = Demo {
            length_m: 1.0,
            mass_g: 5.0,
        };
        d.apply(&given(&[("length_m", 2.5)])).unwrap();
        assert_eq!(d.values(), [2.5, 5.0]);

        let err = d
            .apply(&given(&[("length_m", 11.0), ("mass_g", f64::NAN)]))
            .unwrap_err();
        assert!(err.contains("`length_m` = 11"), "{err}");
        assert!(err.contains("from 0 to 10 (a length in metres)"), "{err}");
        assert!(err.contains("`mass_g` = NaN"), "{err}");
    }

    #[test]
    fn unknown_names_are_listed_with_the_allowed_ones() {
        let names: Vec<&str> = Demo::DEFS.iter().map(|d| d.name).collect();
        let err = reject_unknown("demo", &given(&[("lenght_m", 1.0)]), &[&names]).unwrap_err();
        assert!(err.contains("`lenght_m`"), "{err}");
        assert!(err.contains("allowed: length_m, mass_g"), "{err}");
        assert!(reject_unknown("demo", &given(&[("mass_g", 1.0)]), &[&names]).is_ok());
    }
}
