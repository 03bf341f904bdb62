//! The plugin's parameters: every number of the Toronto protocol that the RON file cannot express
//! as a setpoint, checked once in `validate` and read as plain fields afterwards.

use perfuse_plugin_sdk::{ParamSpec, Params};

/// Every parameter, all required: the protocol file carries each number with its source. The
/// host checks the file's values against these ranges; `perfuse plugins` lists them.
pub const PARAMS: [ParamSpec<'static>; 16] = [
    // donor body weight
    ParamSpec::required("donor_weight_kg", "kg", 10.0, 200.0),
    // estimated cardiac output per kg of donor weight
    ParamSpec::required("cardiac_output_ml_kg_min", "mL/kg/min", 20.0, 200.0),
    // target flow as a fraction of the estimated cardiac output
    ParamSpec::required("target_flow_fraction", "1", 0.05, 1.5),
    // first flow step as a fraction of the target flow
    ParamSpec::required("flow_start_fraction", "1", 0.01, 1.0),
    // time between flow steps
    ParamSpec::required("flow_step_s", "s", 1.0, 7200.0),
    // time to reach the target flow
    ParamSpec::required("flow_rampup_s", "s", 1.0, 14_400.0),
    // perfusate temperature at which ventilation starts
    ParamSpec::required("ventilation_start_c", "°C", 20.0, 37.5),
    // tidal volume per kg of donor weight
    ParamSpec::required("tidal_volume_ml_kg", "mL/kg", 1.0, 15.0),
    // ventilator rate
    ParamSpec::required("respiratory_rate_per_min", "1/min", 1.0, 40.0),
    // positive end-expiratory pressure
    ParamSpec::required("peep_cmh2o", "cmH2O", 0.0, 20.0),
    // inspired oxygen between assessments
    ParamSpec::required("fio2_maintenance_pct", "%", 21.0, 100.0),
    // inspired oxygen during an assessment
    ParamSpec::required("fio2_assessment_pct", "%", 21.0, 100.0),
    // time between assessments
    ParamSpec::required("assessment_every_s", "s", 60.0, 86_400.0),
    // time at assessment FiO2 before the assessment is recorded
    ParamSpec::required("assessment_wait_s", "s", 10.0, 3600.0),
    // P/F ratio below which the lung is declined
    ParamSpec::required("pf_threshold_mmhg", "mmHg", 50.0, 700.0),
    // change between assessments that counts as deterioration
    ParamSpec::required("deterioration_fraction", "1", 0.01, 1.0),
];

/// The checked parameters.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub donor_weight_kg: f64,
    pub cardiac_output_ml_kg_min: f64,
    pub target_flow_fraction: f64,
    pub flow_start_fraction: f64,
    pub flow_step_s: f64,
    pub flow_rampup_s: f64,
    pub ventilation_start_c: f64,
    pub tidal_volume_ml_kg: f64,
    pub respiratory_rate_per_min: f64,
    pub peep_cmh2o: f64,
    pub fio2_maintenance_pct: f64,
    pub fio2_assessment_pct: f64,
    pub assessment_every_s: f64,
    pub assessment_wait_s: f64,
    pub pf_threshold_mmhg: f64,
    pub deterioration_fraction: f64,
}

impl Settings {
    /// Reads the parameters, which the host has checked against [`PARAMS`] (each given, in its
    /// range), and checks how they relate; the error names the parameters and what is allowed.
    pub fn read(params: &Params<'_>) -> Result<Settings, String> {
        let mut v = [0.0; PARAMS.len()];
        for (slot, d) in v.iter_mut().zip(&PARAMS) {
            *slot = params.value(d.name)?;
        }
        let s = Settings {
            donor_weight_kg: v[0],
            cardiac_output_ml_kg_min: v[1],
            target_flow_fraction: v[2],
            flow_start_fraction: v[3],
            flow_step_s: v[4],
            flow_rampup_s: v[5],
            ventilation_start_c: v[6],
            tidal_volume_ml_kg: v[7],
            respiratory_rate_per_min: v[8],
            peep_cmh2o: v[9],
            fio2_maintenance_pct: v[10],
            fio2_assessment_pct: v[11],
            assessment_every_s: v[12],
            assessment_wait_s: v[13],
            pf_threshold_mmhg: v[14],
            deterioration_fraction: v[15],
        };
        if s.assessment_wait_s >= s.assessment_every_s {
            return Err(format!(
                "plugin parameter `assessment_wait_s` = {} must be shorter than \
                 `assessment_every_s` = {}",
                s.assessment_wait_s, s.assessment_every_s
            ));
        }
        if s.flow_step_s > s.flow_rampup_s {
            return Err(format!(
                "plugin parameter `flow_step_s` = {} must not exceed `flow_rampup_s` = {}",
                s.flow_step_s, s.flow_rampup_s
            ));
        }
        Ok(s)
    }

    /// The target flow: a fraction of the cardiac output estimated from the donor's weight.
    pub fn target_flow_ml_min(&self) -> f64 {
        self.target_flow_fraction * self.cardiac_output_ml_kg_min * self.donor_weight_kg
    }

    /// The flow requested `t_s` after perfusion began: the first step, then equal steps every
    /// `flow_step_s` up to the target at `flow_rampup_s`.
    pub fn flow_request_ml_min(&self, t_s: f64) -> f64 {
        let steps = (self.flow_rampup_s / self.flow_step_s).round().max(1.0);
        let increment = (1.0 - self.flow_start_fraction) / steps;
        let taken = (t_s / self.flow_step_s).floor().max(0.0);
        let fraction = (self.flow_start_fraction + taken * increment).min(1.0);
        fraction * self.target_flow_ml_min()
    }

    pub fn tidal_volume_ml(&self) -> f64 {
        self.tidal_volume_ml_kg * self.donor_weight_kg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfuse_plugin_sdk::{Param, StrRef, metadata};

    fn toronto() -> Vec<(&'static str, f64)> {
        vec![
            ("donor_weight_kg", 70.0),
            ("cardiac_output_ml_kg_min", 70.0),
            ("target_flow_fraction", 0.4),
            ("flow_start_fraction", 0.1),
            ("flow_step_s", 600.0),
            ("flow_rampup_s", 3600.0),
            ("ventilation_start_c", 32.0),
            ("tidal_volume_ml_kg", 7.0),
            ("respiratory_rate_per_min", 7.0),
            ("peep_cmh2o", 5.0),
            ("fio2_maintenance_pct", 21.0),
            ("fio2_assessment_pct", 100.0),
            ("assessment_every_s", 3600.0),
            ("assessment_wait_s", 300.0),
            ("pf_threshold_mmhg", 400.0),
            ("deterioration_fraction", 0.15),
        ]
    }

    /// The host's check against the declarations, then the plugin's own.
    fn check(pairs: &[(&'static str, f64)]) -> Result<Settings, String> {
        metadata::check(&PARAMS, pairs.iter().copied()).map_err(|e| e.message)?;
        let raw: Vec<Param> = pairs
            .iter()
            .map(|&(name, value)| Param {
                name: StrRef::new(name),
                value,
            })
            .collect();
        Settings::read(&Params::new(&raw, &PARAMS))
    }

    #[test]
    fn flow_steps_up_to_40_percent_of_cardiac_output_in_an_hour() {
        let s = check(&toronto()).unwrap();
        assert!((s.target_flow_ml_min() - 1960.0).abs() < 1e-9);
        assert!((s.flow_request_ml_min(0.0) - 196.0).abs() < 1e-9);
        assert!((s.flow_request_ml_min(599.0) - 196.0).abs() < 1e-9);
        assert!((s.flow_request_ml_min(600.0) - 490.0).abs() < 1e-9);
        assert!((s.flow_request_ml_min(3599.0) - 1666.0).abs() < 1e-9);
        assert!((s.flow_request_ml_min(3600.0) - 1960.0).abs() < 1e-9);
        assert!((s.flow_request_ml_min(9000.0) - 1960.0).abs() < 1e-9);
        assert!((s.tidal_volume_ml() - 490.0).abs() < 1e-9);
    }

    #[test]
    fn every_parameter_is_required_and_checked() {
        let mut p = toronto();
        p.retain(|(n, _)| *n != "peep_cmh2o");
        assert!(check(&p).unwrap_err().contains("`peep_cmh2o`"));
        let mut p = toronto();
        p[0].1 = f64::NAN;
        let err = check(&p).unwrap_err();
        assert_eq!(err, "expected donor_weight_kg from 10 to 200 kg, found NaN");
        let mut p = toronto();
        p.push(("donor_height_cm", 180.0));
        assert!(check(&p).unwrap_err().contains("`donor_height_cm`"));
        let mut p = toronto();
        p[13].1 = 4000.0;
        assert!(check(&p).unwrap_err().contains("assessment_wait_s"));
    }
}
