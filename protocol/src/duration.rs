//! Durations as operators type them: `90s`, `30m`, `6h`, `1h30m`, or plain seconds.

use super::bounds::MAX_RUN_S;

/// Parses a duration into seconds; the error says what was wrong with the text.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration: expected e.g. `90s`, `30m`, `6h` or `1h30m`".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return check(secs, text);
    }
    let mut total = 0.0;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let scale = match c {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => {
                return Err(format!(
                    "bad duration `{text}`: unexpected `{c}` (units are h, m, s)"
                ));
            }
        };
        let value: f64 = number
            .parse()
            .map_err(|_| format!("bad duration `{text}`: a number must come before `{c}`"))?;
        total += value * scale;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!(
            "bad duration `{text}`: `{number}` has no unit (h, m or s)"
        ));
    }
    check(total, text)
}

/// Parses a run's length (`--duration`): a duration of more than 0 s and at most
/// [`MAX_RUN_S`] (7 days, the longest published preservation).
pub fn parse_run_duration(text: &str) -> Result<f64, String> {
    let secs = parse_duration(text)?;
    if secs > 0.0 && secs <= MAX_RUN_S {
        Ok(secs)
    } else {
        Err(format!(
            "bad run length `{}`: expected more than 0 s and at most 7 days (168h, the longest published preservation), found {} s",
            super::bounds::escaped(text, 40),
            super::bounds::short_num(secs)
        ))
    }
}

fn check(secs: f64, text: &str) -> Result<f64, String> {
    if secs.is_finite() && secs >= 0.0 {
        Ok(secs)
    } else {
        Err(format!(
            "bad duration `{text}`: must be a finite, non-negative time"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_duration, parse_run_duration};

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("90m").unwrap(), 5400.0);
        assert_eq!(parse_duration("6h").unwrap(), 21_600.0);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400.0);
        assert_eq!(parse_duration("45s").unwrap(), 45.0);
        assert_eq!(parse_duration("12.5").unwrap(), 12.5);
        assert_eq!(parse_duration("0.5h").unwrap(), 1800.0);
    }

    #[test]
    fn rejects_bad_text_with_a_reason() {
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("5x").unwrap_err().contains("unexpected `x`"));
        assert!(
            parse_duration("h")
                .unwrap_err()
                .contains("number must come before")
        );
        assert!(parse_duration("3h20").unwrap_err().contains("no unit"));
        assert!(parse_duration("-5").unwrap_err().contains("non-negative"));
    }

    #[test]
    fn a_run_lasts_at_most_seven_days() {
        assert_eq!(parse_run_duration("168h").unwrap(), 604_800.0);
        for text in ["1e300", "99999999h", "168h1s", "0", "0s"] {
            let err = parse_run_duration(text).unwrap_err();
            assert!(err.contains("at most 7 days"), "{text}: {err}");
        }
        assert!(
            parse_run_duration("99999999h")
                .unwrap_err()
                .ends_with("found 3.599999964e11 s")
        );
    }
}
