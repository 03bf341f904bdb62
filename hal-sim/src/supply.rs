//! The device's power supply, the same for every plant model: a mains monitor and a battery.
//! On mains the battery stays full; after a mains loss the device runs on its battery, whose
//! charge falls linearly over its runtime (the clinical reference's power failure: switch to
//! battery and alarm, MEDIUM, then HIGH at low battery, §9).

use perfuse_hal::SensorKind;

/// Site of the mains monitor: a `Supply` sensor, 1 on mains, 0 on battery.
pub const MAINS_SITE: &str = "mains";
/// Site of the battery's charge: a `Percent` sensor.
pub const BATTERY_SITE: &str = "battery";
/// Battery runtime from full charge, s (my choice: an hour, in the range transport consoles
/// quote).
const BATTERY_RUNTIME_S: f64 = 3600.0;

/// Output points of the supply's sensors, outside every plant model's outputs.
pub(crate) const MAINS_POINT: usize = usize::MAX - 1;
pub(crate) const BATTERY_POINT: usize = usize::MAX - 2;

/// The supply's state: when the mains was lost, if it was.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Supply {
    mains_lost_at_s: Option<f64>,
}

impl Supply {
    /// The output point of a sensor at a supply site, or None for any other site.
    pub(crate) fn point(id: &str, kind: SensorKind, site: &str) -> Option<Result<usize, String>> {
        let (point, want) = match site {
            MAINS_SITE => (MAINS_POINT, SensorKind::Supply),
            BATTERY_SITE => (BATTERY_POINT, SensorKind::Percent),
            _ => return None,
        };
        Some(if kind == want {
            Ok(point)
        } else {
            Err(format!(
                "sensor `{id}`: site `{site}` has a {want:?} sensor, not a {kind:?} one"
            ))
        })
    }

    pub(crate) fn lose_mains(&mut self, at_s: f64) {
        self.mains_lost_at_s.get_or_insert(at_s);
    }

    /// The true reading of a supply point at `t_s` (None: not a supply point).
    pub(crate) fn reading(&self, point: usize, t_s: f64) -> Option<f64> {
        let on_battery_s = self.mains_lost_at_s.map(|t| (t_s - t).max(0.0));
        match point {
            MAINS_POINT => Some(if on_battery_s.is_some() { 0.0 } else { 1.0 }),
            BATTERY_POINT => {
                let used = on_battery_s.unwrap_or(0.0) / BATTERY_RUNTIME_S;
                Some(100.0 * (1.0 - used).max(0.0))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_battery_runs_down_after_a_mains_loss() {
        let mut s = Supply::default();
        assert_eq!(s.reading(MAINS_POINT, 10.0), Some(1.0));
        assert_eq!(s.reading(BATTERY_POINT, 10.0), Some(100.0));
        s.lose_mains(100.0);
        assert_eq!(s.reading(MAINS_POINT, 100.0), Some(0.0));
        let left = s.reading(BATTERY_POINT, 100.0 + 2880.0).unwrap();
        assert!((left - 20.0).abs() < 1e-9, "{left}");
        assert_eq!(s.reading(BATTERY_POINT, 100.0 + 7200.0), Some(0.0));
        assert_eq!(s.reading(0, 1.0), None);
        assert!(
            Supply::point("m", SensorKind::Flow, MAINS_SITE)
                .unwrap()
                .is_err()
        );
        assert!(Supply::point("f", SensorKind::Flow, "arterial_line").is_none());
    }
}
