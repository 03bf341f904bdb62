//! The same seed and the same commands give the same frames, bit for bit.

use perfuse_hal::SensorFrame;
use perfuse_hal_sim::{Fault, SimHal};

use crate::common::*;

fn frames(seed: u64) -> Vec<SensorFrame> {
    let protocol = kidney(&[]);
    let faults = [
        Fault::parse("drift:perfusate_temp@20s", &protocol).unwrap(),
        Fault::parse("spike:arterial_flow@30s", &protocol).unwrap(),
        Fault::parse("occlusion@40s", &protocol).unwrap(),
    ];
    let mut hal = SimHal::new(&protocol, seed, &faults).unwrap();
    record(&mut hal, 0.0, 60.0, 0.01, |f| {
        (pulsatile(115.0, 0.6, f.t_s), 0.0, 10.0)
    })
}

fn bits(frames: &[SensorFrame]) -> Vec<u64> {
    frames
        .iter()
        .flat_map(|f| {
            [f.t_s.to_bits(), f.seq]
                .into_iter()
                .chain(f.values.iter().map(|v| v.to_bits()))
        })
        .collect()
}

#[test]
fn same_seed_same_frames_bit_for_bit() {
    let (a, b) = (frames(7), frames(7));
    assert_eq!(a.len(), 6000);
    assert!(bits(&a) == bits(&b));
}

#[test]
fn another_seed_other_noise() {
    let (a, b) = (frames(7), frames(8));
    let differing = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x.values[PRESSURE].to_bits() != y.values[PRESSURE].to_bits())
        .count();
    assert!(differing > a.len() / 2, "{differing} of {} differ", a.len());
}
