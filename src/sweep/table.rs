//! The sweep's table: writing and reading `cases.csv`, the summary of its distributions, and
//! merging the tables of shards.

use super::{CASES_CSV, META_JSON, SUMMARY_MD, SweepMeta};
use crate::exit::Failure;
use crate::wiring::write_atomically;
use std::path::{Path, PathBuf};

/// One CSV line (RFC 4180: a field with a comma, quote or line break is quoted).
pub fn csv_line(fields: &[String]) -> String {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&f.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(f);
        }
    }
    line.push('\n');
    line
}

/// The rows of a CSV as written by [`csv_line`], the header first.
fn read_csv(path: &Path) -> Result<Vec<Vec<String>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if quoted || !field.is_empty() || !row.is_empty() {
        return Err(format!(
            "{}: the last line is cut off (an interrupted sweep?)",
            path.display()
        ));
    }
    let width = rows.first().map_or(0, Vec::len);
    if let Some(n) = rows.iter().position(|r| r.len() != width) {
        return Err(format!(
            "{}:{}: {} fields, the header has {width}",
            path.display(),
            n + 1,
            rows[n].len()
        ));
    }
    Ok(rows)
}

/// The value at quantile `q` of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// How bad a case is, for the list of worst cases: the worst alarm, then a negative verdict,
/// then the smallest time in band.
fn badness(row: &[String], col: &Columns) -> (u8, u8, i64) {
    let alarm = match row[col.worst_alarm].as_str() {
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    };
    let verdict = u8::from(row[col.verdict] == "not_viable");
    let in_band = col
        .in_band
        .iter()
        .filter_map(|&i| row[i].parse::<f64>().ok())
        .fold(1.0f64, f64::min);
    (alarm, verdict, -(in_band * 1e6) as i64)
}

/// Where the columns the summary needs are.
struct Columns {
    worst_alarm: usize,
    verdict: usize,
    replay: usize,
    in_band: Vec<usize>,
}

impl Columns {
    fn of(header: &[String], path: &Path) -> Result<Columns, String> {
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("{}: no column `{name}`", path.display()))
        };
        Ok(Columns {
            worst_alarm: find("worst_alarm")?,
            verdict: find("verdict")?,
            replay: find("replay")?,
            in_band: (0..header.len())
                .filter(|&i| header[i].starts_with("in_band."))
                .collect(),
        })
    }
}

/// Writes the summary of the cases in `csv` to `out` (Markdown) and returns it.
pub fn summarize(csv: &Path, out: &Path) -> Result<String, Failure> {
    let rows = read_csv(csv)?;
    let Some((header, cases)) = rows.split_first() else {
        return Err(Failure::input(format!("{}: empty", csv.display())));
    };
    let col = Columns::of(header, csv)?;
    let mut text = format!("{} cases.\n\n", cases.len());
    text.push_str("| column | median | 5th percentile | 95th percentile | min | max |\n");
    text.push_str("|---|---|---|---|---|---|\n");
    let stats = ["organ.", "in_band.", "alarms.", "derived."];
    for (i, name) in header.iter().enumerate() {
        if !stats.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let mut v: Vec<f64> = cases.iter().filter_map(|r| r[i].parse().ok()).collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(f64::total_cmp);
        text.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            short(quantile(&v, 0.5)),
            short(quantile(&v, 0.05)),
            short(quantile(&v, 0.95)),
            short(v[0]),
            short(v[v.len() - 1])
        ));
    }
    let share = |pred: &dyn Fn(&Vec<String>) -> bool| {
        let n = cases.iter().filter(|r| pred(r)).count();
        format!("{n} ({:.1} %)", 100.0 * n as f64 / cases.len() as f64)
    };
    text.push_str("\nCases by worst alarm: ");
    let worst: Vec<String> = ["none", "low", "medium", "high"]
        .iter()
        .map(|p| format!("{p} {}", share(&|r| r[col.worst_alarm] == *p)))
        .collect();
    text.push_str(&worst.join(", "));
    text.push_str(".\nCases by the plugin's verdict: ");
    let verdicts: Vec<String> = ["viable", "not_viable", "-"]
        .iter()
        .map(|v| format!("{v} {}", share(&|r| r[col.verdict] == *v)))
        .collect();
    text.push_str(&verdicts.join(", "));
    text.push_str(".\n\nCases with each alarm:\n\n");
    for (i, name) in header.iter().enumerate() {
        if let Some(id) = name.strip_prefix("alarm.") {
            let any = |r: &Vec<String>| r[i].parse::<u64>().is_ok_and(|n| n > 0);
            if cases.iter().any(any) {
                text.push_str(&format!("- {id}: {}\n", share(&any)));
            }
        }
    }
    let mut worst: Vec<&Vec<String>> = cases.iter().collect();
    worst.sort_by_key(|r| std::cmp::Reverse(badness(r, &col)));
    text.push_str("\nWorst cases (worst alarm, verdict, least time in band), each with the command that replays it:\n\n");
    for r in worst.iter().take(5) {
        text.push_str(&format!(
            "- case {}: worst alarm {}, verdict {}: `{}`\n",
            r[0], r[col.worst_alarm], r[col.verdict], r[col.replay]
        ));
    }
    write_atomically(out, &text)?;
    Ok(text)
}

/// A number for the summary, to 4 significant digits.
fn short(v: f64) -> String {
    if v.fract() == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let digits = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

/// `perfuse sweep merge DIR... --out OUT`: joins the shards of one sweep into the table the
/// whole sweep run at once writes. Every shard of the sweep must be there, once.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<String, Failure> {
    let mut metas = Vec::new();
    for d in dirs {
        let path = d.join(META_JSON);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?;
        let meta: SweepMeta = serde_json::from_str(&text)
            .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
        metas.push(meta);
    }
    let Some(first) = metas.first().cloned() else {
        return Err(Failure::usage(
            "sweep merge: expected at least one directory",
        ));
    };
    let n = first.shard.map_or(1, |(_, n)| n);
    let mut seen = vec![None; n as usize];
    for (meta, dir) in metas.iter().zip(dirs) {
        let same = SweepMeta {
            shard: first.shard,
            ..meta.clone()
        };
        if same != first {
            return Err(Failure::input(format!(
                "{}: not a shard of the same sweep as {} (protocol, seed, cases, duration, scenario and faults must agree)",
                dir.display(),
                dirs[0].display()
            )));
        }
        let (k, shards) = meta.shard.unwrap_or((1, 1));
        if shards != n {
            return Err(Failure::input(format!(
                "{}: shard {k}/{shards}, but {} is one of {n}",
                dir.display(),
                dirs[0].display()
            )));
        }
        if let Some(other) = seen[(k - 1) as usize].replace(dir) {
            return Err(Failure::input(format!(
                "shard {k}/{n} given twice: {} and {}",
                other.display(),
                dir.display()
            )));
        }
    }
    if let Some(k) = seen.iter().position(Option::is_none) {
        return Err(Failure::input(format!("shard {}/{n} is missing", k + 1)));
    }
    let mut header: Option<Vec<String>> = None;
    let mut cases = Vec::new();
    for d in seen.into_iter().flatten() {
        let path = d.join(CASES_CSV);
        let mut rows = read_csv(&path)?.into_iter();
        let h = rows.next().unwrap_or_default();
        match &header {
            Some(first) if *first != h => {
                return Err(Failure::input(format!(
                    "{}: its columns differ from the first shard's",
                    path.display()
                )));
            }
            Some(_) => {}
            None => header = Some(h),
        }
        cases.extend(rows);
    }
    cases.sort_by_key(|r| r[0].parse::<u64>().unwrap_or(u64::MAX));
    let indices: Vec<u64> = cases.iter().filter_map(|r| r[0].parse().ok()).collect();
    if indices != (0..first.cases).collect::<Vec<_>>() {
        return Err(Failure::input(format!(
            "the shards hold {} cases, not cases 0 to {} once each (an interrupted or failed shard?)",
            cases.len(),
            first.cases.saturating_sub(1)
        )));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::input(format!("cannot create {}: {e}", out.display())))?;
    let mut text = csv_line(&header.unwrap_or_default());
    for r in &cases {
        text.push_str(&csv_line(r));
    }
    write_atomically(&out.join(CASES_CSV), &text)?;
    let whole = SweepMeta {
        shard: None,
        ..first
    };
    let json = serde_json::to_string_pretty(&whole).map_err(|e| e.to_string())?;
    write_atomically(&out.join(META_JSON), &(json + "\n"))?;
    summarize(&out.join(CASES_CSV), &out.join(SUMMARY_MD))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_round_trip_through_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let rows = vec![
            vec!["a".to_string(), "b,c".into(), "say \"hi\"".into()],
            vec![String::new(), "x".into(), "it's".into()],
        ];
        let text: String = rows.iter().map(|r| csv_line(r)).collect();
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_csv(&path).unwrap(), rows);
        std::fs::write(&path, "a,b\n1,2\n3").unwrap();
        assert!(read_csv(&path).unwrap_err().contains("cut off"));
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.05), 5.0);
        assert_eq!(quantile(&[3.0], 0.05), 3.0);
    }
}
