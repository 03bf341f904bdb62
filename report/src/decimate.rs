//! Decimation for plotting: a long run has far more samples than a chart has pixel columns, and
//! picking every n-th sample would drop the spikes a reviewer looks for. Each column keeps the
//! lowest and the highest sample that falls in it instead, so every spike survives.

/// Below this many samples per column the samples are drawn as they are.
const DECIMATE_ABOVE: usize = 4;

/// Per column from `t0` to `t1`, the lowest and highest finite value of the samples in it
/// (`None`: no finite sample there). A sample at `t1` belongs to the last column.
pub fn envelope(t: &[f64], v: &[f64], t0: f64, t1: f64, columns: usize) -> Vec<Option<(f64, f64)>> {
    let mut out: Vec<Option<(f64, f64)>> = vec![None; columns];
    let span = t1 - t0;
    if columns == 0 || span <= 0.0 {
        return out;
    }
    for (&ti, &vi) in t.iter().zip(v) {
        if !vi.is_finite() || ti < t0 || ti > t1 {
            continue;
        }
        let c = (((ti - t0) / span * columns as f64) as usize).min(columns - 1);
        out[c] = Some(match out[c] {
            None => (vi, vi),
            Some((lo, hi)) => (lo.min(vi), hi.max(vi)),
        });
    }
    out
}

/// The polylines to draw for one series over `columns` pixel columns: the samples themselves when
/// there are few, else each column's low and high at the column's centre. A missing value (or an
/// empty column) breaks the line.
pub fn polylines(t: &[f64], v: &[f64], t0: f64, t1: f64, columns: usize) -> Vec<Vec<(f64, f64)>> {
    let mut lines: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let mut push = |p: Option<(f64, f64)>, current: &mut Vec<(f64, f64)>| match p {
        Some(p) => current.push(p),
        None if !current.is_empty() => lines.push(std::mem::take(current)),
        None => {}
    };
    if t.len() <= DECIMATE_ABOVE * columns {
        for (&ti, &vi) in t.iter().zip(v) {
            push(vi.is_finite().then_some((ti, vi)), &mut current);
        }
    } else {
        let dx = (t1 - t0) / columns as f64;
        for (i, c) in envelope(t, v, t0, t1, columns).into_iter().enumerate() {
            let x = t0 + (i as f64 + 0.5) * dx;
            match c {
                Some((lo, hi)) => {
                    push(Some((x, lo)), &mut current);
                    if hi != lo {
                        push(Some((x, hi)), &mut current);
                    }
                }
                None => push(None, &mut current),
            }
        }
    }
    push(None, &mut current);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_holds_each_columns_min_and_max() {
        // 24 h at 1 Hz with noise and three one-sample spikes, onto 900 columns.
        let n = 86_400;
        let t: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut v: Vec<f64> = (0..n)
            .map(|i| 65.0 + ((i * 7919) % 101) as f64 / 100.0)
            .collect();
        v[12_345] = 140.0;
        v[50_000] = -5.0;
        v[86_399] = 99.0;
        v[300] = f64::NAN;
        let cols = 900;
        let env = envelope(&t, &v, 0.0, (n - 1) as f64, cols);
        // Brute force: every column's samples, its min and max.
        let span = (n - 1) as f64;
        for (c, e) in env.iter().enumerate() {
            let inside: Vec<f64> = t
                .iter()
                .zip(&v)
                .filter(|(ti, vi)| {
                    vi.is_finite() && (((**ti / span * cols as f64) as usize).min(cols - 1)) == c
                })
                .map(|(_, vi)| *vi)
                .collect();
            let lo = inside.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = inside.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(*e, Some((lo, hi)), "column {c}");
        }
        let all: Vec<f64> = env.iter().flatten().flat_map(|(a, b)| [*a, *b]).collect();
        for spike in [140.0, -5.0, 99.0] {
            assert!(all.contains(&spike), "spike {spike} kept");
        }
        // The polyline goes through every column's low and high.
        let lines = polylines(&t, &v, 0.0, (n - 1) as f64, cols);
        let ys: Vec<f64> = lines.iter().flatten().map(|p| p.1).collect();
        for (lo, hi) in env.iter().flatten() {
            assert!(ys.contains(lo) && ys.contains(hi));
        }
        assert!(ys.len() <= 2 * cols, "decimated to {} points", ys.len());
    }

    #[test]
    fn few_samples_are_drawn_as_they_are_and_gaps_break_the_line() {
        let t = [0.0, 1.0, 2.0, 3.0, 4.0];
        let v = [1.0, 2.0, f64::NAN, 4.0, 5.0];
        let lines = polylines(&t, &v, 0.0, 4.0, 900);
        assert_eq!(
            lines,
            vec![vec![(0.0, 1.0), (1.0, 2.0)], vec![(3.0, 4.0), (4.0, 5.0)]]
        );
    }
}
