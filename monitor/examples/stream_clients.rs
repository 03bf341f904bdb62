//! Load for the monitor: N clients (threads of one process) read a monitor's event stream until
//! it ends, then print how many events each received.
//!
//! `cargo run --release -p perfuse-monitor --example stream_clients -- URL N`
//! with URL as `perfuse run --monitor` printed it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: stream_clients URL N");
        std::process::exit(2);
    };
    let Some((addr, token)) = url
        .strip_prefix("http://")
        .and_then(|u| u.split_once("/?token="))
    else {
        eprintln!("{url}: expected http://ADDR/?token=TOKEN");
        std::process::exit(2);
    };
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let (addr, token) = (addr.to_string(), token.to_string());
            std::thread::spawn(move || -> std::io::Result<usize> {
                let mut s = TcpStream::connect(&addr)?;
                write!(
                    s,
                    "GET /api/stream?token={token} HTTP/1.1\r\nHost: x\r\n\r\n"
                )?;
                let mut events = 0;
                for line in BufReader::new(s).lines() {
                    let line = line?;
                    if line.starts_with("data: ") && line != "data: {}" {
                        events += 1;
                    }
                }
                Ok(events)
            })
        })
        .collect();
    let counts: Vec<String> = clients
        .into_iter()
        .map(|c| match c.join() {
            Ok(Ok(n)) => n.to_string(),
            Ok(Err(e)) => format!("error: {e}"),
            Err(_) => "panicked".into(),
        })
        .collect();
    println!("events per client: {}", counts.join(" "));
}
