//! Every command example in the README runs as written: the commands of its `sh` blocks, and the
//! `$ ` lines of its transcripts (a block of commands with their output), in the order they
//! stand, in one working directory that sees the repository's `protocols/`, `profiles/` and
//! `tests/`, with the `perfuse` this suite built first on `PATH`. A transcript's output lines
//! must each be printed by its command, numbers aside (times, hashes, wall seconds); a line with
//! `...` is compared up to it. A block's info string marks what is not run as written:
//! `not-run: REASON` (a long run, a server, a device, a terminal, an install, a record of an
//! earlier run), `output-varies: REASON` (run, its output not compared), `status=N` (the exit
//! status it shows, 0 otherwise). An input file shown as an example names the protocol it is
//! for, `labs-for=PROTOCOL` or `commands-for=PROTOCOL`, and a run of that protocol with it must
//! succeed.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fenced code block of the README.
struct Block {
    /// The line of its opening fence.
    line: usize,
    info: String,
    lines: Vec<String>,
}

/// One command to run, with the output the README shows for it.
struct Example {
    line: usize,
    command: String,
    shown: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, l) in text.lines().enumerate() {
        match (l.trim_start().strip_prefix("```"), open.take()) {
            (Some(info), None) => {
                open = Some(Block {
                    line: i + 1,
                    info: info.trim().to_string(),
                    lines: Vec::new(),
                })
            }
            (Some(_), Some(b)) => out.push(b),
            (None, Some(mut b)) => {
                b.lines.push(l.to_string());
                open = Some(b);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "README: a code block is not closed");
    out
}

/// The block's value for a mark (`not-run: why` gives `why`).
fn mark<'a>(b: &'a Block, name: &str) -> Option<&'a str> {
    b.info
        .split_once(name)
        .map(|(_, rest)| rest.trim_start_matches([':', '=']).trim())
}

/// The commands of a block: each line of an `sh` block (`\` continues a line; comments and blank
/// lines are not commands), or each `$ ` line of a transcript with the lines after it.
fn examples(b: &Block) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    if b.info.split_whitespace().next() == Some("sh") {
        let mut pending = String::new();
        for (i, l) in b.lines.iter().enumerate() {
            let l = l.trim();
            if pending.is_empty() && (l.is_empty() || l.starts_with('#')) {
                continue;
            }
            match l.strip_suffix('\\') {
                Some(part) => pending.push_str(part),
                None => {
                    pending.push_str(l);
                    out.push(Example {
                        line: b.line + 1 + i,
                        command: std::mem::take(&mut pending),
                        shown: Vec::new(),
                    });
                }
            }
        }
        return out;
    }
    for (i, l) in b.lines.iter().enumerate() {
        match (l.strip_prefix("$ "), out.last_mut()) {
            (Some(cmd), _) => out.push(Example {
                line: b.line + 1 + i,
                command: cmd.to_string(),
                shown: Vec::new(),
            }),
            (None, Some(e)) => e.shown.push(l.to_string()),
            (None, None) => return Vec::new(), // a listing, not a transcript
        }
    }
    out
}

/// A line with its numbers and hashes folded, for comparison: `00:30:12` and `00:30:11` are the
/// same line, `air_in_line` and `no_pressure` are not.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut hex = String::new();
    let flush = |hex: &mut String, out: &mut String| {
        if hex.len() >= 16 {
            out.push('#');
        } else {
            let mut digit = false;
            for c in hex.chars() {
                if c.is_ascii_digit() {
                    if !digit {
                        out.push('0');
                    }
                    digit = true;
                } else {
                    out.push(c);
                    digit = false;
                }
            }
        }
        hex.clear();
    };
    for c in line.trim_end().chars() {
        if c.is_ascii_hexdigit() {
            hex.push(c);
        } else {
            flush(&mut hex, &mut out);
            out.push(c);
        }
    }
    flush(&mut hex, &mut out);
    out
}

/// A directory to run the examples in, with the repository's inputs and `perfuse` on the path.
fn workdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["protocols", "profiles", "tests"] {
        std::os::unix::fs::symlink(root.join(name), dir.path().join(name)).unwrap();
    }
    let bin = dir.path().join(".bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_perfuse"), bin.join("perfuse")).unwrap();
    (dir, bin)
}

/// The README's test command: the suite this test is part of, so not run again from here.
const TEST_COMMAND: &str = "cargo test --workspace --release";

#[test]
fn every_command_example_in_the_readme_runs_as_written() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (dir, bin) = workdir();
    let search = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (mut ran, mut skipped) = (0, 0);
    let mut failures = Vec::new();
    let mut first_run = None;
    for (n, b) in blocks(&readme).iter().enumerate() {
        for (mark_name, option) in [("labs-for", "--labs"), ("commands-for", "--commands")] {
            if let Some(protocol) = mark(b, mark_name) {
                let file = format!("example-{}.ron", b.line);
                std::fs::write(dir.path().join(&file), b.lines.join("\n")).unwrap();
                let cmd = format!("perfuse run {protocol} {option} {file} --quiet --no-record");
                let out = Command::new("sh")
                    .args(["-c", &cmd])
                    .current_dir(dir.path())
                    .env("PATH", &search)
                    .output()
                    .unwrap();
                ran += 1;
                if !out.status.success() {
                    failures.push(format!(
                        "README:{}: the example fails with {protocol}: {}",
                        b.line,
                        stderr(&out)
                    ));
                }
            }
        }
        let examples = examples(b);
        if examples.is_empty() {
            continue;
        }
        first_run.get_or_insert(n);
        if let Some(why) = mark(b, "not-run") {
            assert!(!why.is_empty(), "README:{}: not-run needs a reason", b.line);
            skipped += examples.len();
            continue;
        }
        let status: i32 = mark(b, "status").map_or(0, |s| s.parse().unwrap());
        let compare = mark(b, "output-varies").is_none();
        for e in examples {
            let cmd = e.command.trim();
            if let Some(test) = cmd.strip_prefix("cargo test") {
                assert!(
                    cmd.starts_with(TEST_COMMAND),
                    "README:{}: `cargo test{test}` is not the suite's command",
                    e.line
                );
                continue;
            }
            // `cargo run --release --` is this build's `perfuse`, which this suite tests.
            let cmd = cmd.replace("cargo run --release --", "perfuse");
            let out = Command::new("timeout")
                .args(["120", "sh", "-c", &cmd])
                .current_dir(dir.path())
                .env("PATH", &search)
                .env("RUST_BACKTRACE", "0")
                .output()
                .unwrap();
            ran += 1;
            let printed = format!("{}{}", stdout(&out), stderr(&out));
            if out.status.code() != Some(status) {
                failures.push(format!(
                    "README:{}: `{cmd}` exited with {:?}, expected {status}:\n{printed}",
                    e.line,
                    out.status.code()
                ));
                continue;
            }
            let lines: Vec<String> = printed.lines().map(fold).collect();
            for shown in e.shown.iter().filter(|_| compare) {
                let (want, prefix) = match shown.split_once("...").or(shown.split_once('…')) {
                    Some((head, _)) => (fold(head), true),
                    None => (fold(shown), false),
                };
                if want.trim().is_empty() {
                    continue;
                }
                let found = lines.iter().any(|l| {
                    if prefix {
                        l.starts_with(&want)
                    } else {
                        *l == want
                    }
                });
                if !found {
                    failures.push(format!(
                        "README:{}: `{cmd}` did not print\n  {shown}\nit printed:\n{printed}",
                        e.line
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The README's first two commands are among those run, and something ran.
    let first = blocks(&readme).remove(first_run.expect("a command example"));
    assert!(mark(&first, "not-run").is_none() && first.lines[0].starts_with("cargo run"));
    println!("{ran} examples run, {skipped} not run (each with its reason)");
}
