//! The exit statuses of `perfuse`, one per kind of failure, so that scripts can tell a mistake
//! in the input from a refused plugin or a failure of the program itself (README, Commands).

use std::process::ExitCode;

/// Everything went as asked.
pub const OK: u8 = 0;
/// A failure of the program or its environment: a bug (a panic), a summary that cannot be
/// written, a thread that cannot start.
pub const INTERNAL: u8 = 1;
/// The command line is wrong (clap's own status for usage errors).
pub const USAGE: u8 = 2;
/// An input is invalid: a protocol, labs or commands file, a `--fault`, a `--scenario`.
pub const INVALID_INPUT: u8 = 3;
/// The protocol's plugin could not be used: not found, refused by a check (pin, ABI, id,
/// version), its parameters rejected, or it failed to start.
pub const PLUGIN_REFUSED: u8 = 4;
/// `perfuse replay`: the replayed run differs from its record (the first difference is printed).
pub const REPLAY_DIFFERS: u8 = 5;
/// `perfuse run --hal modbus`: a device of the profile did not answer at start; nothing was
/// commanded.
pub const DEVICES_UNREACHABLE: u8 = 6;
// 130 and 143 (128 + SIGINT, 128 + SIGTERM): a run ended by a signal (`wiring::Ended`).

/// Why a command failed: the message for stderr and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub status: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            status: USAGE,
            message: message.into(),
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Failure {
            status: INVALID_INPUT,
            message: message.into(),
        }
    }

    pub fn plugin(message: impl Into<String>) -> Self {
        Failure {
            status: PLUGIN_REFUSED,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Failure {
            status: INTERNAL,
            message: message.into(),
        }
    }
}

/// Most of what fails inside a run is the program's or its environment's (a thread, a file).
impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::internal(message)
    }
}

/// Exit status 0, or the message on stderr and the failure's status.
pub fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(OK),
        Err(f) => {
            eprintln!("{}", f.message);
            ExitCode::from(f.status)
        }
    }
}
