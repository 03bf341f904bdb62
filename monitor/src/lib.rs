//! perfuse's team monitor: a read-only live view of a run for the transplant coordinator or the
//! surgeon, over HTTP.
//!
//! It is an output like the status lines: its own thread takes the run's frames from a bounded
//! queue (the control thread never waits on it) and publishes the state once a second of wall
//! time; request threads only read what was published. Every request needs the run's token;
//! nothing but GET is answered, so the monitor can never act on the run.
//!
//! - `GET /?token=T`: the page (embedded; it loads nothing from elsewhere)
//! - `GET /api/state?token=T`: the state as JSON, with the last hour's trend
//! - `GET /api/stream?token=T`: server-sent events, the state (without trend) once a second

mod http;
pub mod token;
pub mod view;

pub use http::{HEAD_TIMEOUT, MAX_CLIENTS, WRITE_TIMEOUT};

use crossbeam_channel::RecvTimeoutError;
use http::Shared;
use perfuse_core::output::FrameReceiver;
use perfuse_core::run::status::StatusNames;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use view::View;

/// How often the state is published (and streamed): about once a second.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// The least wall time between two publications: below a second, so that the real-time frame
/// of every second of run time goes out even when frames come a little early.
pub const PUBLISH_MIN: Duration = Duration::from_millis(900);

/// A running monitor.
pub struct Monitor {
    /// Where it listens (the port chosen when 0 was asked for).
    pub addr: SocketAddr,
    pub token: String,
    shared: Arc<Shared>,
    /// The thread that takes the frames; it ends when the run hangs up its queue.
    pub frames: JoinHandle<()>,
}

impl Monitor {
    /// The URL to open, with the token.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.token)
    }

    /// Connections being served now.
    pub fn clients(&self) -> usize {
        self.shared.clients()
    }

    /// After the run: waits for the last state to be published and, for at most `grace`, for
    /// the open event streams to send it and their `end` event.
    pub fn finish(self, grace: Duration) {
        let _ = self.frames.join();
        let until = Instant::now() + grace;
        while self.shared.streams() > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Why a monitor address is refused.
pub fn check_address(addr: SocketAddr, bind_any: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || bind_any {
        Ok(())
    } else {
        Err(format!(
            "--monitor {addr}: expected a loopback address (127.0.0.1 or [::1]); the monitor shows \
             the run to anyone who has its URL, so to serve another interface add --monitor-bind-any"
        ))
    }
}

/// Binds `addr` and starts the monitor on the frames of `frames` (an output of the run, attached
/// with `Delivery::Drop`). Binding errors come back here, before the run starts.
pub fn start(
    names: StatusNames,
    frames: FrameReceiver,
    addr: SocketAddr,
) -> Result<Monitor, String> {
    let token = token::generate()?;
    let listener =
        TcpListener::bind(addr).map_err(|e| format!("--monitor {addr}: cannot listen: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("--monitor {addr}: {e}"))?;
    let shared = Arc::new(Shared::new(token.clone()));
    // The state before the first frame (the protocol's name) is there from the first request.
    let view = View::new(names);
    publish(&view, &shared);
    let for_server = shared.clone();
    std::thread::Builder::new()
        .name("perfuse-monitor-http".into())
        .spawn(move || http::serve(listener, for_server))
        .map_err(|e| format!("cannot start the monitor's server: {e}"))?;
    let for_frames = shared.clone();
    let frames = std::thread::Builder::new()
        .name("perfuse-monitor".into())
        .spawn(move || take_frames(view, &frames, &for_frames))
        .map_err(|e| format!("cannot start the monitor: {e}"))?;
    Ok(Monitor {
        addr,
        token,
        shared,
        frames,
    })
}

/// Takes every frame into the view and publishes the state when a frame brought something new
/// and [`PUBLISH_MIN`] of wall time has passed since the last time: in real time once for each
/// second of run time, as its frame arrives. Formatting costs this thread only, at most about
/// once a second whatever the frame rate. A last state is published when the run ends.
fn take_frames(mut view: View, frames: &FrameReceiver, shared: &Shared) {
    let mut last = Instant::now();
    let mut fresh = false;
    loop {
        match frames.recv_timeout(PUBLISH_EVERY) {
            Ok(f) => {
                view.update(&f);
                fresh = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if fresh && last.elapsed() >= PUBLISH_MIN {
            publish(&view, shared);
            last = Instant::now();
            fresh = false;
        }
    }
    view.end();
    publish(&view, shared);
}

fn publish(view: &View, shared: &Shared) {
    let text = view.state().to_string();
    // The trend is already JSON text: it goes in as the state object's last member.
    let with_trend = format!(
        "{},\"trend\":{}}}",
        text.strip_suffix('}').unwrap_or(&text),
        view.trend_json()
    );
    let mut p = shared.published.lock().unwrap_or_else(|e| e.into_inner());
    p.seq += 1;
    p.state = Arc::from(text);
    p.state_with_trend = Arc::from(with_trend);
    p.ended = view.ended();
    drop(p);
    shared.changed.notify_all();
}
