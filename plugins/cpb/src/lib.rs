//! Adult cardiopulmonary bypass, the heart–lung machine (docs/clinical-basis.md §12).
//!
//! What a RON file cannot express lives here:
//! - the heparin check: the pump stays stopped until a valid ACT at or above `act_min_s` has been
//!   entered (§12A [S 19]); the `heparin` phase ends then;
//! - going on bypass: the arterial clamp opens first, the venous occluder opens in proportion to
//!   the flow ramp (arterial first, then venous, §12A [S 54]), the flow ramps to
//!   `flow_index_l_min_m2 × bsa_m2` over `ramp_s`, and the sweep starts only once blood flows
//!   (gas after blood, §12A [S 54]) at 1:1 with the blood flow; that full flow is the value
//!   `full_flow_ml_min` the protocol file's `computed` section names;
//! - cooling and rewarming: the arterial outlet's setpoint (the heater-cooler's loop tracks it)
//!   cools below the target while the outlet–venous gradient stays under `cooling_gradient_c`,
//!   holds `cool_target_c` under the cross-clamp, then rewarms at most `rewarm_rate_c_min`, at
//!   most `rewarm_gradient_c` above the venous blood and never above `outlet_max_c` (§12B
//!   [S 1]); cooling ends at `cool_target_c + 0.3 °C` in the nasopharynx, rewarming at
//!   `rewarm_end_c`;
//! - the cross-clamp and del Nido cardioplegia ([`cardioplegia`]);
//! - haemofiltration toward `hct_target_pct`, only while the reservoir holds more than
//!   `uf_min_level_ml` and the filtrate is under `uf_max_ml_kg` (§12D);
//! - sweep and FiO2 toward the PaCO2 and PaO2 targets ([`gases`]);
//! - the wean: the flow down by `wean_step_fraction` of full flow every `wean_step_s` to one
//!   step, the venous occluder returning volume from the reservoir to the patient until the
//!   CVP reaches `wean_cvp_mmhg` (the heart fills and takes over); then off bypass with both
//!   lines clamped.
//!
//! Signals it reads, by id: `pump_flow`, `act`, `arterial_temp`, `venous_temp`, `core_temp`,
//! `pao2`, `paco2`, `hct`, `reservoir_level`, `cp_volume`, `cp_since_dose`, `uf_volume`, `cvp`. Actuators it
//! commands: `arterial_clamp`, `venous_occluder`, `cross_clamp`, `cp_pump`, `uf_pump`, `fio2`,
//! `sweep`. Phases: `heparin`, `initiation`, `cooling`, `cross_clamp`, `rewarming`, `wean`,
//! `off_bypass`.

pub mod cardioplegia;
pub use perfuse_plugin_gases as gases;

use perfuse_plugin_sdk::{
    CreateContext, ParamSpec, Params, Protocol, StepInput, StepOutput, export_plugin, state,
};

use cardioplegia::{Doses, Program};
use gases::{Blender, GasTargets};

/// Pump flow above which blood counts as flowing and the sweep may start, mL/min (my choice:
/// about a fifth of full flow).
const BLOOD_FLOWING_ML_MIN: f64 = 1000.0;
/// FiO2 the sweep starts at, % (§12B: 50–80 % [S 54]; my choice within it).
const START_FIO2_PCT: f64 = 60.0;
/// The cooling phase ends this far above the target in the nasopharynx, °C (my choice).
const COOL_END_MARGIN_C: f64 = 0.3;

/// Signal indices, resolved once.
struct Signals {
    pump_flow: usize,
    act: usize,
    arterial_temp: usize,
    venous_temp: usize,
    core_temp: usize,
    pao2: usize,
    paco2: usize,
    hct: usize,
    reservoir: usize,
    cp_volume: usize,
    cp_since: usize,
    uf_volume: usize,
    cvp: usize,
}

/// Actuator indices, resolved once.
struct Actuators {
    arterial_clamp: usize,
    venous_occluder: usize,
    cross_clamp: usize,
    cp_pump: usize,
    uf_pump: usize,
    fio2: usize,
    sweep: usize,
}

/// Phase indices, resolved once.
struct Phases {
    heparin: u32,
    initiation: u32,
    cooling: u32,
    cross_clamp: u32,
    rewarming: u32,
    wean: u32,
    off_bypass: u32,
}

/// The numbers of the protocol file.
struct Settings {
    bsa_m2: f64,
    target_ml_min: f64,
    act_min_s: f64,
    ramp_s: f64,
    cool_target_c: f64,
    cool_overshoot_c: f64,
    cooling_gradient_c: f64,
    rewarm_rate_c_min: f64,
    rewarm_gradient_c: f64,
    outlet_max_c: f64,
    rewarm_end_c: f64,
    hct_target_pct: f64,
    uf_rate_ml_min: f64,
    uf_min_level_ml: f64,
    uf_max_ml: f64,
    wean_step_fraction: f64,
    wean_step_s: f64,
    wean_cvp_mmhg: f64,
    occluder_gain: f64,
    gases: GasTargets,
    cardioplegia: Program,
}

pub struct Cpb {
    s: Signals,
    a: Actuators,
    ph: Phases,
    set: Settings,
    period_s: f64,

    act_confirmed: bool,
    on_bypass_at_s: f64,
    cross_clamp_s: f64,
    blender: Option<Blender>,
    doses: Doses,
    /// The rewarming outlet setpoint, °C (NaN before rewarming).
    rewarm_setpoint_c: f64,
    lowest_core_c: f64,
    wean_fraction: f64,
}

/// The parameters the plugin takes, each with its unit, allowed range and default.
const PARAMS: &[ParamSpec<'static>] = &[
    ParamSpec::required("bsa_m2", "m²", 0.2, 3.5),
    ParamSpec::required("body_kg", "kg", 2.0, 250.0),
    ParamSpec::with_default("flow_index_l_min_m2", "L/min/m²", 1.0, 3.5, 2.4),
    ParamSpec::with_default("act_min_s", "s", 200.0, 1000.0, 480.0),
    ParamSpec::with_default("ramp_s", "s", 10.0, 1800.0, 120.0),
    ParamSpec::with_default("cool_target_c", "°C", 15.0, 37.0, 33.0),
    ParamSpec::with_default("cool_overshoot_c", "°C", 0.0, 10.0, 2.0),
    ParamSpec::with_default("cooling_gradient_c", "°C", 1.0, 10.0, 8.0),
    ParamSpec::with_default("rewarm_rate_c_min", "°C/min", 0.05, 0.5, 0.4),
    ParamSpec::with_default("rewarm_gradient_c", "°C", 0.5, 4.0, 3.5),
    ParamSpec::with_default("outlet_max_c", "°C", 30.0, 37.0, 36.4),
    ParamSpec::with_default("rewarm_end_c", "°C", 30.0, 37.0, 36.0),
    ParamSpec::with_default("hct_target_pct", "%", 15.0, 40.0, 28.0),
    ParamSpec::with_default("uf_rate_ml_min", "mL/min", 0.0, 500.0, 50.0),
    ParamSpec::with_default("uf_min_level_ml", "mL", 200.0, 5000.0, 800.0),
    ParamSpec::with_default("uf_max_ml_kg", "mL/kg", 0.0, 60.0, 25.0),
    ParamSpec::with_default("cp_dose_ml_kg", "mL/kg", 1.0, 40.0, 20.0),
    ParamSpec::with_default("cp_redose_ml_kg", "mL/kg", 1.0, 40.0, 10.0),
    ParamSpec::with_default("cp_rate_ml_min", "mL/min", 10.0, 1000.0, 300.0),
    ParamSpec::with_default("cp_redose_after_s", "s", 60.0, 14_400.0, 4800.0),
    ParamSpec::with_default("paco2_target_mmhg", "mmHg", 25.0, 60.0, 40.0),
    ParamSpec::with_default("pao2_target_mmhg", "mmHg", 80.0, 400.0, 200.0),
    ParamSpec::with_default("gas_interval_s", "s", 10.0, 3600.0, 120.0),
    ParamSpec::with_default("sweep_min_l_min", "L/min", 0.1, 5.0, 0.5),
    ParamSpec::with_default("sweep_max_ratio", "1", 0.5, 3.0, 2.0),
    ParamSpec::with_default("wean_step_fraction", "1", 0.05, 1.0, 0.25),
    ParamSpec::with_default("wean_step_s", "s", 10.0, 3600.0, 120.0),
    ParamSpec::with_default("wean_cvp_mmhg", "mmHg", 2.0, 20.0, 10.0),
    ParamSpec::with_default("occluder_gain", "1/mmHg", 0.0, 1.0, 0.05),
];

impl Settings {
    fn read(p: &Params<'_>) -> Result<Self, String> {
        let bsa_m2 = p.value("bsa_m2")?;
        let body_kg = p.value("body_kg")?;
        Ok(Settings {
            bsa_m2,
            target_ml_min: p.value("flow_index_l_min_m2")? * bsa_m2 * 1000.0,
            act_min_s: p.value("act_min_s")?,
            ramp_s: p.value("ramp_s")?,
            cool_target_c: p.value("cool_target_c")?,
            cool_overshoot_c: p.value("cool_overshoot_c")?,
            cooling_gradient_c: p.value("cooling_gradient_c")?,
            rewarm_rate_c_min: p.value("rewarm_rate_c_min")?,
            rewarm_gradient_c: p.value("rewarm_gradient_c")?,
            outlet_max_c: p.value("outlet_max_c")?,
            rewarm_end_c: p.value("rewarm_end_c")?,
            hct_target_pct: p.value("hct_target_pct")?,
            uf_rate_ml_min: p.value("uf_rate_ml_min")?,
            uf_min_level_ml: p.value("uf_min_level_ml")?,
            uf_max_ml: p.value("uf_max_ml_kg")? * body_kg,
            wean_step_fraction: p.value("wean_step_fraction")?,
            wean_step_s: p.value("wean_step_s")?,
            wean_cvp_mmhg: p.value("wean_cvp_mmhg")?,
            occluder_gain: p.value("occluder_gain")?,
            gases: GasTargets {
                paco2_mmhg: p.value("paco2_target_mmhg")?,
                pao2_mmhg: p.value("pao2_target_mmhg")?,
                interval_s: p.value("gas_interval_s")?,
                sweep_min_l_min: p.value("sweep_min_l_min")?,
                max_ratio: p.value("sweep_max_ratio")?,
            },
            cardioplegia: Program {
                induction_ml: p.value("cp_dose_ml_kg")? * body_kg,
                redose_ml: p.value("cp_redose_ml_kg")? * body_kg,
                rate_ml_min: p.value("cp_rate_ml_min")?,
                redose_after_s: p.value("cp_redose_after_s")?,
            },
        })
    }
}

impl Cpb {
    /// The flow fraction the phase asks for (of the full target).
    fn flow_fraction(&mut self, input: &StepInput) -> f64 {
        let elapsed = input.phase_elapsed_s;
        let ph = &self.ph;
        if !self.act_confirmed || input.phase == ph.heparin || input.phase == ph.off_bypass {
            0.0
        } else if input.phase == ph.initiation {
            (elapsed / self.set.ramp_s).min(1.0)
        } else if input.phase == ph.wean {
            let steps = (elapsed / self.set.wean_step_s).floor() + 1.0;
            // Down to one step of flow: the last step holds until the phase ends.
            self.wean_fraction =
                (1.0 - steps * self.set.wean_step_fraction).max(self.set.wean_step_fraction);
            self.wean_fraction
        } else {
            1.0
        }
    }

    /// The arterial outlet's setpoint, °C; NaN leaves the file's.
    fn outlet_setpoint(&mut self, input: &StepInput) -> f64 {
        let set = &self.set;
        let venous = input.valid(self.s.venous_temp);
        let ph = &self.ph;
        if input.phase == ph.initiation {
            venous.unwrap_or(f64::NAN)
        } else if input.phase == ph.cooling {
            let floor = venous.map_or(set.cool_target_c, |v| v - set.cooling_gradient_c);
            (set.cool_target_c - set.cool_overshoot_c).max(floor)
        } else if input.phase == ph.cross_clamp {
            set.cool_target_c
        } else if input.phase == ph.rewarming {
            if self.rewarm_setpoint_c.is_nan() {
                self.rewarm_setpoint_c = input
                    .valid(self.s.arterial_temp)
                    .or(venous)
                    .unwrap_or(set.cool_target_c);
            }
            let mut sp = self.rewarm_setpoint_c + set.rewarm_rate_c_min / 60.0 * self.period_s;
            if let Some(v) = venous {
                sp = sp.min(v + set.rewarm_gradient_c);
            }
            self.rewarm_setpoint_c = sp.min(set.outlet_max_c);
            self.rewarm_setpoint_c
        } else if input.phase == ph.wean || input.phase == ph.off_bypass {
            set.outlet_max_c
        } else {
            f64::NAN
        }
    }

    /// Sweep and FiO2: none before blood flows or off bypass, titrated on bypass.
    fn gas(&mut self, input: &StepInput, flow: Option<f64>, out: &mut StepOutput) {
        let on = input.phase != self.ph.heparin && input.phase != self.ph.off_bypass;
        let flowing = flow.is_some_and(|q| q > BLOOD_FLOWING_ML_MIN);
        let (sweep, fio2) = match (&mut self.blender, on) {
            (_, false) => (0.0, START_FIO2_PCT),
            (None, true) if flowing => {
                let b = Blender::start(self.set.target_ml_min, 1.0, START_FIO2_PCT, input.t_s);
                self.blender = Some(b);
                (b.sweep_l_min, b.fio2_pct)
            }
            (None, true) => (0.0, START_FIO2_PCT),
            (Some(b), true) => {
                b.titrate(
                    &self.set.gases,
                    input.t_s,
                    flow.unwrap_or(0.0),
                    input.valid(self.s.pao2),
                    input.valid(self.s.paco2),
                );
                (b.sweep_l_min, b.fio2_pct)
            }
        };
        out.commands[self.a.sweep] = sweep;
        out.commands[self.a.fio2] = fio2;
    }

    /// Haemofiltration while the haematocrit is below target and the reservoir can give.
    fn ultrafiltration(&self, input: &StepInput) -> f64 {
        let ph = &self.ph;
        let filtering = input.phase == ph.cross_clamp || input.phase == ph.rewarming;
        let dilute = input
            .valid(self.s.hct)
            .is_some_and(|h| h < self.set.hct_target_pct);
        let level = input
            .valid(self.s.reservoir)
            .is_some_and(|l| l > self.set.uf_min_level_ml);
        let room = input
            .valid(self.s.uf_volume)
            .is_some_and(|v| v < self.set.uf_max_ml);
        if filtering && dilute && level && room {
            self.set.uf_rate_ml_min
        } else {
            0.0
        }
    }

    /// The clamps: closed before and after bypass; on going on bypass the arterial clamp opens at
    /// once and the venous occluder in proportion to the flow; in the wean the occluder holds
    /// back venous drainage so that the reservoir gives volume back until the CVP reaches
    /// `wean_cvp_mmhg`, which fills the heart; the cross-clamp only in its phase.
    fn clamps(&self, input: &StepInput, fraction: f64, out: &mut StepOutput) {
        let ph = &self.ph;
        let off = input.phase == ph.heparin || input.phase == ph.off_bypass || !self.act_confirmed;
        out.commands[self.a.arterial_clamp] = if off { 1.0 } else { 0.0 };
        out.commands[self.a.venous_occluder] = if off {
            1.0
        } else if input.phase == ph.wean {
            // A CVP below the target closes the occluder further (proportional: the CVP is the
            // integral of what the occluder holds back); a missing CVP adds nothing.
            let error = input
                .valid(self.s.cvp)
                .map_or(0.0, |c| self.set.wean_cvp_mmhg - c);
            (1.0 - fraction + self.set.occluder_gain * error).clamp(0.0, 1.0)
        } else {
            1.0 - fraction
        };
        out.commands[self.a.cross_clamp] = if input.phase == ph.cross_clamp {
            1.0
        } else {
            0.0
        };
    }
}

impl Protocol for Cpb {
    const ID: &'static str = "cpb";
    const VERSION: &'static str = "0.1.0";
    const DERIVED: &'static [&'static str] = &[
        "flow_target_ml_min",
        "cardiac_index_l_min_m2",
        "act_confirmed",
        "bypass_min",
        "cross_clamp_min",
        "cp_doses",
        "cp_total_ml",
        "lowest_core_c",
        "outlet_setpoint_c",
        "sweep_l_min",
        "fio2_pct",
        "wean_fraction",
    ];

    const PARAMS: &'static [ParamSpec<'static>] = PARAMS;

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        let phase = |id: &str| ctx.phase(id).map(|i| i as u32);
        Ok(Cpb {
            s: Signals {
                pump_flow: ctx.signal("pump_flow")?,
                act: ctx.signal("act")?,
                arterial_temp: ctx.signal("arterial_temp")?,
                venous_temp: ctx.signal("venous_temp")?,
                core_temp: ctx.signal("core_temp")?,
                pao2: ctx.signal("pao2")?,
                paco2: ctx.signal("paco2")?,
                hct: ctx.signal("hct")?,
                reservoir: ctx.signal("reservoir_level")?,
                cp_volume: ctx.signal("cp_volume")?,
                cp_since: ctx.signal("cp_since_dose")?,
                uf_volume: ctx.signal("uf_volume")?,
                cvp: ctx.signal("cvp")?,
            },
            a: Actuators {
                arterial_clamp: ctx.actuator("arterial_clamp")?,
                venous_occluder: ctx.actuator("venous_occluder")?,
                cross_clamp: ctx.actuator("cross_clamp")?,
                cp_pump: ctx.actuator("cp_pump")?,
                uf_pump: ctx.actuator("uf_pump")?,
                fio2: ctx.actuator("fio2")?,
                sweep: ctx.actuator("sweep")?,
            },
            ph: Phases {
                heparin: phase("heparin")?,
                initiation: phase("initiation")?,
                cooling: phase("cooling")?,
                cross_clamp: phase("cross_clamp")?,
                rewarming: phase("rewarming")?,
                wean: phase("wean")?,
                off_bypass: phase("off_bypass")?,
            },
            set: Settings::read(&ctx.params)?,
            period_s: ctx.period_s,
            act_confirmed: false,
            on_bypass_at_s: f64::NAN,
            cross_clamp_s: 0.0,
            blender: None,
            doses: Doses::default(),
            rewarm_setpoint_c: f64::NAN,
            lowest_core_c: f64::NAN,
            wean_fraction: 1.0,
        })
    }

    /// `full_flow_ml_min`: the flow the ramp reaches, `flow_index_l_min_m2 × bsa_m2`, which the
    /// protocol file scales for its holds, bands and flow alarm.
    fn computed(&self, name: &str) -> Option<f64> {
        (name == "full_flow_ml_min").then_some(self.set.target_ml_min)
    }

    fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        let flow = input.valid(self.s.pump_flow);
        let core = input.valid(self.s.core_temp);
        if input
            .valid(self.s.act)
            .is_some_and(|a| a >= self.set.act_min_s)
        {
            self.act_confirmed = true;
        }
        let ph = &self.ph;
        let advance = if input.phase == ph.heparin {
            self.act_confirmed
        } else if input.phase == ph.cooling {
            core.is_some_and(|c| c <= self.set.cool_target_c + COOL_END_MARGIN_C)
        } else if input.phase == ph.rewarming {
            core.is_some_and(|c| c >= self.set.rewarm_end_c)
        } else {
            false
        };
        out.advance_phase = u8::from(advance);

        let fraction = self.flow_fraction(input);
        out.setpoints[self.s.pump_flow] = self.set.target_ml_min * fraction;
        out.setpoints[self.s.arterial_temp] = self.outlet_setpoint(input);
        self.clamps(input, fraction, out);
        self.gas(input, flow, out);
        out.commands[self.a.uf_pump] = self.ultrafiltration(input);
        out.commands[self.a.cp_pump] = if input.phase == self.ph.cross_clamp {
            self.cross_clamp_s += self.period_s;
            self.doses.step(
                &self.set.cardioplegia,
                input.valid(self.s.cp_volume),
                input.valid(self.s.cp_since),
            )
        } else {
            0.0
        };

        if self.on_bypass_at_s.is_nan() && flow.is_some_and(|q| q > BLOOD_FLOWING_ML_MIN) {
            self.on_bypass_at_s = input.t_s;
        }
        if let Some(c) = core
            && !self.on_bypass_at_s.is_nan()
            && (self.lowest_core_c.is_nan() || c < self.lowest_core_c)
        {
            self.lowest_core_c = c;
        }

        let d = &mut out.derived;
        d[0] = self.set.target_ml_min;
        d[1] = flow.map_or(f64::NAN, |q| q / 1000.0 / self.set.bsa_m2);
        d[2] = f64::from(u8::from(self.act_confirmed));
        d[3] = (input.t_s - self.on_bypass_at_s) / 60.0;
        d[4] = self.cross_clamp_s / 60.0;
        d[5] = f64::from(self.doses.given);
        d[6] = self.doses.total_ml;
        d[7] = self.lowest_core_c;
        d[8] = out.setpoints[self.s.arterial_temp];
        d[9] = out.commands[self.a.sweep];
        d[10] = out.commands[self.a.fio2];
        d[11] = self.wean_fraction;
    }

    fn save(&self, out: &mut state::Writer) {
        let (until, given, total, from) = self.doses.to_parts();
        let (sweep, fio2, at) = self.blender.map_or((f64::NAN, f64::NAN, f64::NAN), |b| {
            (b.sweep_l_min, b.fio2_pct, b.adjusted_at_s)
        });
        out.put(&self.act_confirmed)
            .put(&self.on_bypass_at_s)
            .put(&self.cross_clamp_s)
            .put(&sweep)
            .put(&fio2)
            .put(&at)
            .put(&until)
            .put(&given)
            .put(&total)
            .put(&from)
            .put(&self.rewarm_setpoint_c)
            .put(&self.lowest_core_c)
            .put(&self.wean_fraction);
    }

    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.act_confirmed)?;
        input.read(&mut self.on_bypass_at_s)?;
        input.read(&mut self.cross_clamp_s)?;
        let sweep: f64 = input.get()?;
        let fio2: f64 = input.get()?;
        let at: f64 = input.get()?;
        self.blender = (!sweep.is_nan()).then_some(Blender {
            sweep_l_min: sweep,
            fio2_pct: fio2,
            adjusted_at_s: at,
        });
        let until: Option<f64> = input.get()?;
        let given: u32 = input.get()?;
        let total: f64 = input.get()?;
        let from: f64 = input.get()?;
        self.doses = Doses::from_parts((until, given, total, from));
        input.read(&mut self.rewarm_setpoint_c)?;
        input.read(&mut self.lowest_core_c)?;
        input.read(&mut self.wean_fraction)
    }
}

export_plugin!(Cpb);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_parameters_read_back_from_the_metadata_record() {
        let record = perfuse_plugin_sdk::metadata::record::<Cpb>();
        let read = perfuse_plugin_sdk::metadata::parse(&record).unwrap();
        assert_eq!(read.params, PARAMS);
    }
}
