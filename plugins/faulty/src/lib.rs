//! Test fixture: a plugin that behaves until `at_s`, then misbehaves the way `mode` says, so
//! the host's containment is tested through the same loading path as a real plugin.
//!
//! Modes (`plugin_params: { "mode": N, "at_s": T }`):
//! 1. panics in `step`;
//! 2. requests an infinite setpoint;
//! 3. commands an actuator with an infinite value;
//! 4. overruns its time budget: one `step` runs on the CPU for `busy_s` (default 1 s) of its
//!    own thread's CPU time, then it behaves;
//! 5. requests a finite setpoint far outside every band (which the host must clamp, not obey);
//! 6. panics in `create`;
//! 7. panics in `save` (ABI 1.2) once `at_s` has passed; its `restore` takes back the steps;
//! 8. never returns from `step`, looping on the CPU;
//! 9. never returns from `step`, blocked without using the CPU.
//!
//! Before `at_s` it requests nothing and reports how many steps it has taken.

use perfuse_plugin_sdk::{
    CreateContext, Params, Protocol, StepInput, StepOutput, export_plugin, state,
};

pub struct Faulty {
    mode: u32,
    at_s: f64,
    busy_s: f64,
    steps: f64,
    /// The time of the last step, for mode 7.
    t_s: f64,
}

const MODES: std::ops::RangeInclusive<u32> = 1..=9;

fn mode(params: &Params<'_>) -> Result<u32, String> {
    let m = params.require("mode")?;
    if m.fract() == 0.0 && MODES.contains(&(m as u32)) {
        Ok(m as u32)
    } else {
        Err(format!(
            "`mode` must be a whole number from 1 to 9, found {m}"
        ))
    }
}

impl Protocol for Faulty {
    const ID: &'static str = "faulty";
    const VERSION: &'static str = "0.1.0";
    const DERIVED: &'static [&'static str] = &["steps"];

    fn validate(params: Params<'_>) -> Result<(), String> {
        mode(&params)?;
        match params.get("at_s") {
            Some(t) if t >= 0.0 => Ok(()),
            Some(t) => Err(format!("`at_s` must be 0 or more, found {t}")),
            None => Err("missing `at_s` (seconds until the fault)".into()),
        }
    }

    fn create(ctx: &CreateContext<'_>) -> Result<Self, String> {
        let mode = mode(&ctx.params)?;
        if mode == 6 {
            panic!("faulty plugin: mode 6 panics in create");
        }
        Ok(Faulty {
            mode,
            at_s: ctx.params.require("at_s")?,
            busy_s: ctx.params.get("busy_s").unwrap_or(1.0),
            steps: 0.0,
            t_s: 0.0,
        })
    }

    fn step(&mut self, input: &StepInput, out: &mut StepOutput) {
        self.steps += 1.0;
        self.t_s = input.t_s;
        out.derived[0] = self.steps;
        if input.t_s < self.at_s {
            return;
        }
        // The first signal the protocol file sets a setpoint for.
        let n = input.n_signals as usize;
        let target = input.setpoints[..n].iter().position(|s| !s.is_nan());
        match (self.mode, target) {
            (1, _) => panic!("faulty plugin: mode 1 panics in step"),
            (2, Some(i)) => out.setpoints[i] = f64::INFINITY,
            (3, _) => out.commands[0] = f64::INFINITY,
            (4, _) if self.busy_s > 0.0 => {
                // One slow step, then it behaves: the host must not call it again anyway.
                let start = thread_cpu_s();
                while thread_cpu_s() - start < self.busy_s {
                    std::hint::black_box(input.tick);
                }
                self.busy_s = 0.0;
            }
            (8, _) => loop {
                std::hint::black_box(input.tick);
            },
            (9, _) => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
            (5, Some(i)) => out.setpoints[i] = 1.0e6,
            _ => {}
        }
    }

    fn save(&self, out: &mut state::Writer) {
        if self.mode == 7 && self.t_s >= self.at_s {
            panic!("faulty plugin: mode 7 panics in save");
        }
        out.put(&self.steps).put(&self.t_s);
    }

    fn restore(&mut self, input: &mut state::Reader<'_>) -> Result<(), String> {
        input.read(&mut self.steps)?;
        input.read(&mut self.t_s)
    }
}

/// CPU time of the calling thread, so the overrun does not depend on the machine's load.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid place to write.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

export_plugin!(Faulty);
