//! Per-run plugin parameters, `--param KEY=VALUE`: a value that replaces the protocol file's
//! `plugin_params` entry (or the plugin's default) for one run, without editing the file.
//!
//! Only the text is read here. The value is checked where the file's values are, against the
//! parameters the plugin declares (unit, range, required), when its library is opened: a key the
//! plugin does not take and a value out of its range are refused exactly as in the file. A run
//! keeps the texts as given in its record, so that resume and replay apply them again.

use crate::plan::PluginPlan;
use perfuse_plugin_sdk::MAX_PARAMS;

/// A parameter the run sets with `--param`, and what the file said.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamOverride {
    pub key: String,
    pub value: f64,
    /// The file's `plugin_params` value it replaces (`None`: the file leaves it to the plugin).
    pub file: Option<f64>,
}

/// Reads one `KEY=VALUE`; the error quotes the text and says what was expected.
pub fn parse_param(text: &str) -> Result<(String, f64), String> {
    let bad = |what: &str| {
        format!(
            "--param {}: expected KEY=VALUE with a finite number, e.g. kidney_mass_g=180; {what}",
            crate::bounds::escaped(text, 80)
        )
    };
    let (key, value) = text.split_once('=').ok_or_else(|| bad("no `=`"))?;
    let key = key.trim();
    let key_ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !key_ok {
        return Err(bad(
            "the key is empty or holds characters other than letters, digits, `_` and `-`",
        ));
    }
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| bad(&format!("`{}` is not a number", value.trim())))?;
    if !value.is_finite() {
        return Err(bad("the value is not finite"));
    }
    Ok((key.to_string(), value))
}

/// Sets every `--param` text in `given` over `params` (the file's, in sorted-key order, which
/// is kept) and returns what was set. Refuses a malformed text and a key given twice; whether
/// the plugin takes the key and the value is in its range is checked when the plugin is opened,
/// as for the file's values.
pub fn apply(
    params: &mut Vec<(String, f64)>,
    given: &[String],
) -> Result<Vec<ParamOverride>, String> {
    let mut set: Vec<ParamOverride> = Vec::with_capacity(given.len());
    for text in given {
        let (key, value) = parse_param(text)?;
        let quoted = crate::bounds::escaped(text, 80);
        if set.iter().any(|o| o.key == key) {
            return Err(format!("--param {quoted}: `{key}` is given twice"));
        }
        let file = match params.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(i) => Some(std::mem::replace(&mut params[i].1, value)),
            Err(i) => {
                if params.len() >= MAX_PARAMS {
                    return Err(format!(
                        "--param {quoted}: at most {MAX_PARAMS} plugin parameters"
                    ));
                }
                params.insert(i, (key.clone(), value));
                None
            }
        };
        set.push(ParamOverride { key, value, file });
    }
    Ok(set)
}

/// The `--param` among `set` that gave `key`, as `--param KEY=VALUE`: messages about that
/// parameter then name the command line, not the file.
pub fn given_text(set: &[ParamOverride], key: &str) -> Option<String> {
    set.iter()
        .find(|o| o.key == key)
        .map(|o| format!("--param {}={}", o.key, o.value))
}

impl PluginPlan {
    /// Sets the run's `--param` texts over the file's `plugin_params` ([`apply`]) and keeps
    /// what they set in [`PluginPlan::overridden`].
    pub fn override_params(&mut self, given: &[String]) -> Result<(), String> {
        self.overridden = apply(&mut self.params, given)?;
        Ok(())
    }

    /// Enters the simulated organ's or patient's measures into the plugin, as a team enters the
    /// measured mass, weight or body surface area: every parameter of `patient` (the model's
    /// parameters of this run, a drawn organ's included) that the file's `plugin_params` also
    /// gives, by the same name, takes the patient's value, unless a `--param` set it. Only the
    /// values that change are kept in [`PluginPlan::entered`].
    pub fn enter_patient(&mut self, patient: &std::collections::BTreeMap<String, f64>) {
        for (key, &value) in patient {
            if self.override_text(key).is_some() {
                continue;
            }
            if let Ok(i) = self.params.binary_search_by(|(k, _)| k.as_str().cmp(key))
                && self.params[i].1 != value
            {
                let file = std::mem::replace(&mut self.params[i].1, value);
                self.entered.push(ParamOverride {
                    key: key.clone(),
                    value,
                    file: Some(file),
                });
            }
        }
    }

    /// The `--param` that set `key`, when one did ([`given_text`]).
    pub fn override_text(&self, key: &str) -> Option<String> {
        given_text(&self.overridden, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(params: &[(&str, f64)]) -> PluginPlan {
        PluginPlan {
            id: "kidney".into(),
            version_req: semver::VersionReq::STAR,
            sha256: None,
            params: params.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            overridden: Vec::new(),
            entered: Vec::new(),
        }
    }

    #[test]
    fn a_param_text_is_key_equals_a_finite_number() {
        assert_eq!(
            parse_param("kidney_mass_g=180"),
            Ok(("kidney_mass_g".into(), 180.0))
        );
        assert_eq!(parse_param(" bsa_m2 = 1.9 "), Ok(("bsa_m2".into(), 1.9)));
        for (bad, why) in [
            ("kidney_mass_g", "no `=`"),
            ("=180", "the key is empty"),
            ("mass g=1", "the key is empty or holds"),
            ("kidney_mass_g=heavy", "`heavy` is not a number"),
            ("kidney_mass_g=", "`` is not a number"),
            ("kidney_mass_g=inf", "not finite"),
            ("kidney_mass_g=NaN", "not finite"),
        ] {
            let e = parse_param(bad).unwrap_err();
            assert!(
                e.starts_with(&format!("--param {bad}: expected KEY=VALUE")),
                "{e}"
            );
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn overrides_replace_or_add_in_key_order_and_remember_the_file_value() {
        let mut p = plan(&[("a_s", 1.0), ("c_s", 3.0)]);
        p.override_params(&["c_s=30".into(), "b_s=20".into()])
            .unwrap();
        assert_eq!(
            p.params,
            vec![
                ("a_s".into(), 1.0),
                ("b_s".into(), 20.0),
                ("c_s".into(), 30.0)
            ]
        );
        assert_eq!(
            p.overridden,
            vec![
                ParamOverride {
                    key: "c_s".into(),
                    value: 30.0,
                    file: Some(3.0)
                },
                ParamOverride {
                    key: "b_s".into(),
                    value: 20.0,
                    file: None
                },
            ]
        );
        assert_eq!(p.override_text("b_s").as_deref(), Some("--param b_s=20"));
        assert_eq!(p.override_text("a_s"), None);
        let e = plan(&[])
            .override_params(&["x=1".into(), "x=2".into()])
            .unwrap_err();
        assert_eq!(e, "--param x=2: `x` is given twice");
    }
}
