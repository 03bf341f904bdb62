//! The yardstick for the tick's cost: a bare bevy_ecs schedule of seven chained systems on the
//! single-threaded executor, each reading one resource and writing the next, like the tick's
//! stages pass data along. `bench/tick-instructions.sh` counts its instructions per run with
//! callgrind beside the perfuse tick's. Usage: `bare_schedule TICKS`.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};

#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct Bare;

#[derive(Resource, Default)]
struct Stage<const N: usize>(u64);

fn step<const I: usize, const O: usize>(input: Res<Stage<I>>, mut output: ResMut<Stage<O>>) {
    output.0 = output.0.wrapping_add(input.0 | 1);
}

fn main() {
    let ticks: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60_000);
    let mut world = World::new();
    world.init_resource::<Stage<0>>();
    world.init_resource::<Stage<1>>();
    world.init_resource::<Stage<2>>();
    world.init_resource::<Stage<3>>();
    world.init_resource::<Stage<4>>();
    world.init_resource::<Stage<5>>();
    world.init_resource::<Stage<6>>();
    world.init_resource::<Stage<7>>();
    let mut schedule = Schedule::new(Bare);
    schedule.set_executor(SingleThreadedExecutor::new());
    schedule.add_systems(
        (
            step::<0, 1>,
            step::<1, 2>,
            step::<2, 3>,
            step::<3, 4>,
            step::<4, 5>,
            step::<5, 6>,
            step::<6, 7>,
        )
            .chain(),
    );
    for _ in 0..ticks {
        schedule.run(&mut world);
        world.resource_mut::<Stage<0>>().0 += 1;
    }
    println!("{}", world.resource::<Stage<7>>().0);
}
