//! Kubernetes resource quantities (`100m`, `1.5Gi`, `2e3`, `128974848`).
//!
//! Parsed exactly into integers: CPU-like values in milli-units, everything else in
//! whole units (bytes for memory), rounded up as the API server rounds requests.

use std::fmt;

/// Why a quantity string is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError(pub String);

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid quantity {:?}", self.0)
    }
}

/// Parses a quantity into thousandths of a unit (`100m` -> 100, `2` -> 2000,
/// `1Ki` -> 1_024_000), rounding fractions of a milli-unit up.
pub fn parse_milli(s: &str) -> Result<i128, QuantityError> {
    let err = || QuantityError(s.to_string());
    let t = s.trim();
    if t.is_empty() {
        return Err(err());
    }
    let (sign, body) = match t.as_bytes()[0] {
        b'-' => (-1i128, &t[1..]),
        b'+' => (1, &t[1..]),
        _ => (1, t),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return Err(err());
    }
    // (numerator, denominator) of the multiplier applied to the number, in milli-units.
    let (mul_num, mul_den): (i128, i128) = match suffix {
        "" => (1000, 1),
        "n" => (1, 1_000_000),
        "u" => (1, 1000),
        "m" => (1, 1),
        "k" => (1_000_000, 1),
        "M" => (1_000_000_000, 1),
        "G" => (1_000_000_000_000, 1),
        "T" => (1_000_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000_000, 1),
        "Ki" => (1000 << 10, 1),
        "Mi" => (1000 << 20, 1),
        "Gi" => (1000 << 30, 1),
        "Ti" => (1000 << 40, 1),
        "Pi" => (1000 << 50, 1),
        "Ei" => (1000 << 60, 1),
        exp if exp.starts_with(['e', 'E']) => {
            let e: i32 = exp[1..].parse().map_err(|_| err())?;
            if !(-18..=18).contains(&e) {
                return Err(err());
            }
            if e >= -3 {
                (10i128.pow((e + 3) as u32), 1)
            } else {
                (1, 10i128.pow((-e - 3) as u32))
            }
        }
        _ => return Err(err()),
    };
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    if int_part.len() > 24 || frac_part.len() > 18 {
        return Err(err());
    }
    let int: i128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| err())?
    };
    let frac: i128 = if frac_part.is_empty() {
        0
    } else {
        frac_part.parse().map_err(|_| err())?
    };
    let frac_den = 10i128.pow(frac_part.len() as u32);
    // value = (int + frac/frac_den) * mul_num / mul_den, rounded up
    let numerator = (int * frac_den + frac)
        .checked_mul(mul_num)
        .ok_or_else(err)?;
    let denominator = frac_den * mul_den;
    let value = (numerator + denominator - 1) / denominator;
    Ok(sign * value)
}

/// Parses a quantity into whole units, rounding up (`1.5` -> 2, `128Mi` -> 134217728).
pub fn parse_units(s: &str) -> Result<i64, QuantityError> {
    let milli = parse_milli(s)?;
    let units = if milli >= 0 {
        (milli + 999) / 1000
    } else {
        milli / 1000
    };
    i64::try_from(units).map_err(|_| QuantityError(s.to_string()))
}

/// Parses a quantity into milli-units (CPU).
pub fn parse_millis(s: &str) -> Result<i64, QuantityError> {
    i64::try_from(parse_milli(s)?).map_err(|_| QuantityError(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_forms() {
        assert_eq!(parse_millis("100m").unwrap(), 100);
        assert_eq!(parse_millis("1").unwrap(), 1000);
        assert_eq!(parse_millis("1.5").unwrap(), 1500);
        assert_eq!(parse_millis("0.0001").unwrap(), 1, "rounds up to 1m");
        assert_eq!(parse_millis("2e3").unwrap(), 2_000_000);
        assert_eq!(parse_millis("500u").unwrap(), 1);
    }

    #[test]
    fn memory_forms() {
        assert_eq!(parse_units("128Mi").unwrap(), 128 << 20);
        assert_eq!(parse_units("1Gi").unwrap(), 1 << 30);
        assert_eq!(parse_units("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_units("1.5Gi").unwrap(), 3 << 29);
        assert_eq!(parse_units("129e6").unwrap(), 129_000_000);
        assert_eq!(parse_units("100").unwrap(), 100);
        assert_eq!(parse_units("1500m").unwrap(), 2);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1.2.3", "12Qi", "--1", "1e", "1e99", ".", "Mi"] {
            assert!(parse_milli(bad).is_err(), "{bad} should be rejected");
        }
    }
}
