//! `perfuse sweep`: many cohort members of one protocol, each a lockstep run in-process with its
//! own noise and organ seed, on worker threads; one CSV row per case and a summary of the
//! distributions. A sweep can be cut into deterministic shards run anywhere and merged.
//!
//! Case `i` (0-based, of the whole sweep) runs with noise seed and organ seed `seed + i` (a model
//! from an outside library has no cohort: its cases run the protocol's organ), and a
//! fault time given as a range is drawn for it from the same numbers, so a case depends only on
//! the sweep's arguments and its index, never on the shard, the job count or the machine.

mod case;
mod table;

use crate::exit::Failure;
use crate::signals;
use crate::wiring::write_atomically;
use case::{CaseSpec, Sweeper};
use perfuse_core::config;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

pub use table::merge;

/// The CSV of the cases and the summary written beside it.
pub const CASES_CSV: &str = "cases.csv";
pub const SUMMARY_MD: &str = "summary.md";

/// Everything `perfuse sweep` was given.
#[derive(Debug, Clone)]
pub struct SweepArgs {
    pub file: PathBuf,
    pub cases: u64,
    pub jobs: usize,
    pub duration_s: Option<f64>,
    pub scenario: Option<String>,
    /// The first case's seeds; case `i` runs with `seed + i`.
    pub seed: u64,
    /// `KIND@TIME` or `KIND@FROM..TO` (drawn per case).
    pub faults: Vec<String>,
    /// `--param KEY=VALUE` texts: plugin parameters set over the file's in every case.
    pub params: Vec<String>,
    pub out: PathBuf,
    /// `(k, n)`: the k-th (1-based) of n shards.
    pub shard: Option<(u64, u64)>,
    pub plugin_dirs: Vec<PathBuf>,
    /// Load a plugin or model library that is neither pinned nor shipped (`--allow-untrusted`).
    pub allow_untrusted: bool,
}

/// Reads `K/N` with 1 ≤ K ≤ N.
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("`{text}`: expected K/N with 1 ≤ K ≤ N, e.g. 3/10");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The case indices of shard `k` of `n` of a sweep of `cases`: a contiguous slice, the slices of
/// all shards covering every case once.
pub fn shard_range(cases: u64, (k, n): (u64, u64)) -> std::ops::Range<u64> {
    let at = |i: u64| ((cases as u128 * i as u128) / n as u128) as u64;
    at(k - 1)..at(k)
}

/// A `--fault` whose time may be a range, drawn per case.
#[derive(Debug, Clone)]
struct FaultSpec {
    kind: String,
    from_s: f64,
    to_s: f64,
}

impl FaultSpec {
    fn parse(text: &str) -> Result<FaultSpec, String> {
        let (kind, time) = text
            .rsplit_once('@')
            .ok_or_else(|| format!("--fault {text}: expected KIND@TIME or KIND@FROM..TO"))?;
        let parse = |t: &str| config::parse_duration(t).map_err(|e| format!("--fault {text}: {e}"));
        let (from_s, to_s) = match time.split_once("..") {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => (parse(time)?, parse(time)?),
        };
        if to_s < from_s {
            return Err(format!(
                "--fault {text}: the range ends before it starts ({to_s} s < {from_s} s)"
            ));
        }
        Ok(FaultSpec {
            kind: kind.to_string(),
            from_s,
            to_s,
        })
    }

    /// The fault of case `case` as `perfuse run --fault` takes it, the time in whole seconds
    /// when drawn from a range.
    fn for_case(&self, seed: u64, case: u64, index: usize) -> String {
        if self.from_s == self.to_s {
            return format!("{}@{}s", self.kind, self.from_s);
        }
        let u = unit(seed, case, index as u64);
        let t = (self.from_s + u * (self.to_s - self.from_s)).round();
        format!(
            "{}@{}s",
            self.kind,
            t.clamp(self.from_s.ceil(), self.to_s.floor())
        )
    }
}

/// A number in [0, 1) that depends only on the sweep's seed, the case and the fault's place:
/// SplitMix64 (Steele, Lea, Flood 2014) over the three.
fn unit(seed: u64, case: u64, index: u64) -> f64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(case.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(index.wrapping_add(1).wrapping_mul(0x8CB9_2BA7_2F3D_8DD7));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// What a sweep's output directory says about the sweep, so that `merge` joins only shards of
/// one sweep.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepMeta {
    pub protocol: String,
    pub protocol_sha256: String,
    pub cases: u64,
    pub seed: u64,
    pub duration_s: Option<f64>,
    pub scenario: Option<String>,
    pub faults: Vec<String>,
    /// `--param` texts (absent in sweeps from before them: none).
    #[serde(default)]
    pub params: Vec<String>,
    /// `[k, n]`, absent for a whole sweep.
    pub shard: Option<(u64, u64)>,
}

pub const META_JSON: &str = "sweep.json";

/// `perfuse sweep`: runs the cases of the sweep (or of its shard), writes `cases.csv`,
/// `summary.md` and `sweep.json` in `out`, and prints the summary.
pub fn run(args: &SweepArgs) -> Result<u8, Failure> {
    let stop = signals::install()?;
    if args.cases == 0 {
        return Err(Failure::usage("--cases 0: expected at least one case"));
    }
    if args.jobs == 0 {
        return Err(Failure::usage("--jobs 0: expected at least one job"));
    }
    let faults = args
        .faults
        .iter()
        .map(|f| FaultSpec::parse(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::usage)?;
    let sweeper = Sweeper::new(args)?;
    // Both ends of every range go through the simulator's own checks before any case runs.
    for f in &faults {
        sweeper.check_fault(&format!("{}@{}s", f.kind, f.from_s))?;
        sweeper.check_fault(&format!("{}@{}s", f.kind, f.to_s))?;
    }
    let range = args
        .shard
        .map_or(0..args.cases, |s| shard_range(args.cases, s));
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::input(format!("cannot create {}: {e}", args.out.display())))?;
    let meta = SweepMeta {
        protocol: args.file.display().to_string(),
        protocol_sha256: sweeper.protocol_sha256(),
        cases: args.cases,
        seed: args.seed,
        duration_s: args.duration_s,
        scenario: args.scenario.clone(),
        faults: args.faults.clone(),
        params: args.params.clone(),
        shard: args.shard,
    };
    let meta_json = serde_json::to_string_pretty(&meta).map_err(|e| e.to_string())?;
    write_atomically(&args.out.join(META_JSON), &(meta_json + "\n"))?;

    let spec = |i: u64| CaseSpec {
        index: i,
        seed: args.seed.wrapping_add(i),
        organ_seed: args.seed.wrapping_add(i),
        faults: faults
            .iter()
            .enumerate()
            .map(|(k, f)| f.for_case(args.seed, i, k))
            .collect(),
    };
    let header = sweeper.header()?;
    let csv_path = args.out.join(CASES_CSV);
    let fail =
        |e: std::io::Error| Failure::input(format!("cannot write {}: {e}", csv_path.display()));
    let mut csv = BufWriter::new(File::create(&csv_path).map_err(fail)?);
    csv.write_all(table::csv_line(&header).as_bytes())
        .map_err(fail)?;

    let started = Instant::now();
    let total = range.end - range.start;
    let progress = progress_bar(total);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::sync_channel::<(u64, Result<Vec<String>, String>)>(args.jobs * 2);
    let jobs = args.jobs.min(total.max(1) as usize);
    let mut written = 0u64;
    let mut failures = Vec::new();
    std::thread::scope(|scope| -> Result<(), Failure> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, sweeper, stop, spec, range) = (&next, &sweeper, &stop, &spec, &range);
            scope.spawn(move || {
                let worker = sweeper.worker();
                loop {
                    let i = range.start + next.fetch_add(1, Ordering::Relaxed) as u64;
                    if i >= range.end || stop.signal().is_some() {
                        break;
                    }
                    let row = worker.run(&spec(i));
                    if tx.send((i, row)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Rows are written in case order as they complete; those that finish early wait here
        // (about one per worker). A failed case leaves no row.
        let mut waiting: BTreeMap<u64, Option<Vec<String>>> = BTreeMap::new();
        let mut expected = range.start;
        for (i, row) in rx {
            progress.inc(1);
            let row = row
                .map_err(|e| failures.push(format!("case {i}: {e}")))
                .ok();
            waiting.insert(i, row);
            while let Some(row) = waiting.remove(&expected) {
                if let Some(row) = row {
                    csv.write_all(table::csv_line(&row).as_bytes())
                        .map_err(fail)?;
                    written += 1;
                }
                expected += 1;
            }
        }
        Ok(())
    })?;
    csv.flush().map_err(fail)?;
    progress.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    let summary = table::summarize(&csv_path, &args.out.join(SUMMARY_MD))?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "{} cases of {} in {wall_s:.1} s wall on {jobs} job(s); {} written to {}",
        written,
        args.file.display(),
        CASES_CSV,
        args.out.display()
    );
    let _ = out.write_all(summary.as_bytes());
    for f in &failures {
        eprintln!("{f}");
    }
    if let Some(sig) = stop.signal() {
        eprintln!(
            "stopped by signal {sig} after {written} of {total} cases; the CSV holds the finished ones"
        );
        return Ok(128 + sig as u8);
    }
    if failures.is_empty() {
        Ok(0)
    } else {
        Err(Failure::internal(format!(
            "{} of {total} cases failed",
            failures.len()
        )))
    }
}

/// A progress bar on a terminal (stderr); nothing otherwise.
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} cases, {per_sec}, about {eta} left",
    ) {
        bar.set_style(style);
    }
    bar
}

/// The command that runs case `spec` again on its own, recorded, with the same result.
fn replay_command(args_file: &Path, meta: &ReplayBase, spec: &CaseSpec) -> String {
    let mut cmd = format!(
        "perfuse run {} --seed {}",
        shell_word(&args_file.display().to_string()),
        spec.seed
    );
    if meta.cohort {
        cmd.push_str(&format!(" --organ-seed {}", spec.organ_seed));
    }
    if let Some(d) = meta.duration_s {
        cmd.push_str(&format!(" --duration {d}s"));
    }
    if let Some(s) = &meta.scenario {
        cmd.push_str(&format!(" --scenario {}", shell_word(s)));
    }
    for p in &meta.params {
        cmd.push_str(&format!(" --param {}", shell_word(p)));
    }
    // The same plugin and model libraries, found and trusted as the sweep found them.
    for d in &meta.plugin_dirs {
        cmd.push_str(&format!(
            " --plugin-dir {}",
            shell_word(&d.display().to_string())
        ));
    }
    if meta.allow_untrusted {
        cmd.push_str(" --allow-untrusted");
    }
    for f in &spec.faults {
        cmd.push_str(&format!(" --fault {}", shell_word(f)));
    }
    cmd
}

/// What every case's replay command shares.
struct ReplayBase {
    duration_s: Option<f64>,
    scenario: Option<String>,
    params: Vec<String>,
    plugin_dirs: Vec<PathBuf>,
    allow_untrusted: bool,
    /// The model has a cohort: cases draw their organ (`--organ-seed`).
    cohort: bool,
}

/// `text` quoted for a POSIX shell when it needs it.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:@=,+%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_case_once_in_order() {
        for (cases, n) in [(10, 3), (1000, 7), (5, 5), (3, 4)] {
            let mut all = Vec::new();
            for k in 1..=n {
                all.extend(shard_range(cases, (k, n)));
            }
            assert_eq!(
                all,
                (0..cases).collect::<Vec<_>>(),
                "{cases} cases in {n} shards"
            );
        }
    }

    #[test]
    fn shard_text_is_checked() {
        assert_eq!(parse_shard("3/10"), Ok((3, 10)));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_fault_time_range_is_drawn_per_case_within_it_and_repeatably() {
        let f = FaultSpec::parse("stuck:arterial_pressure@10m..50m").unwrap();
        assert_eq!(f.kind, "stuck:arterial_pressure");
        let times: Vec<String> = (0..50).map(|i| f.for_case(1, i, 0)).collect();
        for t in &times {
            let s: f64 = t
                .strip_prefix("stuck:arterial_pressure@")
                .and_then(|t| t.strip_suffix('s'))
                .unwrap()
                .parse()
                .unwrap();
            assert!((600.0..=3000.0).contains(&s), "{t}");
        }
        assert_eq!(
            times,
            (0..50).map(|i| f.for_case(1, i, 0)).collect::<Vec<_>>()
        );
        assert!(times.iter().any(|t| t != &times[0]), "the times differ");
        assert_eq!(
            FaultSpec::parse("air@30m").unwrap().for_case(1, 9, 0),
            "air@1800s"
        );
        assert!(FaultSpec::parse("air@50m..10m").is_err());
        assert!(FaultSpec::parse("air").is_err());
    }

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_word("protocols/kidney-hmp.ron"),
            "protocols/kidney-hmp.ron"
        );
        assert_eq!(shell_word("my file.ron"), "'my file.ron'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
