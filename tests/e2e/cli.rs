//! Command-line conventions: `RUST_LOG`, coloured alarms on a terminal (`NO_COLOR`), shell
//! completions and manual pages, and the documented install (`install.sh`) from a temporary
//! prefix, with which every shipped protocol runs.

use crate::common::{SHIPPED_PROTOCOLS, perfuse, protocol, shipped_protocols, stderr, stdout};
use std::path::Path;
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_perfuse")
}

#[test]
fn rust_log_sets_what_is_logged() {
    let file = protocol("kidney-hmp.ron");
    let args = [
        "run",
        file.to_str().unwrap(),
        "--duration",
        "1m",
        "--quiet",
        "--no-record",
    ];
    let run = |rust_log: Option<&str>| {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        match rust_log {
            Some(v) => cmd.env("RUST_LOG", v),
            None => cmd.env_remove("RUST_LOG"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let loaded = "[DEBUG perfuse] plugin kidney 0.1.1 (ABI 1.4, sha256 ";
    assert!(run(Some("debug")).contains(loaded));
    assert!(run(Some("warn,perfuse=debug")).contains(loaded));
    assert!(!run(None).contains("DEBUG"));
    assert!(!run(Some("perfuse=info")).contains("DEBUG"));
    let bad = run(Some("chatty"));
    assert!(
        bad.contains("RUST_LOG: expected a level (off, error, warn, info, debug, trace) or target=level, found `chatty`; logging at `info`"),
        "{bad}"
    );
}

/// Runs perfuse on a pseudo-terminal (util-linux `script`), with `NO_COLOR` as given; its output.
fn on_a_terminal(no_color: Option<&str>) -> String {
    let file = protocol("kidney-hmp.ron");
    let command = format!(
        "'{}' run '{}' --duration 35m --fault air@30m --no-record --status-every 30m",
        bin(),
        file.display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"]);
    match no_color {
        Some(v) => cmd.env("NO_COLOR", v),
        None => cmd.env_remove("NO_COLOR"),
    };
    let out = cmd.output().expect("util-linux `script` runs");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn alarms_are_coloured_on_a_terminal_unless_no_color_or_a_pipe() {
    let tty = on_a_terminal(None);
    assert!(
        tty.contains(
            "00:30:00 \x1b[1;31mALARM air_in_line [HIGH] raised\x1b[0m: Air in the arterial line"
        ),
        "{tty}"
    );
    assert!(
        tty.contains("ALARMS: \x1b[1;31mair_in_line [HIGH technical]\x1b[0m"),
        "{tty}"
    );
    // An empty NO_COLOR is as if unset (no-color.org).
    assert!(on_a_terminal(Some("")).contains("\x1b[1;31m"));
    let plain = on_a_terminal(Some("1"));
    assert!(
        plain.contains("00:30:00 ALARM air_in_line [HIGH] raised: Air"),
        "{plain}"
    );
    assert!(!plain.contains('\x1b'), "{plain}");
    // Into a pipe: no colour either.
    let file = protocol("kidney-hmp.ron");
    let piped = perfuse(&[
        "run",
        file.to_str().unwrap(),
        "--duration",
        "35m",
        "--fault",
        "air@30m",
    ]);
    assert!(stdout(&piped).contains("ALARM air_in_line [HIGH] raised"));
    assert!(!stdout(&piped).contains('\x1b'));
}

#[test]
fn completions_and_manual_pages_cover_the_commands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = perfuse(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains("--monitor") && text.contains("replay"),
            "{shell}: {text}"
        );
    }
    assert_eq!(perfuse(&["completions", "tcsh"]).status.code(), Some(2));
    let man = stdout(&perfuse(&["man"]));
    assert!(
        man.starts_with(".ie") && man.contains(".TH perfuse 1"),
        "{man}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = perfuse(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = std::fs::read_to_string(dir.path().join("perfuse-run.1")).unwrap();
    assert!(
        run.contains(".TH perfuse-run 1") && run.contains("monitor\\-bind\\-any"),
        "{run}"
    );
    let missing = perfuse(&["man", "--dir", "/nonexistent/man1"]);
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));
}

#[test]
fn the_documented_install_runs_every_shipped_protocol() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = Path::new(bin()).parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    let out = Command::new(root.join("install.sh"))
        .arg("--from")
        .arg(built)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "install.sh: {}", stderr(&out));
    let installed = prefix.join("bin/perfuse");
    assert!(prefix.join("share/man/man1/perfuse-run.1").is_file());
    assert!(
        prefix
            .join("share/bash-completion/completions/perfuse")
            .is_file()
    );
    assert_eq!(shipped_protocols().len(), SHIPPED_PROTOCOLS.len());
    // From elsewhere, with nothing pointing at the build: the plugins beside the installed
    // binary are the ones found.
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    for name in SHIPPED_PROTOCOLS {
        let file = prefix.join("share/perfuse/protocols").join(name);
        let out = Command::new(&installed)
            .args(["run", file.to_str().unwrap(), "--duration", "2m", "--quiet"])
            .args(["--no-record", "--summary", "-"])
            .current_dir(&work)
            .env_remove("PERFUSE_PLUGIN_DIR")
            .env("RUST_LOG", "perfuse=debug")
            .output()
            .unwrap();
        assert!(out.status.success(), "{name:?}: {}", stderr(&out));
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(s["simulated_s"], 120.0, "{name:?}");
        let beside = format!("loaded from {}/", prefix.join("lib/perfuse").display());
        assert!(stderr(&out).contains(&beside), "{name:?}: {}", stderr(&out));
    }
}
