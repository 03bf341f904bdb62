//! Linear two-node heat networks, stepped exactly.
//!
//! With constant coefficients, `dx/dt = A·x + b` has the exact step `x' = Φ·x + Ψ·b` for `b`
//! held over the step, where `Φ = e^(A·dt)` and `Ψ = ∫₀^dt e^(A·τ) dτ`. Both come from one matrix
//! exponential of the block matrix `[[A, I], [0, 0]]·dt`, computed when `dt` changes; a step is
//! then eight multiplications, exact for any `dt`.

/// Two thermal nodes `a` and `b` coupled to each other and to fixed-temperature surroundings.
#[derive(Debug, Clone)]
pub(crate) struct TwoNode {
    a: [[f64; 2]; 2],
    phi: [[f64; 2]; 2],
    psi: [[f64; 2]; 2],
    dt_s: f64,
}

impl TwoNode {
    /// Heat capacities in J/K (> 0); `ua_ab_w_k` couples the nodes; `ua_a_w_k` and `ua_b_w_k`
    /// are each node's total conductance to its fixed surroundings.
    pub(crate) fn new(
        capacity_a_j_k: f64,
        capacity_b_j_k: f64,
        ua_ab_w_k: f64,
        ua_a_w_k: f64,
        ua_b_w_k: f64,
    ) -> Self {
        let a = [
            [
                -(ua_ab_w_k + ua_a_w_k) / capacity_a_j_k,
                ua_ab_w_k / capacity_a_j_k,
            ],
            [
                ua_ab_w_k / capacity_b_j_k,
                -(ua_ab_w_k + ua_b_w_k) / capacity_b_j_k,
            ],
        ];
        TwoNode {
            a,
            phi: [[1.0, 0.0], [0.0, 1.0]],
            psi: [[0.0; 2]; 2],
            dt_s: 0.0,
        }
    }

    /// Advances the temperatures `x` by `dt_s` with the node inputs `b` (K/s: a node's heat
    /// input in W, including what flows in from its surroundings, over its heat capacity).
    pub(crate) fn step(&mut self, x: &mut [f64; 2], b: [f64; 2], dt_s: f64) {
        if dt_s != self.dt_s {
            self.discretise(dt_s);
        }
        let [p, q] = [self.phi, self.psi];
        *x = [
            p[0][0] * x[0] + p[0][1] * x[1] + q[0][0] * b[0] + q[0][1] * b[1],
            p[1][0] * x[0] + p[1][1] * x[1] + q[1][0] * b[0] + q[1][1] * b[1],
        ];
    }

    fn discretise(&mut self, dt_s: f64) {
        let [[a00, a01], [a10, a11]] = self.a.map(|row| row.map(|v| v * dt_s));
        let e = expm([
            [a00, a01, dt_s, 0.0],
            [a10, a11, 0.0, dt_s],
            [0.0; 4],
            [0.0; 4],
        ]);
        self.phi = [[e[0][0], e[0][1]], [e[1][0], e[1][1]]];
        self.psi = [[e[0][2], e[0][3]], [e[1][2], e[1][3]]];
        self.dt_s = dt_s;
    }
}

/// Matrix exponential by scaling and squaring with a Taylor series: the scaled matrix has norm
/// at most 1/2, where 18 terms leave an error below 1e-20.
fn expm<const N: usize>(m: [[f64; N]; N]) -> [[f64; N]; N] {
    let norm = m
        .iter()
        .map(|row| row.iter().map(|v| v.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let mut squarings = 0;
    let mut scale = 1.0;
    while norm * scale > 0.5 && squarings < 64 {
        scale *= 0.5;
        squarings += 1;
    }
    let x = m.map(|row| row.map(|v| v * scale));
    let mut sum = identity::<N>();
    let mut term = identity::<N>();
    for k in 1..=18 {
        term = mul(&term, &x).map(|row| row.map(|v| v / k as f64));
        for i in 0..N {
            for j in 0..N {
                sum[i][j] += term[i][j];
            }
        }
    }
    for _ in 0..squarings {
        sum = mul(&sum, &sum);
    }
    sum
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    let mut m = [[0.0; N]; N];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    m
}

fn mul<const N: usize>(a: &[[f64; N]; N], b: &[[f64; N]; N]) -> [[f64; N]; N] {
    let mut c = [[0.0; N]; N];
    for i in 0..N {
        for j in 0..N {
            c[i][j] = (0..N).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_node_matches_the_closed_form() {
        // Node a alone (no coupling): C·dT/dt = -UA·(T - T_env), T_env = 20 °C, tau = C/UA = 100 s.
        let mut net = TwoNode::new(1000.0, 1.0, 0.0, 10.0, 1.0);
        let mut x = [80.0, 0.0];
        for _ in 0..10 {
            net.step(&mut x, [10.0 * 20.0 / 1000.0, 0.0], 5.0);
        }
        let exact = 20.0 + 60.0 * (-50.0f64 / 100.0).exp();
        assert!((x[0] - exact).abs() < 1e-12, "{} vs {exact}", x[0]);
    }

    #[test]
    fn coupled_nodes_conserve_heat_and_equalise() {
        let mut net = TwoNode::new(2000.0, 3000.0, 5.0, 0.0, 0.0);
        let mut x = [40.0, 30.0];
        let heat = |x: &[f64; 2]| 2000.0 * x[0] + 3000.0 * x[1];
        let before = heat(&x);
        for _ in 0..100 {
            net.step(&mut x, [0.0, 0.0], 60.0);
        }
        assert!((heat(&x) - before).abs() < 1e-6);
        assert!(
            (x[0] - 34.0).abs() < 1e-6 && (x[1] - 34.0).abs() < 1e-6,
            "{x:?}"
        );
    }

    #[test]
    fn step_size_does_not_change_the_result() {
        let mut fine = TwoNode::new(2000.0, 3000.0, 5.0, 1.0, 2.0);
        let mut coarse = fine.clone();
        let (mut xf, mut xc) = ([30.0, 30.0], [30.0, 30.0]);
        let b = [0.05, 0.01];
        for _ in 0..1000 {
            fine.step(&mut xf, b, 0.01);
        }
        coarse.step(&mut xc, b, 10.0);
        assert!((xf[0] - xc[0]).abs() < 1e-9 && (xf[1] - xc[1]).abs() < 1e-9);
    }
}
