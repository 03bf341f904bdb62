//! What sensors measure and what actuators are: each kind fixes its unit and its absolute range,
//! which a protocol may narrow but never widen; and the safe state an actuator takes on a fault.
//! Protocol files name them (hence `Deserialize`); simulators and device drivers act on them.

use serde::Deserialize;

/// What a sensor measures; fixes its unit and its absolute range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SensorKind {
    /// Blood or perfusate pressure.
    Pressure,
    /// Airway pressure of a ventilated lung.
    AirwayPressure,
    /// Partial pressure of a gas (pO2, pCO2).
    PartialPressure,
    Flow,
    Temperature,
    /// Ultrasonic bubble detector: 0 clear, 1 air.
    Bubble,
    /// Accumulated or held volume (urine, bile, reservoir, tidal volume).
    Volume,
    /// A solute in the perfusate (lactate, glucose, potassium).
    Concentration,
    Ph,
    /// A fraction in percent (saturation, FiO2, leak).
    Percent,
    /// Events per minute (heart rate, respiratory rate).
    Rate,
    /// Radiation counts per second (a gamma probe).
    CountRate,
    /// Enzyme activity (ALT, AST).
    Activity,
    Haemoglobin,
    /// A measured time (activated clotting time).
    Duration,
    /// The device's mains monitor: 1 on mains, 0 on battery.
    Supply,
    /// An operator's graded or yes/no finding (a macroscopic grade; 1 yes, 0 no), entered as a
    /// lab at the `operator` site.
    Score,
}

impl SensorKind {
    /// The unit every value of this kind is in.
    pub fn unit(self) -> &'static str {
        match self {
            SensorKind::Pressure | SensorKind::PartialPressure => "mmHg",
            SensorKind::AirwayPressure => "cmH2O",
            SensorKind::Flow => "mL/min",
            SensorKind::Temperature => "°C",
            SensorKind::Bubble => "detected",
            SensorKind::Volume => "mL",
            SensorKind::Concentration => "mmol/L",
            SensorKind::Ph => "pH",
            SensorKind::Percent => "%",
            SensorKind::Rate => "/min",
            SensorKind::CountRate => "counts/s",
            SensorKind::Activity => "IU/L",
            SensorKind::Haemoglobin => "g/dL",
            SensorKind::Duration => "s",
            SensorKind::Supply => "on mains",
            SensorKind::Score => "points",
        }
    }

    /// The physically meaningful range of the kind: a protocol may narrow it, never widen it.
    pub fn absolute_range(self) -> (f64, f64) {
        match self {
            SensorKind::Pressure => (-100.0, 400.0),
            SensorKind::AirwayPressure => (-30.0, 120.0),
            SensorKind::PartialPressure => (0.0, 1000.0),
            SensorKind::Flow => (-500.0, 10_000.0),
            SensorKind::Temperature => (-5.0, 60.0),
            SensorKind::Bubble => (0.0, 1.0),
            // A zeroed scale or collection bag reads a little below 0 with noise.
            SensorKind::Volume => (-50.0, 20_000.0),
            SensorKind::Concentration => (0.0, 500.0),
            SensorKind::Ph => (0.0, 14.0),
            SensorKind::Percent => (-5.0, 105.0),
            SensorKind::Rate => (0.0, 600.0),
            SensorKind::CountRate => (0.0, 1.0e7),
            SensorKind::Activity => (0.0, 100_000.0),
            SensorKind::Haemoglobin => (0.0, 30.0),
            SensorKind::Duration => (0.0, 10_000.0),
            SensorKind::Supply => (0.0, 1.0),
            SensorKind::Score => (0.0, 100.0),
        }
    }
}

/// What an actuator is; fixes the unit of its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ActuatorKind {
    /// Flow source; command in mL/min.
    RollerPump,
    /// Pressure source with a pressure-flow curve; command in rpm.
    CentrifugalPump,
    /// Heater power; command in W.
    Heater,
    /// Heater-cooler power; command in W, negative when cooling.
    HeaterCooler,
    /// Line clamp; command 0 open, 1 closed.
    Clamp,
    /// Syringe or infusion pump; command in mL/h.
    InfusionPump,
    /// Ventilator tidal volume; command in mL.
    TidalVolume,
    /// Ventilator rate; command in breaths/min.
    RespiratoryRate,
    /// Ventilator end-expiratory pressure; command in cmH2O.
    Peep,
    /// Inspired (ventilator) or blended (oxygenator) oxygen fraction; command in %.
    Fio2,
    /// Sweep gas flow through an oxygenator; command in L/min.
    GasFlow,
}

impl ActuatorKind {
    pub fn unit(self) -> &'static str {
        match self {
            ActuatorKind::RollerPump => "mL/min",
            ActuatorKind::CentrifugalPump => "rpm",
            ActuatorKind::Heater | ActuatorKind::HeaterCooler => "W",
            ActuatorKind::Clamp => "closed",
            ActuatorKind::InfusionPump => "mL/h",
            ActuatorKind::TidalVolume => "mL",
            ActuatorKind::RespiratoryRate => "/min",
            ActuatorKind::Peep => "cmH2O",
            ActuatorKind::Fio2 => "%",
            ActuatorKind::GasFlow => "L/min",
        }
    }

    /// Hardware range of the kind: a protocol may narrow it, never widen it.
    pub fn absolute_range(self) -> (f64, f64) {
        match self {
            ActuatorKind::RollerPump => (0.0, 7000.0),
            ActuatorKind::CentrifugalPump => (0.0, 5000.0),
            ActuatorKind::Heater => (0.0, 2000.0),
            ActuatorKind::HeaterCooler => (-2000.0, 2000.0),
            ActuatorKind::Clamp => (0.0, 1.0),
            ActuatorKind::InfusionPump => (0.0, 1000.0),
            ActuatorKind::TidalVolume => (0.0, 2000.0),
            ActuatorKind::RespiratoryRate => (0.0, 60.0),
            ActuatorKind::Peep => (0.0, 30.0),
            ActuatorKind::Fio2 => (0.0, 100.0),
            ActuatorKind::GasFlow => (0.0, 20.0),
        }
    }

    /// Pumps move perfusate: they are what `StopPump` stops.
    pub fn is_pump(self) -> bool {
        matches!(
            self,
            ActuatorKind::RollerPump | ActuatorKind::CentrifugalPump
        )
    }

    /// Heaters are what `HeaterOff` turns off.
    pub fn is_heater(self) -> bool {
        matches!(self, ActuatorKind::Heater | ActuatorKind::HeaterCooler)
    }
}

/// The command an actuator takes in the safe state, and when its commands expire.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub enum SafeState {
    /// Command 0: pump stopped, heater off, infusion stopped.
    Off,
    /// Clamp closed.
    Closed,
    /// Clamp open.
    Open,
    /// Keep the last command that passed the safety stage (for pumps whose stop harms the organ,
    /// a ventilator whose stop harms the lung).
    HoldLast,
    /// A defined command in the actuator's unit (e.g. FiO2 21 %).
    Fixed(f64),
}

impl SafeState {
    /// Whether this safe state means something for an actuator of `kind`: clamps are closed or
    /// open (or hold), everything else is off, held or set to a fixed command.
    pub fn fits(self, kind: ActuatorKind) -> bool {
        match kind {
            ActuatorKind::Clamp => matches!(
                self,
                SafeState::Closed | SafeState::Open | SafeState::HoldLast
            ),
            _ => matches!(
                self,
                SafeState::Off | SafeState::HoldLast | SafeState::Fixed(_)
            ),
        }
    }
}
