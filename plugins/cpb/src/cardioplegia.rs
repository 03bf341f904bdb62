//! The cardioplegia program: an induction dose when the aorta is cross-clamped, then re-doses
//! on the console's dose timer (§12C).
//!
//! A dose is a volume of solution delivered at a fixed rate, measured on the cardioplegia
//! console's volume counter: the pump runs until the counter has risen by the dose. Without a
//! valid counter no dose can be measured, so the pump stops [P]. Root pressure limits and the
//! re-dose interval alarms are the protocol file's rules, enforced by the core.

/// The program's settings.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    /// Induction dose, mL (del Nido: 20 mL/kg, §12C).
    pub induction_ml: f64,
    /// Re-dose, mL (del Nido: 10 mL/kg, §12C).
    pub redose_ml: f64,
    pub rate_ml_min: f64,
    /// Time after the last dose ended at which the next one starts, s.
    pub redose_after_s: f64,
}

/// Where the program is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Doses {
    /// The counter's reading at which the running dose ends; `None` between doses.
    pub until_ml: Option<f64>,
    pub given: u32,
    /// Solution delivered by the program's doses so far, mL.
    pub total_ml: f64,
    /// The counter's reading when the running dose began.
    from_ml: f64,
}

impl Doses {
    /// The pump command this tick of the cross-clamp: the induction dose first, then re-doses.
    /// `volume_ml` is the counter, `since_s` the console's time since the last dose ended.
    pub fn step(&mut self, p: &Program, volume_ml: Option<f64>, since_s: Option<f64>) -> f64 {
        let Some(volume) = volume_ml else {
            self.until_ml = None;
            return 0.0;
        };
        if self.until_ml.is_none() {
            let due = since_s.is_some_and(|s| s >= p.redose_after_s);
            if self.given == 0 {
                self.begin(volume, p.induction_ml);
            } else if self.given > 0 && due {
                self.begin(volume, p.redose_ml);
            }
        }
        match self.until_ml {
            Some(until) if volume < until => p.rate_ml_min,
            Some(_) => {
                self.until_ml = None;
                self.given += 1;
                self.total_ml += volume - self.from_ml;
                0.0
            }
            None => 0.0,
        }
    }

    fn begin(&mut self, volume: f64, dose_ml: f64) {
        self.from_ml = volume;
        self.until_ml = Some(volume + dose_ml);
    }

    /// The program's state as plain numbers, for save and restore.
    pub fn to_parts(&self) -> (Option<f64>, u32, f64, f64) {
        (self.until_ml, self.given, self.total_ml, self.from_ml)
    }

    pub fn from_parts(parts: (Option<f64>, u32, f64, f64)) -> Self {
        Doses {
            until_ml: parts.0,
            given: parts.1,
            total_ml: parts.2,
            from_ml: parts.3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Program = Program {
        induction_ml: 1600.0,
        redose_ml: 800.0,
        rate_ml_min: 300.0,
        redose_after_s: 4800.0,
    };

    #[test]
    fn induction_then_a_redose_on_the_timer() {
        let mut d = Doses::default();
        assert_eq!(d.step(&P, Some(0.0), Some(0.0)), 300.0);
        assert_eq!(d.step(&P, Some(1599.0), Some(0.0)), 300.0);
        assert_eq!(d.step(&P, Some(1600.0), Some(0.0)), 0.0);
        assert_eq!((d.given, d.total_ml), (1, 1600.0));
        assert_eq!(d.step(&P, Some(1600.0), Some(4799.0)), 0.0);
        assert_eq!(d.step(&P, Some(1600.0), Some(4800.0)), 300.0);
        assert_eq!(d.step(&P, Some(2400.5), Some(0.0)), 0.0);
        assert_eq!(d.given, 2);
        assert!((d.total_ml - 2400.5).abs() < 1e-9);
        assert_eq!(Doses::from_parts(d.to_parts()), d);
    }

    #[test]
    fn no_counter_no_dose() {
        let mut d = Doses::default();
        assert_eq!(d.step(&P, None, Some(0.0)), 0.0);
        assert_eq!(d.given, 0);
        assert!(d.until_ml.is_none());
        assert_eq!(
            d.step(&P, Some(0.0), Some(0.0)),
            300.0,
            "once counted, induction"
        );
    }
}
