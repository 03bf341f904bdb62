//! Heated chemotherapy perfusion of a body cavity: the logic HIPEC (§7) and HITHOC (§8) share,
//! as a library both plugins link (each plugin library exports its own descriptor, so the logic
//! cannot live in one of them), so both families run one implementation.
//!
//! - Phase logic: the drug goes in only once the cavity is at temperature (§7 [S 7-1]). The
//!   `heating` phase ends when the outflow and both cavity probes have read at least
//!   `target_c` for `target_hold_s`; the `drug` phase then runs its full duration. A probe that is
//!   not valid holds the drug back: the target must be measured, not assumed. A drug given in
//!   fractions has a phase per later fraction, `drug_2` and `drug_3`, after `drug`: together
//!   they are the drug phase.
//! - Drug: where the protocol has a `drug_pump` (an infusion pump), the plugin gives the dose,
//!   `drug_ml` at `drug_ml_h`, as the `drug` phase begins, counting what the pump was actually
//!   commanded (the core may limit it), so the dose is measured, not assumed.
//! - Thermal dose per probe as cumulative equivalent minutes at 43 °C (CEM43, Sapareto–Dewey):
//!   `Σ R^(43 − T)·Δt` with `R = 0.5` at or above 43 °C and `0.25` below, over every tick with
//!   a valid reading.
//! - Drug-phase summary: minutes in the phase, the mean and the lowest cavity temperature (the
//!   coldest of the outflow and cavity probes at each tick), and whether the drug phase began at
//!   the target (1) or because the heating phase ran out of time (0): the core ends a phase at
//!   its duration whatever the plugin says, so the record must show which it was.

use perfuse_plugin_sdk::{CreateContext, ParamSpec, PhaseEvent, StepInput, StepOutput, state};

/// Probes, in the order of their thermal doses: inflow, outflow, upper cavity, lower cavity, core.
pub const PROBES: usize = 5;
/// The probes that say the cavity is at temperature: outflow and the two cavity sites.
const CAVITY_PROBES: [usize; 3] = [1, 2, 3];
/// Number of derived values: five doses, minutes to target, minutes of drug, mean and lowest
/// cavity temperature in the drug phase, drug started at target.
pub const DERIVED: usize = PROBES + 5;
/// Reference temperature of CEM43, °C.
const CEM_REF_C: f64 = 43.0;

/// The plugin parameters this logic takes: the cavity temperature at which the drug goes in,
/// and how long it must hold before.
pub const PARAMS: &[ParamSpec<'static>] = &[
    ParamSpec::required("target_c", "°C", 37.0, 45.0),
    ParamSpec::with_default("target_hold_s", "s", 0.0, 600.0, 30.0),
    ParamSpec::optional("drug_ml", "mL", 0.1, 5000.0),
    ParamSpec::optional("drug_ml_h", "mL/h", 1.0, 1000.0),
];

/// The drug pump of a protocol that has one: its actuator index, the dose and the rate.
#[derive(Clone, Copy)]
struct DrugPump {
    actuator: usize,
    dose_ml: f64,
    rate_ml_h: f64,
}

/// The state of one heated cavity perfusion.
pub struct HeatedCavity {
    probes: [usize; PROBES],
    heating: u32,
    drug: u32,
    /// The phases of the later fractions (`drug_2`, `drug_3`) where the protocol has them.
    later_fractions: [Option<u32>; 2],
    target_c: f64,
    hold_s: f64,
    period_s: f64,

    at_target_since_s: Option<f64>,
    cem43_min: [f64; PROBES],
    heating_min: f64,
    drug_ticks: u64,
    drug_valid_ticks: u64,
    drug_sum_c: f64,
    drug_lowest_c: f64,
    /// 1 when the drug phase began at the target, 0 when the heating phase timed out.
    started_at_target: f64,
    drug_pump: Option<DrugPump>,
    /// Drug still to give, mL; set when the drug phase begins.
    drug_to_give_ml: f64,
}

impl HeatedCavity {
    /// Resolves the probe signals (ids in dose order) and the `heating` and `drug` phases.
    pub fn create(ctx: &CreateContext<'_>, probe_ids: [&str; PROBES]) -> Result<Self, String> {
        let mut probes = [0; PROBES];
        for (slot, id) in probes.iter_mut().zip(probe_ids) {
            *slot = ctx.signal(id)?;
        }
        let mut cavity = Self::new(
            probes,
            [ctx.phase("heating")? as u32, ctx.phase("drug")? as u32],
            ctx.params.require("target_c")?,
            ctx.params.get("target_hold_s").unwrap_or(30.0),
            ctx.period_s,
        );
        cavity.later_fractions =
            ["drug_2", "drug_3"].map(|id| ctx.phase(id).ok().map(|i| i as u32));
        let dose = (ctx.params.get("drug_ml"), ctx.params.get("drug_ml_h"));
        cavity.drug_pump = match (ctx.actuator("drug_pump"), dose) {
            (Ok(actuator), (Some(dose_ml), Some(rate_ml_h))) => Some(DrugPump {
                actuator,
                dose_ml,
                rate_ml_h,
            }),
            (Ok(_), _) => {
                return Err(
                    "the protocol has a `drug_pump`: give `drug_ml` and `drug_ml_h`".to_string(),
                );
            }
            (Err(_), (None, None)) => None,
            (Err(_), _) => {
                return Err("`drug_ml` and `drug_ml_h` need a `drug_pump` actuator".to_string());
            }
        };
        Ok(cavity)
    }

    /// Whether `phase` is the drug phase or the phase of a later fraction.
    fn in_drug(&self, phase: u32) -> bool {
        phase == self.drug || self.later_fractions.contains(&Some(phase))
    }

    /// The state with probe signal indices, the `[heating, drug]` phase indices, the target and
    /// its hold time, and the tick period resolved.
    fn new(
        probes: [usize; PROBES],
        [heating, drug]: [u32; 2],
        target_c: f64,
        hold_s: f64,
        period_s: f64,
    ) -> Self {
        HeatedCavity {
            probes,
            heating,
            drug,
            later_fractions: [None; 2],
            target_c,
            hold_s,
            period_s,
            at_target_since_s: None,
            cem43_min: [0.0; PROBES],
            heating_min: f64::NAN,
            drug_ticks: 0,
            drug_valid_ticks: 0,
            drug_sum_c: 0.0,
            drug_lowest_c: f64::INFINITY,
            started_at_target: f64::NAN,
            drug_pump: None,
            drug_to_give_ml: 0.0,
        }
    }

    /// The coldest of the outflow and cavity probes, if all are valid.
    fn coldest_cavity_c(&self, input: &StepInput) -> Option<f64> {
        CAVITY_PROBES.iter().try_fold(f64::INFINITY, |lowest, &k| {
            input.valid(self.probes[k]).map(|c| lowest.min(c))
        })
    }

    pub fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        let minutes = self.period_s / 60.0;
        for (dose, &i) in self.cem43_min.iter_mut().zip(&self.probes) {
            if let Some(c) = input.valid(i) {
                let r: f64 = if c >= CEM_REF_C { 0.5 } else { 0.25 };
                *dose += (r.ln() * (CEM_REF_C - c)).exp() * minutes;
            }
        }
        let coldest = self.coldest_cavity_c(input);
        if input.phase == self.heating {
            match coldest {
                Some(c) if c >= self.target_c => {
                    let since = *self.at_target_since_s.get_or_insert(input.t_s);
                    // Half a tick of slack: the hold counts whole ticks, whatever the rounding.
                    if input.t_s - since >= self.hold_s - 0.5 * self.period_s {
                        out.advance_phase = 1;
                        out.assessment = 1;
                        self.heating_min = input.phase_elapsed_s / 60.0;
                    }
                }
                _ => self.at_target_since_s = None,
            }
        } else if self.in_drug(input.phase) {
            self.drug_ticks += 1;
            if let Some(c) = coldest {
                self.drug_sum_c += c;
                self.drug_valid_ticks += 1;
                self.drug_lowest_c = self.drug_lowest_c.min(c);
            }
        }

        if let Some(pump) = self.drug_pump {
            // What the pump was commanded last tick went in over that tick.
            let given = input.commands[pump.actuator].max(0.0) * self.period_s / 3600.0;
            self.drug_to_give_ml = (self.drug_to_give_ml - given).max(0.0);
            out.commands[pump.actuator] = if self.drug_to_give_ml > 0.0 {
                pump.rate_ml_h
                    .min(self.drug_to_give_ml * 3600.0 / self.period_s)
            } else {
                0.0
            };
        }

        let d = &mut out.derived;
        d[..PROBES].copy_from_slice(&self.cem43_min);
        d[PROBES] = self.heating_min;
        d[PROBES + 1] = if input.phase == self.drug {
            input.phase_elapsed_s / 60.0
        } else {
            self.drug_ticks as f64 * minutes
        };
        d[PROBES + 2] = if self.drug_valid_ticks > 0 {
            self.drug_sum_c / self.drug_valid_ticks as f64
        } else {
            f64::NAN
        };
        d[PROBES + 3] = if self.drug_lowest_c.is_finite() {
            self.drug_lowest_c
        } else {
            f64::NAN
        };
        d[PROBES + 4] = self.started_at_target;
    }

    /// Writes what the run accumulated: the hold timer, thermal doses and drug-phase figures.
    pub fn save(&self, out: &mut state::Writer) {
        out.put(&self.at_target_since_s)
            .put(&self.cem43_min)
            .put(&self.heating_min)
            .put(&self.drug_ticks)
            .put(&self.drug_valid_ticks)
            .put(&self.drug_sum_c)
            .put(&self.drug_lowest_c)
            .put(&self.started_at_target)
            .put(&self.drug_to_give_ml);
    }

    pub fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.at_target_since_s)?;
        input.read(&mut self.cem43_min)?;
        input.read(&mut self.heating_min)?;
        input.read(&mut self.drug_ticks)?;
        input.read(&mut self.drug_valid_ticks)?;
        input.read(&mut self.drug_sum_c)?;
        input.read(&mut self.drug_lowest_c)?;
        input.read(&mut self.started_at_target)?;
        input.read(&mut self.drug_to_give_ml)
    }

    pub fn phase_event(&mut self, event: &PhaseEvent) {
        self.at_target_since_s = None;
        if event.from == self.heating && event.to == self.drug {
            self.started_at_target = if self.heating_min.is_nan() { 0.0 } else { 1.0 };
            if let Some(pump) = self.drug_pump {
                self.drug_to_give_ml = pump.dose_ml;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfuse_plugin_sdk::{MAX_ACTUATORS, MAX_SIGNALS, validity};

    const PERIOD_S: f64 = 0.1;

    fn cavity() -> HeatedCavity {
        HeatedCavity::new([0, 1, 2, 3, 4], [0, 1], 41.0, 30.0, PERIOD_S)
    }

    /// A tick at `t_s` in `phase` with every probe reading `temps`.
    fn input(t_s: f64, phase: u32, temps: [f64; PROBES]) -> StepInput {
        let mut values = [f64::NAN; MAX_SIGNALS];
        values[..PROBES].copy_from_slice(&temps);
        StepInput {
            tick: (t_s / PERIOD_S).round() as u64,
            t_s,
            phase,
            phase_elapsed_s: t_s,
            n_signals: PROBES as u32,
            values,
            validity: [validity::OK; MAX_SIGNALS],
            setpoints: [f64::NAN; MAX_SIGNALS],
            commands: [f64::NAN; MAX_ACTUATORS],
            ..StepInput::default()
        }
    }

    #[test]
    fn thermal_dose_follows_sapareto_dewey() {
        let mut c = cavity();
        let mut out = StepOutput::default();
        // Ten minutes: inflow at 44 °C (2 min per min), outflow at 43 (1), upper at 42 (0.25),
        // lower at 41 (0.0625), core at 37 (0.25^6).
        for i in 0..6000 {
            c.step(
                &input(i as f64 * PERIOD_S, 1, [44.0, 43.0, 42.0, 41.0, 37.0]),
                &mut out,
            );
        }
        let expected = [20.0, 10.0, 2.5, 0.625, 10.0 * 0.25f64.powi(6)];
        for (got, want) in out.derived[..PROBES].iter().zip(expected) {
            assert!((got - want).abs() < 1e-9 * want.max(1.0), "{got} vs {want}");
        }
    }

    #[test]
    fn the_drug_waits_for_every_cavity_probe_to_hold_the_target() {
        let mut c = cavity();
        let mut out = StepOutput::default();
        let mut asked = None;
        for i in 0..6000 {
            let t = i as f64 * PERIOD_S;
            // The pelvis reaches 41 °C only at 100 s; at 120 s it dips for one tick.
            let lower = if t < 100.0 || (t - 120.0).abs() < 1e-9 {
                40.9
            } else {
                41.2
            };
            out.advance_phase = 0;
            c.step(&input(t, 0, [42.0, 41.5, 41.6, lower, 37.0]), &mut out);
            if out.advance_phase == 1 {
                asked = Some(t);
                break;
            }
        }
        // 30 s after the dip, not 30 s after 100 s.
        let t = asked.expect("the plugin asked for the drug phase");
        assert!((t - 150.1).abs() < 1e-6, "{t}");
        assert!((out.derived[PROBES] - t / 60.0).abs() < 1e-9);
    }

    #[test]
    fn the_later_fractions_count_as_the_drug_phase() {
        let mut c = cavity();
        c.later_fractions = [Some(2), Some(3)];
        let mut out = StepOutput::default();
        // One minute in each fraction's phase, then one in a phase after them.
        for (k, phase) in [1, 2, 3, 4].into_iter().enumerate() {
            for i in 0..600 {
                let t = (k * 600 + i) as f64 * PERIOD_S;
                let mut tick = input(t, phase, [42.0, 41.5, 41.4, 41.2 + k as f64 * 0.1, 37.0]);
                tick.phase_elapsed_s = i as f64 * PERIOD_S;
                c.step(&tick, &mut out);
            }
        }
        assert!(
            (out.derived[PROBES + 1] - 3.0).abs() < 1e-9,
            "3 min of drug"
        );
        assert!(
            (out.derived[PROBES + 3] - 41.2).abs() < 1e-9,
            "lowest in the drug phases"
        );
    }

    #[test]
    fn a_failed_probe_holds_the_drug_back() {
        let mut c = cavity();
        let mut out = StepOutput::default();
        for i in 0..3000 {
            let mut tick = input(i as f64 * PERIOD_S, 0, [42.0, 41.5, 41.6, 41.5, 37.0]);
            tick.validity[3] = validity::STALE;
            c.step(&tick, &mut out);
            assert_eq!(out.advance_phase, 0);
        }
    }
}
