//! perfuse-hal-sim: the simulated device behind the [`Hal`] trait — pumps, heaters, clamps and
//! sensors on a plant model of the organ and its circuit, with injectable faults.
//!
//! [`SimHal::new`] resolves everything by name once (model, parameters, sensor and actuator
//! sites, faults); [`Hal::advance`], [`Hal::read`] and [`Hal::write`] then only move numbers:
//! no allocation, formatting or lookup per tick. The same seed and the same commands give
//! bit-identical frames; the random numbers are generated in-tree so that a recorded run survives
//! dependency upgrades. Each sensor has its own noise stream, derived from the seed and its index.
//!
//! # Device behaviour
//! - Commands are indexed in protocol actuator order and live for their `ttl_s`, counted from the
//!   device time of the write; once device time passes beyond it, the actuator takes its safe
//!   state (Off: 0; Closed: clamp 1; Open: clamp 0; HoldLast: keeps the command; Fixed: that
//!   command). Before the first write each actuator holds its `initial`. Commands are limited to
//!   the kind's hardware range; a non-finite command puts the actuator in its safe state at once.
//! - Every frame reports what each actuator delivered over the step that ended with it
//!   ([`SensorFrame::delivered`]): the command written before the step, as the device applied it
//!   (a stalled pump 0, a runaway heater full power, a lost channel its held or safe value).
//! - Pumps at one site add their flows and heaters their powers; clamps close the line if any
//!   one reads ≥ 0.5.
//! - Readings: true value, a first-order lag for temperature probes, Gaussian noise, then
//!   rounding (0.1 of the unit; finer for pH, concentrations and haemoglobin). Nothing is
//!   clipped to a plausible range: judging readings is the core's job. A sensor at the
//!   `operator` site is not measured: it reads NaN, and the core takes the operator's entries.
//!
//! # Models
//! A model is a [`model::PlantModel`] (the public model API): it describes its sites, its
//! parameters (default, range, unit, meaning, source) and its events, and builds the plant
//! that the device steps. `perfuse models` lists them all; [`model::register`] adds one from
//! outside this crate. Each module under `plant/` documents its physics, its parameters with
//! their defaults and the section of docs/clinical-basis.md each comes from, and its events
//! (model-specific faults, injected as `--fault NAME@TIME`):
//!
//! | model | module | organ or cavity | events |
//! |---|---|---|---|
//! | `kidney` | `plant/kidney.rs` | kidney, hypothermic (LifePort-like) or normothermic | |
//! | `heart` | `plant/heart.rs` | beating or arrested heart, coronary bed, lactate | `vf` |
//! | `lung` | `plant/lung.rs` | pulmonary bed, ventilated lung, gas exchange, oedema | `ventilator_failure`, `la_collapse`, `bronchospasm` |
//! | `liver` | `plant/liver.rs` | hepatic artery and portal beds, lactate, bile, glucose, pH | `outflow-obstruction` |
//! | `donor` | `plant/donor.rs` | donor body under regional perfusion, venous drainage | `cerebral-flow`, `hypovolaemia` |
//! | `limb` | `plant/limb.rs` | isolated limb, tissue heat, systemic leak | `systemic-leak` |
//! | `cavity` | `plant/cavity.rs` | peritoneal or pleural cavity, patient core | `malignant-hyperthermia` |
//! | `bypass` | `plant/bypass.rs` | patient on the heart–lung machine: reservoir, oxygenator, cardioplegia, haemofilter | `venous-drainage-loss`, `oxygenator-failure`, `gas-supply-loss`, `clot`, `cardioplegia-occlusion` |
//! | `ecmo` | `plant/ecmo.rs` | patient on VA-ECMO: centrifugal pump, drainage collapse, failing heart | `hypovolaemia`, `oxygenator-failure`, `gas-supply-loss`, `clot` |
//!
//! `plant/oxygenator.rs` is the membrane oxygenator and gas blender that `bypass` and `ecmo` step.
//!
//! Parameters of every model (probes): `pressure_noise_mmhg` 0.3, `flow_noise_ml_min` 1.0,
//! `temperature_noise_c` 0.05, `volume_noise_ml` 0.2, `temperature_lag_s` 5.
//!
//! # Faults
//! [`Fault::parse`] reads [`FAULT_SYNTAX`], e.g. `air@30m`, `occlusion@1h`,
//! `stuck:arterial_pressure@30m`, `drift:perfusate_temp:0.5@2h`, `channel-loss:pump@10m`.

mod actuator;
pub mod cohort;
mod fault;
pub mod foreign;
pub mod model;
mod params;
mod plant;
mod rng;
mod sensor;
mod supply;

use perfuse_hal::{CommandFrame, Hal, MAX_ACTUATORS, MAX_SENSORS, SensorFrame};
use perfuse_protocol::OPERATOR_SITE;
use perfuse_protocol::{ActuatorKind, ProtocolFile};

use actuator::Actuator;
pub use cohort::Organ;
pub use fault::{FAULT_SYNTAX, Fault, FaultKind};
use model::{MAX_INPUTS, Plant, PlantFault};
use sensor::{Channel, SensorParams};
use supply::Supply;
pub use supply::{BATTERY_SITE, MAINS_SITE};

/// The output index of a sensor the device does not measure (an operator-entered one).
const NO_POINT: usize = usize::MAX;

/// Times closer than this count as equal (fault onsets, command expiry), so that a fault at
/// 60 s acts on the frame at 60 s whatever the rounding of the tick arithmetic.
pub(crate) const TIME_RESOLUTION_S: f64 = 1e-9;

/// A simulated perfusion device running one plant model.
pub struct SimHal {
    plant: Box<dyn Plant>,
    sensors: Vec<Channel>,
    actuators: Vec<Actuator>,
    applied: [f64; MAX_ACTUATORS],
    /// Faults sorted by time; those before `next_fault` have been applied.
    faults: Vec<Fault>,
    next_fault: usize,
    /// Device time is `t_base_s + ticks × dt_s`, the way the core counts its own time, so that
    /// both agree exactly instead of drifting apart by summed rounding errors.
    t_base_s: f64,
    ticks: u64,
    t_s: f64,
    dt_s: f64,
    temperature_lag_s: f64,
    /// Share of a lagged probe's previous value kept over one step of `dt_s`.
    lag_keep: f64,
    frame: SensorFrame,
    /// The mains monitor and the battery.
    supply: Supply,
}

impl SimHal {
    /// Builds the device for `protocol`'s circuit on the plant `protocol.simulator` names, with
    /// sensor noise seeded by `seed` and `faults` scheduled. Every problem (unknown model,
    /// parameter, site or fault target; bad value) is an error that names the culprit and says
    /// what is allowed; errors of one kind are reported together, one per line.
    ///
    /// The device starts at time 0 with a first frame (seq 1) of the plant's initial state;
    /// actuators hold their `initial` command until the first [`Hal::write`].
    pub fn new(protocol: &ProtocolFile, seed: u64, faults: &[Fault]) -> Result<SimHal, String> {
        Self::with_scenario(protocol, None, seed, faults)
    }

    /// As [`SimHal::new`], with the plant's parameters overridden by a scenario the protocol
    /// declares (`None`: its default scenario, if it names one).
    pub fn with_scenario(
        protocol: &ProtocolFile,
        scenario: Option<&str>,
        seed: u64,
        faults: &[Fault],
    ) -> Result<SimHal, String> {
        Self::with_organ(protocol, scenario, None, seed, faults)
    }

    /// As [`SimHal::with_scenario`], with the plant's parameters overridden by a drawn organ
    /// ([`Organ::draw`] for the same protocol and scenario; `None`: the protocol's organ).
    pub fn with_organ(
        protocol: &ProtocolFile,
        scenario: Option<&str>,
        organ: Option<&Organ>,
        seed: u64,
        faults: &[Fault],
    ) -> Result<SimHal, String> {
        let model = model::find(&protocol.simulator.model)?;
        let info = model.info();
        let mut given = protocol.simulator.params_for(scenario)?;
        if let Some(organ) = organ {
            given.extend(organ.params.iter().map(|(k, v)| (k.clone(), *v)));
        }
        let model_params: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
        let sensor_params: Vec<&str> = SensorParams::DEFS.iter().map(|d| d.name).collect();
        params::reject_unknown(&info.name, &given, &[&model_params, &sensor_params])?;
        let mut sensor_params = SensorParams::default();
        let sensor_check = sensor_params.apply(&given);
        let model_given = given
            .into_iter()
            .filter(|(name, _)| !SensorParams::DEFS.iter().any(|d| d.name == name))
            .collect();
        let plant = match (sensor_check, model.build(&model_given)) {
            (Ok(()), Ok(plant)) => plant,
            (Err(e), Ok(_)) | (Ok(()), Err(e)) => return Err(e),
            (Err(a), Err(b)) => return Err(format!("{a}\n{b}")),
        };

        let circuit = &protocol.circuit;
        if circuit.sensors.len() > MAX_SENSORS || circuit.actuators.len() > MAX_ACTUATORS {
            return Err(format!(
                "the circuit has {} sensors and {} actuators; the device takes at most {MAX_SENSORS} \
                 and {MAX_ACTUATORS}",
                circuit.sensors.len(),
                circuit.actuators.len()
            ));
        }
        let mut errors = Vec::new();
        let mut sensors = Vec::with_capacity(circuit.sensors.len());
        for (i, s) in circuit.sensors.iter().enumerate() {
            if s.site == OPERATOR_SITE {
                // Entered by the operator, not measured: the device reports nothing for it.
                sensors.push(Channel::new(
                    s.kind,
                    NO_POINT,
                    f64::NAN,
                    &sensor_params,
                    seed,
                    i,
                ));
                continue;
            }
            let point = Supply::point(&s.id, s.kind, &s.site)
                .unwrap_or_else(|| info.sensor_point(&s.id, s.kind, &s.site));
            match point {
                Ok(point) => sensors.push(Channel::new(
                    s.kind,
                    point,
                    Supply::default()
                        .reading(point, 0.0)
                        .unwrap_or_else(|| plant.outputs()[point]),
                    &sensor_params,
                    seed,
                    i,
                )),
                Err(e) => errors.push(e),
            }
        }
        let mut actuators = Vec::with_capacity(circuit.actuators.len());
        for a in &circuit.actuators {
            match info
                .actuator_input(&a.id, a.kind, &a.site)
                .and_then(|input| Actuator::new(a, input))
            {
                Ok(act) => actuators.push(act),
                Err(e) => errors.push(e),
            }
        }
        for f in faults {
            if let Err(e) = f.check(protocol) {
                errors.push(format!("fault {f:?}: {e}"));
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }

        let mut faults = faults.to_vec();
        faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        let mut hal = SimHal {
            plant,
            sensors,
            actuators,
            applied: [f64::NAN; MAX_ACTUATORS],
            faults,
            next_fault: 0,
            t_base_s: 0.0,
            ticks: 0,
            t_s: 0.0,
            dt_s: 0.0,
            temperature_lag_s: sensor_params.temperature_lag_s,
            lag_keep: 0.0,
            frame: SensorFrame::default(),
            supply: Supply::default(),
        };
        hal.apply_faults(0.0);
        for (i, a) in hal.actuators.iter_mut().enumerate() {
            hal.applied[i] = a.output(0.0);
        }
        hal.sample(0.0, 0.0);
        Ok(hal)
    }

    /// What each actuator is doing now, in protocol order, after time-to-live expiry and faults
    /// (a stalled pump shows 0, a runaway heater its full power).
    pub fn applied_commands(&self) -> &[f64] {
        &self.applied[..self.actuators.len()]
    }

    /// Device time in seconds.
    pub fn time_s(&self) -> f64 {
        self.t_s
    }

    /// Applies every fault due by `t_s`.
    fn apply_faults(&mut self, t_s: f64) {
        while let Some(f) = self.faults.get(self.next_fault).copied() {
            if f.at_s > t_s + TIME_RESOLUTION_S {
                break;
            }
            self.next_fault += 1;
            match f.kind {
                FaultKind::Air => self.plant.inject(PlantFault::Air),
                FaultKind::Occlusion { factor } => {
                    self.plant.inject(PlantFault::Occlusion { factor })
                }
                FaultKind::Leak {
                    resistance_mmhg_min_ml,
                } => self.plant.inject(PlantFault::Leak {
                    resistance_mmhg_min_ml,
                }),
                FaultKind::Event { index } => self.plant.inject(PlantFault::Event(index)),
                FaultKind::Stuck { sensor } => self.sensors[sensor].stick(),
                FaultKind::Drift { sensor, per_min } => self.sensors[sensor].drift(f.at_s, per_min),
                FaultKind::Dropout { sensor, duration_s } => {
                    self.sensors[sensor].drop_out(f.at_s, duration_s)
                }
                FaultKind::Spike { sensor, magnitude } => {
                    self.sensors[sensor].spike(f.at_s, magnitude)
                }
                FaultKind::SensorLoss { sensor } => self.sensors[sensor].lose(),
                FaultKind::PumpStall { pump } => {
                    self.each_actuator(pump, ActuatorKind::is_pump, Actuator::stall)
                }
                FaultKind::HeaterRunaway { heater } => {
                    self.each_actuator(heater, ActuatorKind::is_heater, Actuator::run_away)
                }
                FaultKind::ActuatorLoss {
                    actuator,
                    duration_s,
                } => self.actuators[actuator].lose(f.at_s + duration_s),
                FaultKind::MainsLoss => self.supply.lose_mains(f.at_s),
            }
        }
    }

    /// Applies `f` to actuator `which`, or to every actuator whose kind passes `is` when `which`
    /// is `None`.
    fn each_actuator(
        &mut self,
        which: Option<usize>,
        is: fn(ActuatorKind) -> bool,
        f: fn(&mut Actuator),
    ) {
        for (i, a) in self.actuators.iter_mut().enumerate() {
            if which.map_or(is(a.kind), |w| w == i) {
                f(a);
            }
        }
    }

    /// Reads every sensor into a new frame at `t_s`.
    fn sample(&mut self, t_s: f64, lag_keep: f64) {
        let truth = self.plant.outputs();
        for (value, ch) in self.frame.values.iter_mut().zip(self.sensors.iter_mut()) {
            let t = truth
                .get(ch.point)
                .copied()
                .or_else(|| self.supply.reading(ch.point, t_s));
            *value = match t {
                Some(t) => ch.sample(t, t_s, lag_keep),
                None => f64::NAN,
            };
        }
        // What each actuator did over the step, as a device reports its drive's speed, power or
        // position: the command it took one step ago, or what a fault or its safe state made it.
        self.frame.delivered[..self.actuators.len()]
            .copy_from_slice(&self.applied[..self.actuators.len()]);
        self.frame.t_s = t_s;
        self.frame.seq += 1;
    }
}

impl Hal for SimHal {
    /// Copies the frame's time, sequence number, link bits and the entries of the circuit's
    /// sensors and actuators; the entries past them are never written (they stay as `out` had
    /// them), which spares copying the whole fixed-size frame every tick.
    fn read(&mut self, out: &mut SensorFrame) {
        // Every field by name: one added to the frame does not compile until it is copied here.
        let SensorFrame {
            t_s,
            seq,
            values,
            delivered,
            not_fresh,
            links_down,
            links_degraded,
            expired,
        } = &self.frame;
        let (n, m) = (self.sensors.len(), self.actuators.len());
        out.t_s = *t_s;
        out.seq = *seq;
        out.values[..n].copy_from_slice(&values[..n]);
        out.delivered[..m].copy_from_slice(&delivered[..m]);
        out.not_fresh = *not_fresh;
        out.links_down = *links_down;
        out.links_degraded = *links_degraded;
        out.expired = *expired;
    }

    /// Takes each actuator's command with its time to live, counted from the device's current
    /// time. A command that is not a number puts that actuator in its safe state.
    fn write(&mut self, cmd: &CommandFrame) {
        for (i, a) in self.actuators.iter_mut().enumerate() {
            a.command(cmd.values[i], cmd.ttl_s[i], self.t_s);
        }
    }

    /// Integrates the plant over `dt_s` and takes a new frame. A `dt_s` that is not a positive
    /// number is ignored (no time passes, no frame).
    fn advance(&mut self, dt_s: f64) {
        if !(dt_s > 0.0 && dt_s.is_finite()) {
            return;
        }
        if dt_s != self.dt_s {
            self.dt_s = dt_s;
            self.t_base_s = self.t_s;
            self.ticks = 0;
            self.lag_keep = (-dt_s / self.temperature_lag_s).exp();
        }
        self.ticks += 1;
        let t_s = self.t_base_s + self.ticks as f64 * dt_s;
        self.t_s = t_s;
        if self.next_fault < self.faults.len() {
            self.apply_faults(t_s);
        }
        let mut inputs = [0.0f64; MAX_INPUTS];
        let mut expired = 0;
        for (i, a) in self.actuators.iter_mut().enumerate() {
            let v = a.output(t_s);
            self.applied[i] = v;
            expired |= u32::from(a.expired()) << i;
            // Clamps in series close the line if any one is closed; pumps in parallel add their
            // flows, heaters their powers, infusions their rates. A setting (ventilator, gas)
            // has one actuator per input, so adding is taking it.
            let input = &mut inputs[a.input];
            *input = match a.kind {
                ActuatorKind::Clamp => input.max(v),
                _ => *input + v,
            };
        }
        self.frame.expired = expired;
        self.plant.step(&inputs, dt_s);
        self.sample(t_s, self.lag_keep);
    }
}
