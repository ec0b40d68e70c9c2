//! Conversions between chrono (the lab's clock) and the jiff timestamps inside k8s-openapi types.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;

/// A chrono time as a jiff timestamp (the Unix epoch if out of range).
pub fn to_timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A chrono time as a metav1 `Time`.
pub fn to_time(t: DateTime<Utc>) -> Time {
    Time(to_timestamp(t))
}

/// A chrono time as a metav1 `MicroTime`.
pub fn to_micro_time(t: DateTime<Utc>) -> MicroTime {
    MicroTime(to_timestamp(t))
}

/// A metav1 `Time` as chrono.
pub fn from_time(t: &Time) -> DateTime<Utc> {
    from_timestamp(t.0)
}

/// A jiff timestamp as chrono.
pub fn from_timestamp(t: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32).unwrap_or_default()
}

/// A time formatted like Go's RFC3339Nano, as in log timestamps.
pub fn rfc3339_nano(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
