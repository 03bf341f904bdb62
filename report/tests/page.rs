//! The report page: what it plots is what the record holds, it needs nothing from outside, runs
//! compare side by side, and a real browser opens it (Chromium, headless) and takes a screenshot.

mod common;
use common::{Ev, KIDNEY_HMP, write};
use perfuse_report::{Format, render};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A kidney HMP hour with a one-second pressure spike at 1234 s, an alarm acknowledged and
/// ended, a lab entry, an assessment and an operator command.
fn spiky_record(path: &Path) {
    let value = |id: &str, t: f64| match id {
        "systolic_pressure" if t == 1234.0 => Some(55.0),
        "systolic_pressure" => Some(30.0 + (t * 0.7).sin() * 0.5),
        "perfusate_temp" => Some(8.6 - t / 3600.0 * 4.0),
        "cmd.pump" => Some(110.0 + (t * 0.3).cos()),
        _ => None,
    };
    let events = [
        Ev::new(0.0, "phase", "perfusion"),
        Ev {
            detail: Some(r#"{"text":"Critical pressure","technical":false,"action":"stop pump"}"#),
            ..Ev::alarm(1234.0, "over_pressure_critical", "raised", "high")
        },
        Ev::alarm(1250.0, "over_pressure_critical", "acknowledged", "high"),
        Ev::alarm(1300.0, "over_pressure_critical", "ended", "high"),
        Ev {
            accepted: Some(true),
            ..Ev::new(1250.0, "operator", "acknowledge over_pressure_critical")
        },
        Ev {
            detail: Some(r#"{"ri_2min":0.63,"ri_30min":0.25,"verdict":1}"#),
            ..Ev::new(1800.0, "assessment", "perfusion")
        },
    ];
    write(
        path,
        KIDNEY_HMP,
        "perfusion",
        (0..=3600).map(f64::from),
        value,
        &events,
        Some(3600.0),
    );
}

fn html_of(paths: &[PathBuf]) -> String {
    render(paths, Format::Html).unwrap()
}

/// The (x, y) points of the polylines drawn in `stroke` between `from` and the next `</svg>`.
fn chart_points(html: &str, from: &str, stroke: &str) -> Vec<(f64, f64)> {
    let start = html
        .find(from)
        .unwrap_or_else(|| panic!("{from} in the page"));
    let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
    svg.split("<polyline")
        .skip(1)
        .filter(|p| p.contains(&format!("stroke=\"{stroke}\"")))
        .filter_map(|p| p.split("points=\"").nth(1)?.split('"').next())
        .flat_map(|pts| {
            pts.split_whitespace().filter_map(|xy| {
                let (x, y) = xy.split_once(',')?;
                Some((x.parse().ok()?, y.parse().ok()?))
            })
        })
        .collect()
}

#[test]
fn the_page_holds_the_records_contents_and_needs_nothing_from_outside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    spiky_record(&path);
    let html = html_of(std::slice::from_ref(&path));
    // Self-contained: no script, no link, no external reference of any kind (the SVG namespace
    // is a name, not a fetch).
    for banned in [
        "<script",
        "<link",
        "src=",
        "href=",
        "url(",
        "@import",
        "@font-face",
    ] {
        assert!(!html.contains(banned), "the page contains {banned}");
    }
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_ns.contains("http"), "an address in the page");
    // The run, the alarm log, the assessment, the score.
    for text in [
        "Kidney HMP (LifePort-like)",
        "libsha",
        "over_pressure_critical",
        "Critical pressure",
        "0:20:50", // acknowledged at 1250 s
        "ri_30min",
        "Perfusion quality score",
        "Formula",
    ] {
        assert!(html.contains(text), "the page shows {text}");
    }
    // The systolic trend: the one-second spike at 1234 s stands out of the flat line.
    let pts = chart_points(&html, "<h3>systolic_pressure", "#1F5AB4");
    assert!(pts.len() > 100 && pts.len() < 2000, "{} points", pts.len());
    let base = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let top = pts
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let high: Vec<_> = pts.iter().filter(|p| p.1 < base - 40.0).collect();
    assert_eq!(high.len(), 1, "one column reaches the spike: {high:?}");
    // x: 66 px (axis) + 1234 / 3600 of the ~822 px plotting width.
    assert!(
        (top.0 - (66.0 + 1234.0 / 3600.0 * 822.0)).abs() < 3.0,
        "spike at x {}",
        top.0
    );
}

#[test]
fn runs_side_by_side_show_each_score_and_overlay_the_same_trends() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("first.sqlite");
    let b = dir.path().join("second.sqlite");
    spiky_record(&a);
    write(
        &b,
        KIDNEY_HMP,
        "perfusion",
        (0..=1800).map(f64::from),
        |id, _| match id {
            "systolic_pressure" => Some(30.0),
            "perfusate_temp" => Some(4.0),
            _ => None,
        },
        &[],
        Some(1800.0),
    );
    let html = html_of(&[a.clone(), b.clone()]);
    assert!(html.contains("Runs side by side"));
    assert!(html.contains("first.sqlite") && html.contains("second.sqlite"));
    let scores: Vec<i64> = [&a, &b]
        .iter()
        .map(|p| common::score_json(p)["score"].as_i64().unwrap())
        .collect();
    assert_eq!(scores[1], 100);
    assert!(html.contains(&format!("<b>{}</b>", scores[0])));
    assert!(html.contains("<b>100</b>"));
    assert!(
        html.contains("1 / 0 / 0") && html.contains("0 / 0 / 0"),
        "alarm counts"
    );
    // The systolic chart has both runs' traces, in their two colors.
    let first = chart_points(&html, "<h3>systolic_pressure", "#1F5AB4");
    let second = chart_points(&html, "<h3>systolic_pressure", "#D66014");
    assert!(!first.is_empty() && !second.is_empty());
    // The second run is half as long: its trace ends half way along the time axis.
    let last = |p: &[(f64, f64)]| p.iter().map(|p| p.0).fold(0.0, f64::max);
    assert!(last(&second) < 0.6 * last(&first));
    // JSON: one score per record, in order.
    let json: serde_json::Value =
        serde_json::from_str(&render(&[a, b], Format::Json).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["score"], 100);
}

/// Chromium as the distribution installs it; CI installs it (`.ci/run`).
fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "Chromium is not installed (/usr/bin/chromium): CI installs it in .ci/run; \
                 here run `apt-get update && apt-get install -y chromium`"
            )
        })
}

#[test]
fn a_headless_browser_opens_the_report_and_takes_a_screenshot() {
    let browser = chromium();
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("k.sqlite");
    spiky_record(&rec);
    let page = dir.path().join("k.html");
    perfuse_report::run(std::slice::from_ref(&rec), Some(&page), Format::Html).unwrap();
    let url = format!("file://{}", page.display());
    let headless = |extra: &[&str]| {
        let out = Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg("--enable-logging=stderr")
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium starts");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "chromium failed: {stderr}");
        // Page errors: a console message, a resource that failed to load.
        for bad in ["CONSOLE", "net::ERR", "Failed to load", "Uncaught"] {
            assert!(!stderr.contains(bad), "{bad} opening the report: {stderr}");
        }
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // The browser parsed the whole page: the DOM it built ends with the last section.
    let dom = headless(&["--dump-dom"]);
    assert!(dom.contains("Perfusion quality score") && dom.contains("Doses delivered"));
    // The alarm timeline, systolic pressure, perfusate temperature, pump command.
    let charts = dom.matches("<svg").count();
    assert_eq!(charts, 4, "{charts} charts in the DOM");
    // The screenshot, kept beside the test binaries for a person to look at.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    headless(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1000,2600",
    ]);
    let png = std::fs::read(&shot).expect("a screenshot was written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 30_000,
        "a screenshot of {} bytes is blank",
        png.len()
    );
}
