//! The simulator's random numbers, written here rather than taken from a crate so that a recorded
//! run stays bit-identical across dependency upgrades.
//!
//! SplitMix64 derives independent seeds; xoshiro256** generates the streams; Marsaglia's polar form
//! of Box–Muller turns them into Gaussian noise without trigonometric calls.

/// SplitMix64 (Steele, Lea, Flood 2014): a bijective mixer, used only to expand seeds.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// One noise stream: xoshiro256** (Blackman, Vigna 2018) with a cached second Gaussian.
#[derive(Debug, Clone)]
pub(crate) struct NoiseStream {
    s: [u64; 4],
    spare: Option<f64>,
}

impl NoiseStream {
    /// The stream numbered `stream` of the run seeded with `seed`; streams of one seed are
    /// independent, so adding a sensor does not change the noise of the others.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        // Mixing the stream number through SplitMix64 first keeps (seed, stream) pairs with equal
        // sums apart.
        let mut mix = SplitMix64(stream);
        let mut sm = SplitMix64(seed ^ mix.next());
        // Four consecutive SplitMix64 outputs are never all zero (it is a bijection of its
        // counter), which xoshiro requires.
        let s = [sm.next(), sm.next(), sm.next(), sm.next()];
        NoiseStream { s, spare: None }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [-1, 1) with 53 bits of resolution.
    fn symmetric_unit(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / (1u64 << 52) as f64;
        (self.next_u64() >> 11) as f64 * SCALE - 1.0
    }

    /// A standard normal deviate (mean 0, standard deviation 1).
    pub(crate) fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u = self.symmetric_unit();
            let v = self.symmetric_unit();
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NoiseStream;

    #[test]
    fn xoshiro_matches_the_reference_sequence() {
        // Reference: the C implementation seeded with s = {1, 2, 3, 4}.
        let mut r = NoiseStream {
            s: [1, 2, 3, 4],
            spare: None,
        };
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(first, [11520, 0, 1509978240]);
    }

    #[test]
    fn streams_differ_by_seed_and_by_stream() {
        let a = NoiseStream::new(7, 0).next_u64();
        assert_ne!(a, NoiseStream::new(8, 0).next_u64());
        assert_ne!(a, NoiseStream::new(7, 1).next_u64());
        assert_eq!(a, NoiseStream::new(7, 0).next_u64());
    }

    #[test]
    fn gaussian_has_unit_variance_and_zero_mean() {
        let mut r = NoiseStream::new(42, 3);
        let n = 200_000;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for _ in 0..n {
            let z = r.gaussian();
            sum += z;
            sum_sq += z * z;
        }
        let mean = sum / n as f64;
        let var = sum_sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }
}
