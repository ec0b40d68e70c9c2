//! Parsing resource quantities (`500m`, `1.5`, `512Mi`, `1G`) into integers the scheduler adds up.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The value of a quantity multiplied by `scale` (1000 for millicores, 1 for bytes), rounded up;
/// `None` when it does not parse.
pub fn parse_scaled(q: &str, scale: f64) -> Option<u64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with('e') || s.starts_with('E') => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    let v = (number * multiplier * scale).ceil();
    if v < 0.0 { None } else { Some(v as u64) }
}

/// CPU in millicores.
pub fn cpu_millis(q: &Quantity) -> u64 {
    parse_scaled(&q.0, 1000.0).unwrap_or(0)
}

/// Memory in bytes.
pub fn memory_bytes(q: &Quantity) -> u64 {
    parse_scaled(&q.0, 1.0).unwrap_or(0)
}

/// `(cpu millicores, memory bytes)` from a resource list, if present.
pub fn cpu_memory(list: Option<&BTreeMap<String, Quantity>>) -> (Option<u64>, Option<u64>) {
    let Some(list) = list else {
        return (None, None);
    };
    (
        list.get("cpu").map(cpu_millis),
        list.get("memory").map(memory_bytes),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_memory_forms() {
        assert_eq!(parse_scaled("500m", 1000.0), Some(500));
        assert_eq!(parse_scaled("2", 1000.0), Some(2000));
        assert_eq!(parse_scaled("0.25", 1000.0), Some(250));
        assert_eq!(parse_scaled("512Mi", 1.0), Some(512 * 1024 * 1024));
        assert_eq!(parse_scaled("1G", 1.0), Some(1_000_000_000));
        assert_eq!(parse_scaled("1e3", 1.0), Some(1000));
        assert_eq!(parse_scaled("12345678n", 1000.0), Some(13));
        assert_eq!(parse_scaled("abc", 1.0), None);
    }
}
