//! The team monitor (`perfuse run --monitor`) through the binary: over HTTP (the token, GET only,
//! the state JSON, the event stream, many clients at once) and in a real headless browser.

use crate::common::{perfuse, protocol, stderr};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A real-time kidney run with the monitor on a free loopback port; air in the line at 2 s.
struct Monitored {
    child: Child,
    addr: SocketAddr,
    token: String,
}

impl Monitored {
    fn start(duration: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_perfuse"))
            .args(["run", protocol("kidney-hmp.ron").to_str().unwrap()])
            .args(["--realtime", "--no-record", "--quiet", "--summary", "-"])
            .args(["--duration", duration, "--fault", "air@2s"])
            .args(["--monitor", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("perfuse starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        // The URL is printed before the run starts (a log line may come first).
        let line = lines
            .by_ref()
            .map(|l| l.expect("readable stderr"))
            .find(|l| l.starts_with("monitor: "))
            .expect("the monitor's URL on stderr");
        // The rest of stderr is drained so the run never waits on it.
        std::thread::spawn(move || lines.for_each(drop));
        let url = line
            .strip_prefix("monitor: http://")
            .unwrap_or_else(|| panic!("a monitor URL: {line}"));
        let (addr, token) = url.split_once("/?token=").expect("a URL with a token");
        Monitored {
            child,
            addr: addr.parse().expect("an address"),
            token: token.to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{path}?token={}", self.token)
    }

    /// The summary the run printed on stdout, once it ended.
    fn summary(mut self) -> Value {
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(self.child.wait().unwrap().success());
        serde_json::from_str(&out).expect("the summary JSON")
    }
}

/// One request; the status code and the body.
fn request(addr: SocketAddr, method: &str, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("an answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn state(m: &Monitored) -> Value {
    let (status, body) = request(m.addr, "GET", &m.url("/api/state"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("the state is JSON")
}

/// Reads an event stream for `time` and returns the states its `data:` lines carried.
fn read_events(addr: SocketAddr, target: &str, time: Duration) -> Vec<Value> {
    let mut s = TcpStream::connect(addr).expect("connects");
    write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let until = Instant::now() + time;
    let mut reader = BufReader::new(s);
    let mut events = Vec::new();
    let mut line = String::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        reader.get_ref().set_read_timeout(Some(left)).unwrap();
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Some(data) = line.strip_prefix("data: ")
            && data.trim() != "{}"
        {
            events.push(serde_json::from_str(data.trim()).expect("each event is JSON"));
        }
    }
    events
}

#[test]
fn the_monitor_answers_only_with_the_token_and_only_to_get() {
    let m = Monitored::start("12s");
    assert_eq!(m.token.len(), 64);
    let wrong = "0".repeat(64);
    for target in ["/", "/api/state", "/api/stream"] {
        assert_eq!(
            request(m.addr, "GET", target).0,
            401,
            "{target} without token"
        );
        let bad = format!("{target}?token={wrong}");
        assert_eq!(request(m.addr, "GET", &bad).0, 401, "{target} wrong token");
        let short = format!("{target}?token={}", &m.token[..10]);
        assert_eq!(request(m.addr, "GET", &short).0, 401, "{target} part of it");
    }
    // Read-only, whoever asks: even with the token nothing but GET.
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        assert_eq!(request(m.addr, method, &m.url("/api/state")).0, 405);
    }
    assert_eq!(request(m.addr, "GET", &m.url("/api/nothing")).0, 404);
    let (status, page) = request(m.addr, "GET", &m.url("/"));
    assert_eq!(status, 200);
    assert!(page.contains("<title>perfuse monitor</title>"));
    // Nothing loaded from elsewhere: no URL with a scheme other than the SVG namespace.
    assert!(!page.contains("https://") && page.matches("http://").count() == 1);
    // A client that connects and sends nothing holds nothing up.
    let idle = TcpStream::connect(m.addr).unwrap();
    assert_eq!(state(&m)["protocol"], "Kidney HMP (LifePort-like)");
    drop(idle);
    m.summary();
}

#[test]
fn the_state_and_the_stream_show_values_bands_and_alarms() {
    let m = Monitored::start("12s");
    std::thread::sleep(Duration::from_secs(4));
    let s = state(&m);
    assert_eq!(s["phase"], "perfusion");
    assert!(s["time_s"].as_f64().unwrap() >= 2.0, "{s}");
    let temp = s["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "perfusate_temp")
        .expect("the perfusate temperature");
    assert_eq!(temp["unit"], "°C");
    assert_eq!(temp["validity"], "ok");
    assert!(temp["value"].as_f64().unwrap() > 0.0);
    assert_eq!(temp["band"], serde_json::json!([1.0, 8.0]));
    let air = &s["alarms"][0];
    assert_eq!(air["id"], "air_in_line");
    assert_eq!(air["priority"], "HIGH");
    assert!(
        air["text"]
            .as_str()
            .unwrap()
            .starts_with("Air in the arterial line")
    );
    assert_eq!(air["since"], "00:00:02");
    assert_eq!(s["sounding"], "HIGH");
    // The trend: a point per second of run time so far, for every signal.
    let t = s["trend"]["t"].as_array().unwrap();
    assert!(t.len() >= 3, "{} trend points", t.len());
    assert_eq!(
        s["trend"]["series"]["perfusate_temp"]
            .as_array()
            .unwrap()
            .len(),
        t.len()
    );
    // The stream: about one state a second, each newer than the last.
    let events = read_events(m.addr, &m.url("/api/stream"), Duration::from_millis(3500));
    assert!(events.len() >= 3, "{} events in 3.5 s", events.len());
    let times: Vec<f64> = events
        .iter()
        .map(|e| e["time_s"].as_f64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
    assert!(events.iter().all(|e| e.get("trend").is_none()));
    m.summary();
}

#[test]
fn twenty_streams_leave_a_real_time_run_on_time() {
    let m = Monitored::start("20s");
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let (addr, target) = (m.addr, m.url("/api/stream"));
            std::thread::spawn(move || read_events(addr, &target, Duration::from_secs(30)))
        })
        .collect();
    let s = m.summary();
    let counts: Vec<usize> = readers
        .into_iter()
        .map(|r| r.join().unwrap().len())
        .collect();
    let ticks = s["ticks"].as_u64().unwrap();
    let overruns = s["overruns"].as_u64().unwrap();
    eprintln!("20 streams: {overruns} overruns, events per client {counts:?}");
    assert_eq!(ticks + overruns, 2000);
    // The tick's budget is shared with whatever else runs on the machine: a test tolerates the
    // load, the measurement (README) is of an idle one.
    assert!(overruns < 100, "{overruns} overruns");
    assert!(
        counts.iter().all(|&n| n >= 15),
        "every client saw most seconds: {counts:?}"
    );
    assert_eq!(s["outputs"]["failed"], 0);
}

#[test]
fn a_monitor_off_loopback_must_be_asked_for() {
    let file = protocol("kidney-hmp.ron");
    let out = perfuse(&["run", file.to_str().unwrap(), "--monitor", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--monitor-bind-any"),
        "{}",
        stderr(&out)
    );
}

/// Chromium as the distribution installs it; CI installs it (`.ci/run`).
fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect(
            "Chromium is not installed (/usr/bin/chromium): CI installs it in .ci/run; \
             here run `apt-get update && apt-get install -y chromium`",
        )
}

#[test]
fn a_headless_browser_shows_the_alarms_values_and_trends() {
    let browser = chromium();
    // Long enough for a browser that takes seconds to start on a loaded machine to find the
    // run still going.
    let m = Monitored::start("30s");
    std::thread::sleep(Duration::from_secs(3));
    let profile = tempfile::tempdir().unwrap();
    // With an open event stream the browser dumps the page when the stream ends, with the run.
    let out = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .arg("--enable-logging=stderr")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=30000", "--dump-dom"])
        .arg(format!("http://{}{}", m.addr, m.url("/")))
        .output()
        .expect("chromium starts");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    for bad in ["CONSOLE", "net::ERR", "Failed to load", "Uncaught"] {
        assert!(!log.contains(bad), "{bad} opening the monitor: {log}");
    }
    let dom = String::from_utf8_lossy(&out.stdout);
    m.summary();
    // The page's script ran with the token: the alarm list, the values and the trends.
    assert!(
        dom.contains(r#"<li class="alarm high" data-id="air_in_line">HIGH air_in_line"#),
        "{dom}"
    );
    assert!(dom.contains(r#"<tr data-id="perfusate_temp""#), "{dom}");
    assert!(dom.contains(r#"<div class="trend" data-id="perfusate_temp">"#));
    assert!(dom.matches("<polyline").count() >= 5, "{dom}");
    assert!(dom.contains(r#"id="phase">perfusion<"#));
    assert!(
        dom.contains(">run ended<"),
        "the stream's end reached the page: {dom}"
    );
}
