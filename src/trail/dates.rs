//! The date formats found in CloudTrail: ISO-8601 `eventTime`, and the Java `DateFormat`
//! text KMS writes inside `requestParameters` and `responseElements`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parses `eventTime`: `YYYY-MM-DDTHH:MM:SSZ`, with any RFC 3339 variant as a fallback
/// (fractional seconds, offsets).
pub fn parse_event_time(text: &str) -> Option<DateTime<Utc>> {
    fast_iso_seconds(text).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the shape of nearly every `eventTime`, without a general parser.
fn fast_iso_seconds(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let time = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(Utc.from_utc_datetime(&time))
}

/// Parses a date as AWS writes it anywhere in a record: ISO-8601 / RFC 3339, the compact
/// `20131102T010628Z`, Java text (`Aug 10, 2022, 10:38:27 PM`, the older
/// `Jan 1, 2021 8:00:00 PM`, and the doc typo `Apr 12, 2021 18:58:30 PM`), or epoch seconds.
/// Java text dates are taken as UTC, as KMS writes them.
pub fn parse_aws_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Some(t) = parse_event_time(text) {
        return Some(t);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ") {
        return Some(Utc.from_utc_datetime(&t));
    }
    if let Ok(secs) = text.parse::<f64>() {
        let whole = secs.trunc();
        // Seconds since the epoch between 1970 and 9999: larger values are not dates.
        if (0.0..253_402_300_800.0).contains(&whole) {
            #[allow(clippy::cast_possible_truncation)]
            return DateTime::from_timestamp(whole as i64, 0);
        }
        return None;
    }
    parse_java_date(text)
}

fn parse_java_date(text: &str) -> Option<DateTime<Utc>> {
    // Normalise "Aug 10, 2022, 10:38:27 PM" and "Aug 10, 2022 10:38:27 PM" to one shape.
    let normalized: String = text.replace(", ", " ").replace(',', " ");
    let normalized = normalized.split_whitespace().collect::<Vec<_>>().join(" ");
    for format in ["%b %d %Y %I:%M:%S %p", "%B %d %Y %I:%M:%S %p"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&normalized, format) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    // A 24-hour clock followed by a stray AM/PM marker.
    let without_marker = normalized
        .strip_suffix(" PM")
        .or_else(|| normalized.strip_suffix(" AM"))?;
    NaiveDateTime::parse_from_str(without_marker, "%b %d %Y %H:%M:%S")
        .ok()
        .map(|t| Utc.from_utc_datetime(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(t: Option<DateTime<Utc>>) -> String {
        t.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    }

    #[test]
    fn event_time_shapes() {
        assert_eq!(
            iso(parse_event_time("2025-10-27T00:16:57Z")),
            "2025-10-27T00:16:57Z"
        );
        assert_eq!(
            iso(parse_event_time("2025-10-27T00:16:57.123Z")),
            "2025-10-27T00:16:57Z"
        );
        assert_eq!(
            iso(parse_event_time("2025-10-27T02:16:57+02:00")),
            "2025-10-27T00:16:57Z"
        );
        assert!(parse_event_time("2025-13-27T00:16:57Z").is_none());
        assert!(parse_event_time("yesterday").is_none());
        assert!(parse_event_time("").is_none());
    }

    #[test]
    fn java_dates_from_kms_records() {
        assert_eq!(
            iso(parse_aws_date("Aug 10, 2022, 10:38:27 PM")),
            "2022-08-10T22:38:27Z"
        );
        assert_eq!(
            iso(parse_aws_date("Nov 2, 2021, 11:25:25 PM")),
            "2021-11-02T23:25:25Z"
        );
        assert_eq!(
            iso(parse_aws_date("May 21, 2025, 5:47:45 AM")),
            "2025-05-21T05:47:45Z"
        );
        assert_eq!(
            iso(parse_aws_date("Oct 27, 2025, 12:16:57 AM")),
            "2025-10-27T00:16:57Z"
        );
        assert_eq!(
            iso(parse_aws_date("Jan 1, 2021 8:00:00 PM")),
            "2021-01-01T20:00:00Z"
        );
        assert_eq!(
            iso(parse_aws_date("Apr 12, 2021 18:58:30 PM")),
            "2021-04-12T18:58:30Z"
        );
    }

    #[test]
    fn other_aws_date_shapes() {
        assert_eq!(
            iso(parse_aws_date("20131102T010628Z")),
            "2013-11-02T01:06:28Z"
        );
        assert_eq!(iso(parse_aws_date("1700000000")), "2023-11-14T22:13:20Z");
        assert_eq!(iso(parse_aws_date("1700000000.5")), "2023-11-14T22:13:20Z");
        assert!(parse_aws_date("1e300").is_none());
        assert!(parse_aws_date("not a date").is_none());
    }
}
