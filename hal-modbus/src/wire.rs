//! One request and its answer on a byte stream, in Modbus TCP or RTU framing (rmodbus builds and
//! checks the frames: transaction id, unit, function, CRC-16).

use crate::profile::Framing;
use rmodbus::client::ModbusRequest;
use rmodbus::{ErrorKind, ModbusProto, guess_response_frame_len};
use std::io::{self, Read, Write};

/// Why a request got no usable answer.
#[derive(Debug)]
pub enum WireError {
    /// No answer within the timeout.
    Timeout,
    /// The connection failed or closed.
    Io(io::Error),
    /// The device answered with a Modbus exception (illegal address, device failure, ...).
    Exception(ErrorKind),
    /// The answer was garbled (bad CRC, wrong length, wrong unit or function).
    Corrupt(ErrorKind),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Timeout => write!(f, "no answer within the timeout"),
            WireError::Io(e) => write!(f, "{e}"),
            WireError::Exception(k) => write!(f, "exception response: {k}"),
            WireError::Corrupt(k) => write!(f, "corrupted answer: {k}"),
        }
    }
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => WireError::Timeout,
            _ => WireError::Io(e),
        }
    }
}

pub fn proto(f: Framing) -> ModbusProto {
    match f {
        Framing::Tcp => ModbusProto::TcpUdp,
        Framing::Rtu => ModbusProto::Rtu,
    }
}

/// A client's buffers for one device: reused, so a cycle does not allocate once warm.
pub struct Exchange {
    pub req: ModbusRequest,
    out: Vec<u8>,
    answer: Vec<u8>,
    pub words: Vec<u16>,
}

impl Exchange {
    pub fn new(unit: u8, framing: Framing) -> Self {
        Exchange {
            req: ModbusRequest::new(unit, proto(framing)),
            out: Vec::with_capacity(256),
            answer: Vec::with_capacity(256),
            words: Vec::with_capacity(2),
        }
    }

    /// Reads `count` holding registers from `reg` into `self.words`.
    pub fn read_holdings<S: Read + Write>(
        &mut self,
        s: &mut S,
        reg: u16,
        count: u16,
    ) -> Result<(), WireError> {
        self.next_id();
        self.req
            .generate_get_holdings(reg, count, &mut self.out)
            .map_err(WireError::Corrupt)?;
        self.send(s)?;
        self.words.clear();
        let data = self.req.parse_slice(&self.answer).map_err(classify)?;
        if data.len() != 2 * count as usize {
            return Err(WireError::Corrupt(ErrorKind::FrameBroken));
        }
        for w in data.chunks_exact(2) {
            self.words.push(u16::from_be_bytes([w[0], w[1]]));
        }
        Ok(())
    }

    /// Writes `values` to the holding registers from `reg`.
    pub fn write_holdings<S: Read + Write>(
        &mut self,
        s: &mut S,
        reg: u16,
        values: &[u16],
    ) -> Result<(), WireError> {
        self.next_id();
        self.req
            .generate_set_holdings_bulk(reg, values, &mut self.out)
            .map_err(WireError::Corrupt)?;
        self.send(s)?;
        self.req.parse_ok(&self.answer).map_err(classify)
    }

    fn next_id(&mut self) {
        self.req.tr_id = self.req.tr_id.wrapping_add(1);
        self.out.clear();
    }

    fn send<S: Read + Write>(&mut self, s: &mut S) -> Result<(), WireError> {
        s.write_all(&self.out)?;
        read_frame(s, self.req.proto, &mut self.answer)
    }
}

fn classify(e: ErrorKind) -> WireError {
    if e.is_modbus_error() {
        WireError::Exception(e)
    } else {
        WireError::Corrupt(e)
    }
}

/// Reads one response frame: its head, the length the head announces, then the rest.
pub fn read_frame<S: Read>(
    s: &mut S,
    proto: ModbusProto,
    buf: &mut Vec<u8>,
) -> Result<(), WireError> {
    let head = match proto {
        ModbusProto::TcpUdp => 6,
        // Unit, function and byte count (or exception code).
        _ => 3,
    };
    buf.clear();
    buf.resize(head, 0);
    s.read_exact(buf)?;
    let len = guess_response_frame_len(buf, proto).map_err(WireError::Corrupt)? as usize;
    if len < head {
        return Err(WireError::Corrupt(ErrorKind::FrameBroken));
    }
    buf.resize(len, 0);
    s.read_exact(&mut buf[head..])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A byte stream that answers every request with a fixed frame.
    struct Canned {
        answer: Cursor<Vec<u8>>,
    }

    impl Read for Canned {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.answer.read(buf)
        }
    }

    impl Write for Canned {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An RTU answer of unit 1 to "read 2 holding registers": 0x1234, 0x5678, with its CRC.
    fn rtu_answer() -> Vec<u8> {
        let mut f = vec![0x01, 0x03, 0x04, 0x12, 0x34, 0x56, 0x78];
        let crc = crc16(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    /// CRC-16/MODBUS written out here (polynomial 0xA001 reflected, initial 0xFFFF), so the
    /// test does not check rmodbus against itself.
    fn crc16(bytes: &[u8]) -> u16 {
        let mut crc: u16 = 0xFFFF;
        for &b in bytes {
            crc ^= b as u16;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xA001
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn an_rtu_answer_with_a_good_crc_is_read() {
        let mut s = Canned {
            answer: Cursor::new(rtu_answer()),
        };
        let mut x = Exchange::new(1, Framing::Rtu);
        x.read_holdings(&mut s, 100, 2).unwrap();
        assert_eq!(x.words, [0x1234, 0x5678]);
    }

    #[test]
    fn an_rtu_answer_with_a_flipped_bit_or_a_wrong_crc_is_refused() {
        for corrupt in [
            |f: &mut Vec<u8>| f[4] ^= 0x01,
            |f: &mut Vec<u8>| {
                let n = f.len();
                f[n - 1] ^= 0xFF
            },
        ] {
            let mut f = rtu_answer();
            corrupt(&mut f);
            let mut s = Canned {
                answer: Cursor::new(f),
            };
            let mut x = Exchange::new(1, Framing::Rtu);
            let e = x.read_holdings(&mut s, 100, 2).unwrap_err();
            assert!(
                matches!(e, WireError::Corrupt(ErrorKind::FrameCRCError)),
                "{e:?}"
            );
        }
    }

    #[test]
    fn an_exception_answer_is_told_apart_from_a_corrupt_one() {
        // Unit 1, function 0x83 (read holdings, failed), code 2: illegal data address.
        let mut f = vec![0x01, 0x83, 0x02];
        let crc = crc16(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        let mut s = Canned {
            answer: Cursor::new(f),
        };
        let mut x = Exchange::new(1, Framing::Rtu);
        let e = x.read_holdings(&mut s, 100, 2).unwrap_err();
        assert!(
            matches!(e, WireError::Exception(ErrorKind::IllegalDataAddress)),
            "{e:?}"
        );
    }

    #[test]
    fn a_tcp_answer_to_an_older_request_is_refused() {
        // Transaction 7, but the exchange's next request is transaction 2.
        let f = vec![0, 7, 0, 0, 0, 7, 1, 3, 4, 0x12, 0x34, 0x56, 0x78];
        let mut s = Canned {
            answer: Cursor::new(f),
        };
        let mut x = Exchange::new(1, Framing::Tcp);
        let e = x.read_holdings(&mut s, 100, 2).unwrap_err();
        assert!(matches!(e, WireError::Corrupt(_)), "{e:?}");
    }

    #[test]
    fn a_stream_that_ends_is_an_io_error_and_a_silent_one_a_timeout() {
        let mut s = Canned {
            answer: Cursor::new(Vec::new()),
        };
        let mut x = Exchange::new(1, Framing::Tcp);
        let e = x.read_holdings(&mut s, 0, 1).unwrap_err();
        assert!(matches!(e, WireError::Io(_)), "{e:?}");
        let timeout: WireError = io::Error::from(io::ErrorKind::WouldBlock).into();
        assert!(matches!(timeout, WireError::Timeout));
    }
}
