//! Register values: how a number in a signal's unit becomes one or two 16-bit registers and back
//! (type, word order, scale and offset).

use serde::Deserialize;

/// How a value is stored in holding registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RegType {
    U16,
    I16,
    U32,
    I32,
    F32,
}

/// Which 16-bit word of a 32-bit value comes first (registers are big-endian inside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum WordOrder {
    #[default]
    HighFirst,
    LowFirst,
}

impl RegType {
    /// Registers the value occupies.
    pub fn words(self) -> u16 {
        match self {
            RegType::U16 | RegType::I16 => 1,
            RegType::U32 | RegType::I32 | RegType::F32 => 2,
        }
    }

    /// The raw values the type holds (integers exactly; f32 to its finite range).
    pub fn raw_range(self) -> (f64, f64) {
        match self {
            RegType::U16 => (0.0, u16::MAX as f64),
            RegType::I16 => (i16::MIN as f64, i16::MAX as f64),
            RegType::U32 => (0.0, u32::MAX as f64),
            RegType::I32 => (i32::MIN as f64, i32::MAX as f64),
            RegType::F32 => (f32::MIN as f64, f32::MAX as f64),
        }
    }

    /// Whether the type can carry a missing value (NaN); integers cannot: a device says so with
    /// an exception response instead.
    pub fn holds_nan(self) -> bool {
        self == RegType::F32
    }
}

/// A channel's encoding: `value = raw * scale + offset` in the signal's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Encoding {
    pub ty: RegType,
    pub order: WordOrder,
    pub scale: f64,
    pub offset: f64,
}

impl Encoding {
    /// The value in the signal's unit from the registers read (`words` long).
    pub fn decode(&self, words: &[u16]) -> f64 {
        let raw = match self.ty {
            RegType::U16 => words[0] as f64,
            RegType::I16 => words[0] as i16 as f64,
            RegType::U32 => self.join(words) as f64,
            RegType::I32 => self.join(words) as i32 as f64,
            RegType::F32 => f32::from_bits(self.join(words)) as f64,
        };
        raw * self.scale + self.offset
    }

    /// The registers for `value`; integers are rounded and held to their range. `None` for a
    /// value an integer type cannot carry (not a number).
    pub fn encode(&self, value: f64, out: &mut [u16; 2]) -> Option<u16> {
        let raw = (value - self.offset) / self.scale;
        if self.ty != RegType::F32 && !raw.is_finite() {
            return None;
        }
        let (lo, hi) = self.ty.raw_range();
        let int = || raw.round().clamp(lo, hi);
        match self.ty {
            RegType::U16 => out[0] = int() as u16,
            RegType::I16 => out[0] = int() as i16 as u16,
            RegType::U32 => self.split(int() as u32, out),
            RegType::I32 => self.split(int() as i32 as u32, out),
            RegType::F32 => self.split((raw as f32).to_bits(), out),
        }
        Some(self.ty.words())
    }

    fn join(&self, w: &[u16]) -> u32 {
        let (hi, lo) = match self.order {
            WordOrder::HighFirst => (w[0], w[1]),
            WordOrder::LowFirst => (w[1], w[0]),
        };
        (hi as u32) << 16 | lo as u32
    }

    fn split(&self, v: u32, out: &mut [u16; 2]) {
        let (hi, lo) = ((v >> 16) as u16, v as u16);
        *out = match self.order {
            WordOrder::HighFirst => [hi, lo],
            WordOrder::LowFirst => [lo, hi],
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ty: RegType, order: WordOrder, scale: f64, offset: f64) -> Encoding {
        Encoding {
            ty,
            order,
            scale,
            offset,
        }
    }

    #[test]
    fn every_type_round_trips_within_its_resolution() {
        let cases = [
            (
                enc(RegType::U16, WordOrder::HighFirst, 1.0, 0.0),
                2000.0,
                0.5,
            ),
            (
                enc(RegType::I16, WordOrder::HighFirst, 0.1, 0.0),
                -12.3,
                0.05,
            ),
            (
                enc(RegType::U32, WordOrder::LowFirst, 0.001, 0.0),
                70_000.123,
                0.0005,
            ),
            (
                enc(RegType::I32, WordOrder::HighFirst, 0.01, -5.0),
                -1234.56,
                0.005,
            ),
            (enc(RegType::F32, WordOrder::LowFirst, 1.0, 0.0), 37.25, 0.0),
        ];
        for (e, v, tol) in cases {
            let mut w = [0; 2];
            assert_eq!(e.encode(v, &mut w), Some(e.ty.words()));
            let back = e.decode(&w);
            assert!((back - v).abs() <= tol, "{e:?}: {v} came back as {back}");
        }
    }

    #[test]
    fn word_order_decides_which_register_holds_the_high_word() {
        let mut w = [0; 2];
        enc(RegType::U32, WordOrder::HighFirst, 1.0, 0.0).encode(65_538.0, &mut w);
        assert_eq!(w, [1, 2]);
        enc(RegType::U32, WordOrder::LowFirst, 1.0, 0.0).encode(65_538.0, &mut w);
        assert_eq!(w, [2, 1]);
        // A device's f32 1.0 (0x3F80_0000) with the low word first.
        let e = enc(RegType::F32, WordOrder::LowFirst, 1.0, 0.0);
        assert_eq!(e.decode(&[0x0000, 0x3F80]), 1.0);
    }

    #[test]
    fn integers_hold_to_their_range_and_refuse_nan_while_f32_carries_it() {
        let mut w = [0; 2];
        let e = enc(RegType::I16, WordOrder::HighFirst, 1.0, 0.0);
        e.encode(1e9, &mut w);
        assert_eq!(w[0] as i16, i16::MAX);
        assert_eq!(e.encode(f64::NAN, &mut w), None);
        let f = enc(RegType::F32, WordOrder::HighFirst, 1.0, 0.0);
        assert_eq!(f.encode(f64::NAN, &mut w), Some(2));
        assert!(f.decode(&w).is_nan());
    }
}
