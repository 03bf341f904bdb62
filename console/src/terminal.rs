//! The console's thread: the terminal set up and restored, the loop that takes frames, draws,
//! rings the bell and reads keys; and, should the terminal fail or the console panic, status
//! lines on stderr for the rest of the run.

use crate::Setup;
use crate::alarm_signal::bells_between;
use crate::draw::draw;
use crate::keys::{Key, Ui};
use crate::view::View;
use crossbeam_channel::{Sender, TryRecvError, TrySendError};
use perfuse_core::config::Priority;
use perfuse_core::output::FrameReceiver;
use perfuse_core::run::status;
use perfuse_core::tick::operator::LiveInput;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use std::io::{IsTerminal, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the loop waits for a key before it looks at the frames again (the screen's pace).
const POLL: Duration = Duration::from_millis(50);

/// Starts the console on its own thread: it ends when the run hangs up its frame queue.
pub fn spawn(
    setup: Setup,
    frames: FrameReceiver,
    input: Sender<LiveInput>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("perfuse-console".into())
        .spawn(move || {
            supervise(setup, &frames, &mut std::io::stderr(), |view| {
                interactive(view, &frames, &input)
            })
        })
}

/// Runs the console (`body`) until the run ends; should it fail or panic, the terminal is
/// already restored: says why on `fallback` and carries on there as status lines, so the
/// operator still sees the run.
pub fn supervise(
    setup: Setup,
    frames: &FrameReceiver,
    fallback: &mut dyn Write,
    body: impl FnOnce(&mut View) -> std::io::Result<()>,
) {
    let mut view = View::new(setup.clone());
    let why = match catch_unwind(AssertUnwindSafe(|| body(&mut view))) {
        Ok(Ok(())) => return,
        Ok(Err(e)) => format!("the terminal failed ({e})"),
        Err(_) => "the console crashed".to_string(),
    };
    let note = format!("console: {why}; the run goes on; status lines follow\n");
    if fallback.write_all(note.as_bytes()).is_ok() {
        status_lines(&setup, frames, fallback);
    }
}

/// Raw mode and the alternate screen for as long as it lives; restored when dropped, on a
/// panic's unwinding too.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> std::io::Result<Self> {
        terminal::enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = execute!(
            std::io::stdout(),
            cursor::Show,
            terminal::LeaveAlternateScreen
        );
        let _ = terminal::disable_raw_mode();
    }
}

/// The terminal bell's state: what sounds, since when, up to when it was played.
struct Bell {
    priority: Option<Priority>,
    onset_ms: u64,
    played_ms: u64,
}

impl Bell {
    /// Bell pulses due by `now_ms` for what sounds now.
    fn due(&mut self, sounding: Option<Priority>, now_ms: u64) -> usize {
        if sounding != self.priority {
            self.priority = sounding;
            self.onset_ms = now_ms;
            self.played_ms = now_ms.saturating_sub(1);
        }
        let n = sounding.map_or(0, |p| {
            bells_between(p, self.onset_ms, self.played_ms, now_ms)
        });
        self.played_ms = now_ms;
        n
    }
}

/// The console proper, until the run ends (`Ok`) or the terminal fails (`Err`).
fn interactive(
    view: &mut View,
    frames: &FrameReceiver,
    input: &Sender<LiveInput>,
) -> std::io::Result<()> {
    if !std::io::stdout().is_terminal() {
        return Err(std::io::Error::other("standard output is not a terminal"));
    }
    let _guard = TerminalGuard::enter()?;
    let mut term = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    let start = Instant::now();
    let mut ui = Ui::default();
    let mut bell = Bell {
        priority: None,
        onset_ms: 0,
        played_ms: 0,
    };
    loop {
        loop {
            match frames.try_recv() {
                Ok(f) => view.take(&f),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    view.ended = true;
                    return Ok(());
                }
            }
        }
        let now_ms = start.elapsed().as_millis() as u64;
        term.draw(|fr| draw(fr, view, &ui, now_ms))?;
        if bell.due(view.sounding(), now_ms) > 0 {
            let mut out = std::io::stdout();
            out.write_all(b"\x07")?;
            out.flush()?;
        }
        if !event::poll(POLL)? {
            continue;
        }
        // A resize needs nothing here: the next draw fits the new size.
        if let event::Event::Key(k) = event::read()?
            && k.kind != KeyEventKind::Release
            && let Some(key) = key_of(k.code, k.modifiers)
        {
            for i in ui.key(key, view) {
                send(view, input, i);
            }
        }
    }
}

/// Sends one input to the tick; a full queue or an ended run is said on screen.
fn send(view: &mut View, input: &Sender<LiveInput>, i: LiveInput) {
    let tick = view.frame.as_ref().map_or(0, |f| f.tick);
    match input.try_send(i) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => view.message(
            tick,
            "too many actions at once: not sent, try again".into(),
            true,
        ),
        Err(TrySendError::Disconnected(_)) => {
            view.message(tick, "the run has ended: not sent".into(), true)
        }
    }
}

/// The console's key for a terminal key (`None`: a key the console does not use).
fn key_of(code: KeyCode, modifiers: KeyModifiers) -> Option<Key> {
    Some(match code {
        KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => Key::Interrupt,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        _ => return None,
    })
}

/// After the console failed: status lines for every `status_every_ticks` and every
/// alarm raised, until the run ends or stderr fails too.
fn status_lines(setup: &Setup, frames: &FrameReceiver, out: &mut dyn Write) {
    let colour = status::use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let mut next = 0;
    for f in frames.iter() {
        let with_status = f.sample && f.tick >= next;
        if with_status {
            next = f.tick + setup.status_every_ticks;
        }
        let text = status::frame_text(&setup.names, &f, with_status, colour);
        if out.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}
