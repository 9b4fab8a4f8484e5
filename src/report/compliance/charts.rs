//! The charts of the HTML report, as inline SVG text: key usage over time, findings by
//! severity, findings by control family and rotation age per key.
//!
//! Each chart is a pure function of plain data (no report model), so it can be tested on its
//! own and its output is byte-for-byte deterministic: integer or one-decimal coordinates,
//! inputs in the order given. Every chart carries `<title>` and `<desc>` (named by
//! `aria-labelledby`, `role="img"`) that say in words what the bars show, prints the value
//! of each bar as text (colour is never the only carrier of meaning, so a grayscale print
//! reads the same), and escapes every label. The SVG is meant to be inlined in HTML: it
//! has no `xmlns` and no external references, and sizes itself through its `viewBox`.

use std::fmt::Write as _;

use chrono::{Datelike, Duration, NaiveDate};

use crate::rules::Severity;

/// The width of every chart, in SVG user units.
const WIDTH: u32 = 720;
/// The font size of labels.
const FONT: u32 = 12;
/// Bars drawn at most by the usage chart before days are grouped into weeks, then months.
const MAX_DAY_BARS: i64 = 62;
/// Weeks drawn at most before the usage chart groups by month.
const MAX_WEEK_BARS: i64 = 62;
/// Months drawn at most before the usage chart groups by year (so no span of dates, however
/// odd, makes the chart long).
const MAX_MONTH_BARS: i64 = 120;
/// Characters of a bar label kept before it is shortened (the full text is in a tooltip).
const MAX_LABEL: usize = 34;

/// Colours: dark enough for white-on-colour text and distinct in grayscale.
const INK: &str = "#1f2937";
const MUTED: &str = "#6b7280";
const GRID: &str = "#d1d5db";
const BAR: &str = "#2563eb";
const BAR_FAILED: &str = "#b91c1c";
const BAR_OK: &str = "#15803d";

/// The fill colour of a severity.
pub fn severity_color(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "#7f1d1d",
        Severity::High => "#b91c1c",
        Severity::Medium => "#c2410c",
        Severity::Low => "#a16207",
        Severity::Info => "#475569",
    }
}

/// Escapes `text` for XML and HTML text and attribute values (`&`, `<`, `>`, `"`, `'`), and
/// replaces control characters, which neither may contain, with U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Key calls on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyUsage {
    /// The day (UTC).
    pub date: NaiveDate,
    /// Calls naming a key.
    pub calls: u64,
    /// Of those, failed.
    pub errors: u64,
}

/// One control family's open findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyFindings {
    /// What the bar is labelled (`AU Audit and Accountability`).
    pub label: String,
    /// Open findings per severity, most severe first (any order is drawn as given).
    pub counts: Vec<(Severity, u64)>,
}

/// One key's rotation age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAge {
    /// What the bar is labelled (a key id or alias).
    pub label: String,
    /// The full name shown as a tooltip (the key ARN).
    pub tooltip: String,
    /// Days since the key material last changed; `None` when unknown.
    pub age_days: Option<i64>,
}

/// Opens an `<svg>` of `height` with its accessible title and description.
fn open(out: &mut String, id: &str, height: u32, title: &str, desc: &str) {
    let id = escape(id);
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" \
         role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" font-family=\"system-ui, sans-serif\" \
         font-size=\"{FONT}\" fill=\"{INK}\">\n<title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n",
        escape(title),
        escape(desc)
    );
}

fn close(out: &mut String) {
    out.push_str("</svg>\n");
}

/// A chart with nothing to draw: the frame, its title and a sentence saying why.
fn empty(id: &str, title: &str, message: &str) -> String {
    let mut out = String::new();
    open(&mut out, id, 60, title, message);
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"35\" text-anchor=\"middle\" fill=\"{MUTED}\">{}</text>",
        WIDTH / 2,
        escape(message)
    );
    close(&mut out);
    out
}

/// `text` cut to [`MAX_LABEL`] characters, keeping its start (section ids and titles).
fn shorten_start(text: &str) -> String {
    if text.chars().count() <= MAX_LABEL {
        return text.to_owned();
    }
    let head: String = text.chars().take(MAX_LABEL - 1).collect();
    format!("{head}…")
}

/// `text` cut to [`MAX_LABEL`] characters, keeping its end (key ids and ARNs differ there).
fn shorten(text: &str) -> String {
    let count = text.chars().count();
    if count <= MAX_LABEL {
        return text.to_owned();
    }
    let tail: String = text.chars().skip(count - (MAX_LABEL - 1)).collect();
    format!("…{tail}")
}

/// An axis maximum at or above `max` on a 1-2-5 scale, and its tick step (four or five ticks).
fn nice_scale(max: u64) -> (u64, u64) {
    if max == 0 {
        return (1, 1);
    }
    let mut magnitude = 1u64;
    loop {
        for factor in [1u64, 2, 5] {
            let step = factor.saturating_mul(magnitude);
            if step.saturating_mul(5) >= max {
                let top = max.div_ceil(step).saturating_mul(step);
                return (top.max(step), step);
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// The tick values `0, step, 2·step, … ≤ top` (at most six, so no input can make it long).
fn ticks(top: u64, step: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut tick = Some(0u64);
    while let Some(value) = tick {
        if value > top || out.len() == 6 {
            break;
        }
        out.push(value);
        tick = value.checked_add(step.max(1));
    }
    out
}

/// `value` of `top` as a length of `span` units, one decimal.
fn scale(value: u64, top: u64, span: f64) -> f64 {
    if top == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let ratio = value as f64 / top as f64;
    (ratio * span * 10.0).round() / 10.0
}

/// How the usage chart groups days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Day,
    Week,
    Month,
    Year,
}

impl Bucket {
    fn start(self, date: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => date,
            Self::Week => date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
            Self::Month => date.with_day(1).unwrap_or(date),
            Self::Year => NaiveDate::from_ymd_opt(date.year(), 1, 1).unwrap_or(date),
        }
    }

    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Day => start.succ_opt(),
            Self::Week => start.checked_add_signed(Duration::days(7)),
            Self::Month => start.checked_add_months(chrono::Months::new(1)),
            Self::Year => start.checked_add_months(chrono::Months::new(12)),
        }
    }

    fn label(self, start: NaiveDate) -> String {
        match self {
            Self::Day | Self::Week => start.format("%Y-%m-%d").to_string(),
            Self::Month => start.format("%Y-%m").to_string(),
            Self::Year => start.format("%Y").to_string(),
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week (from Monday)",
            Self::Month => "month",
            Self::Year => "year",
        }
    }
}

/// Key usage over time: a bar per day (per week over 62 days, per month over 62 weeks, per
/// year over 120 months) of
/// the calls naming a key, the failed part stacked in red. Days without calls between the
/// first and last day count as zero, so the time axis is even and silences show.
pub fn usage_over_time(id: &str, days: &[DailyUsage]) -> String {
    let title = "Key usage over time";
    let (Some(first), Some(last)) = (
        days.iter().map(|d| d.date).min(),
        days.iter().map(|d| d.date).max(),
    ) else {
        return empty(id, title, "No calls naming a key in the window.");
    };
    let span = (last - first).num_days() + 1;
    let bucket = if span <= MAX_DAY_BARS {
        Bucket::Day
    } else if span <= MAX_WEEK_BARS * 7 {
        Bucket::Week
    } else if i64::from(last.year() - first.year()) * 12 + i64::from(last.month())
        - i64::from(first.month())
        < MAX_MONTH_BARS
    {
        Bucket::Month
    } else {
        Bucket::Year
    };
    // Buckets from the first to the last, with their totals.
    let mut buckets: Vec<(NaiveDate, u64, u64)> = Vec::new();
    let mut cursor = Some(bucket.start(first));
    while let Some(start) = cursor {
        if start > last {
            break;
        }
        buckets.push((start, 0, 0));
        cursor = bucket.next(start);
    }
    for day in days {
        let start = bucket.start(day.date);
        if let Ok(i) = buckets.binary_search_by(|(s, _, _)| s.cmp(&start)) {
            buckets[i].1 = buckets[i].1.saturating_add(day.calls);
            buckets[i].2 = buckets[i].2.saturating_add(day.errors.min(day.calls));
        }
    }
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    let failed: u64 = buckets.iter().map(|b| b.2).sum();
    let (peak_start, peak) =
        buckets.iter().fold(
            (first, 0u64),
            |acc, b| if b.1 > acc.1 { (b.0, b.1) } else { acc },
        );
    let desc = format!(
        "Calls naming a KMS key per {}, {} to {}: {total} calls, {failed} failed; busiest {} {} with {peak} calls.",
        bucket.noun(),
        first.format("%Y-%m-%d"),
        last.format("%Y-%m-%d"),
        bucket.unit(),
        bucket.label(peak_start),
    );

    let height = 260u32;
    let (left, right, top, bottom) = (56.0, 16.0, 28.0, 40.0);
    let plot_w = f64::from(WIDTH) - left - right;
    let plot_h = f64::from(height) - top - bottom;
    let base = top + plot_h;
    let (axis_max, step) = nice_scale(peak);
    let mut out = String::new();
    open(&mut out, id, height, title, &desc);
    // Legend.
    let _ = writeln!(
        out,
        "<g font-size=\"11\"><rect x=\"{left}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{BAR}\"/>\
         <text x=\"{}\" y=\"17\">calls</text>\
         <rect x=\"{}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{BAR_FAILED}\"/>\
         <text x=\"{}\" y=\"17\">failed</text>\
         <text x=\"{}\" y=\"17\" text-anchor=\"end\" fill=\"{MUTED}\">per {}</text></g>",
        left + 14.0,
        left + 60.0,
        left + 74.0,
        f64::from(WIDTH) - right,
        escape(bucket.noun()),
    );
    // Grid and y axis.
    for tick in ticks(axis_max, step) {
        let y = base - scale(tick, axis_max, plot_h);
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{MUTED}\">{tick}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
        );
    }
    // Bars.
    #[allow(clippy::cast_precision_loss)]
    let slot = plot_w / buckets.len() as f64;
    let bar_w = (slot * 0.8).max(1.0);
    let label_every = buckets.len().div_ceil(8).max(1);
    out.push_str("<g>\n");
    for (i, (start, calls, errors)) in buckets.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let h = scale(*calls, axis_max, plot_h);
        let h_failed = scale(*errors, axis_max, plot_h);
        let _ = write!(
            out,
            "<g><title>{}: {calls} calls, {errors} failed</title>",
            escape(&bucket.label(*start))
        );
        if *calls > 0 {
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" fill=\"{BAR}\"/>",
                base - h
            );
        }
        if *errors > 0 {
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{h_failed:.1}\" fill=\"{BAR_FAILED}\"/>",
                base - h_failed
            );
        }
        out.push_str("</g>\n");
        // Every n-th bucket and the last, unless the last is too close to the one before.
        let last = buckets.len() - 1;
        if i == last || (i % label_every == 0 && last - i >= label_every) {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"{MUTED}\">{}</text>",
                x + bar_w / 2.0,
                base + 16.0,
                escape(&bucket.label(*start)),
            );
        }
    }
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"{INK}\"/>",
        left + plot_w
    );
    close(&mut out);
    out
}

/// Findings by severity: one vertical bar per severity, most severe first, each with its
/// count printed above it.
pub fn findings_by_severity(id: &str, counts: &[(Severity, u64)]) -> String {
    let title = "Open findings by severity";
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let listed: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{} {n}", s.as_str()))
        .collect();
    let desc = format!("{total} open findings: {}.", listed.join(", "));
    if counts.is_empty() {
        return empty(id, title, "No severities to show.");
    }
    let height = 220u32;
    let (left, right, top, bottom) = (56.0, 16.0, 16.0, 34.0);
    let plot_w = f64::from(WIDTH) - left - right;
    let plot_h = f64::from(height) - top - bottom;
    let base = top + plot_h;
    let peak = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let (axis_max, step) = nice_scale(peak);
    let mut out = String::new();
    open(&mut out, id, height, title, &desc);
    for tick in ticks(axis_max, step) {
        let y = base - scale(tick, axis_max, plot_h);
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{MUTED}\">{tick}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let slot = plot_w / counts.len() as f64;
    let bar_w = (slot * 0.6).min(90.0);
    for (i, (severity, count)) in counts.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let center = left + slot * i as f64 + slot / 2.0;
        let h = scale(*count, axis_max, plot_h);
        let name = severity.as_str();
        let _ = writeln!(
            out,
            "<g><title>{name}: {count}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" fill=\"{}\" stroke=\"{INK}\" stroke-width=\"0.5\"/>\
             <text x=\"{center:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{count}</text>\
             <text x=\"{center:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{name}</text></g>",
            center - bar_w / 2.0,
            base - h,
            severity_color(*severity),
            base - h - 5.0,
            base + 18.0,
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"{INK}\"/>",
        left + plot_w
    );
    close(&mut out);
    out
}

/// Findings by control family: one horizontal bar per family, in the order given, split by
/// severity, with the total printed after it. Families without findings keep their row
/// (with `0`), so the chart shows which families are clean.
pub fn findings_by_family(id: &str, families: &[FamilyFindings]) -> String {
    let title = "Open findings by control family";
    if families.is_empty() {
        return empty(id, title, "The framework has no sections.");
    }
    let totals: Vec<u64> = families
        .iter()
        .map(|f| f.counts.iter().map(|(_, n)| n).sum())
        .collect();
    let listed: Vec<String> = families
        .iter()
        .zip(&totals)
        .map(|(f, n)| format!("{} {n}", f.label))
        .collect();
    let desc = format!("Open findings per control family: {}.", listed.join("; "));
    let row = 22u32;
    let (left, right, top) = (250.0, 48.0, 8.0);
    let rows = u32::try_from(families.len()).unwrap_or(u32::MAX / row - 1);
    let height = rows.saturating_mul(row).saturating_add(16);
    let plot_w = f64::from(WIDTH) - left - right;
    let peak = totals.iter().copied().max().unwrap_or(0);
    let (axis_max, _) = nice_scale(peak);
    let mut out = String::new();
    open(&mut out, id, height, title, &desc);
    for (i, (family, total)) in families.iter().zip(&totals).enumerate() {
        let y = top + f64::from(row) * f64::from(u32::try_from(i).unwrap_or(0));
        let label = shorten_start(&family.label);
        let _ = write!(
            out,
            "<g><title>{}: {total} open</title><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            escape(&family.label),
            left - 8.0,
            y + 13.0,
            escape(&label),
        );
        let mut x = left;
        for (severity, count) in &family.counts {
            if *count == 0 {
                continue;
            }
            let w = scale(*count, axis_max, plot_w);
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"16\" fill=\"{}\"><title>{}: {count} {}</title></rect>",
                severity_color(*severity),
                escape(&family.label),
                severity.as_str(),
            );
            x += w;
        }
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{}\">{total}</text></g>",
            x + 6.0,
            y + 13.0,
            if *total == 0 { MUTED } else { INK },
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{:.1}\" stroke=\"{INK}\"/>",
        f64::from(height) - 8.0
    );
    close(&mut out);
    out
}

/// Rotation age per key: one horizontal bar per key, in the order given, with the
/// cryptoperiod as a dashed reference line; keys past it are drawn in red and keys of
/// unknown age say so instead of drawing a bar.
pub fn rotation_ages(id: &str, keys: &[KeyAge], cryptoperiod_days: Option<i64>) -> String {
    let title = "Rotation age per key";
    if keys.is_empty() {
        return empty(id, title, "No keys seen.");
    }
    let over = keys
        .iter()
        .filter(|k| matches!((k.age_days, cryptoperiod_days), (Some(a), Some(p)) if a > p))
        .count();
    let unknown = keys.iter().filter(|k| k.age_days.is_none()).count();
    let oldest = keys.iter().filter_map(|k| k.age_days).max();
    let period_text = cryptoperiod_days.map_or_else(
        || "no cryptoperiod is set for this framework".to_owned(),
        |p| format!("cryptoperiod {p} days, {over} past it"),
    );
    let desc = format!(
        "Days since the key material last changed, for {} keys ({period_text}; {unknown} of unknown age; oldest {}).",
        keys.len(),
        oldest.map_or_else(|| "unknown".to_owned(), |d| format!("{d} days")),
    );
    let row = 22u32;
    let (left, right, top) = (250.0, 64.0, 26.0);
    let rows = u32::try_from(keys.len()).unwrap_or(u32::MAX / row - 2);
    let height = rows.saturating_mul(row).saturating_add(36);
    let plot_w = f64::from(WIDTH) - left - right;
    let limit = u64::try_from(cryptoperiod_days.unwrap_or(0)).unwrap_or(0);
    let peak = oldest.and_then(|d| u64::try_from(d).ok()).unwrap_or(0);
    let (axis_max, _) = nice_scale(peak.max(limit));
    let mut out = String::new();
    open(&mut out, id, height, title, &desc);
    for (i, key) in keys.iter().enumerate() {
        let y = top + f64::from(row) * f64::from(u32::try_from(i).unwrap_or(0));
        let _ = write!(
            out,
            "<g><title>{}: {}</title><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            escape(&key.tooltip),
            key.age_days
                .map_or_else(|| "age unknown".to_owned(), |d| format!("{d} days")),
            left - 8.0,
            y + 13.0,
            escape(&shorten(&key.label)),
        );
        match key.age_days {
            Some(age) => {
                let days = u64::try_from(age).unwrap_or(0);
                let past = cryptoperiod_days.is_some_and(|p| age > p);
                let w = scale(days, axis_max, plot_w);
                let _ = writeln!(
                    out,
                    "<rect x=\"{left}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"16\" fill=\"{}\"/>\
                     <text x=\"{:.1}\" y=\"{:.1}\"{}>{age} d</text></g>",
                    if past { BAR_FAILED } else { BAR_OK },
                    left + w + 6.0,
                    y + 13.0,
                    if past { " font-weight=\"bold\"" } else { "" },
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{MUTED}\" font-style=\"italic\">age unknown</text></g>",
                    left + 6.0,
                    y + 13.0,
                );
            }
        }
    }
    let bottom = f64::from(height) - 8.0;
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{bottom:.1}\" stroke=\"{INK}\"/>"
    );
    if let Some(period) = cryptoperiod_days {
        let x = left + scale(limit, axis_max, plot_w);
        let _ = writeln!(
            out,
            "<g><title>Cryptoperiod: {period} days</title>\
             <line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"{INK}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">cryptoperiod {period} d</text></g>",
            top - 8.0,
            top - 12.0,
        );
    }
    close(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    /// Checks what every chart must have: one root `<svg>` with role, title and desc named
    /// by `aria-labelledby`, no namespace or external reference, balanced tags.
    fn assert_well_formed(svg: &str, id: &str) {
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(svg.ends_with("</svg>\n"), "{svg}");
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.contains(&format!("aria-labelledby=\"{id}-title {id}-desc\"")));
        assert!(svg.contains(&format!("<title id=\"{id}-title\">")));
        assert!(svg.contains(&format!("<desc id=\"{id}-desc\">")));
        assert!(svg.contains("role=\"img\""));
        for forbidden in ["http:", "https:", "href", "<script", "url("] {
            assert!(!svg.contains(forbidden), "{forbidden} in {svg}");
        }
        for tag in ["g", "title", "desc", "text"] {
            assert_eq!(
                svg.matches(&format!("<{tag}>")).count() + svg.matches(&format!("<{tag} ")).count(),
                svg.matches(&format!("</{tag}>")).count(),
                "<{tag}> unbalanced in {svg}"
            );
        }
    }

    #[test]
    fn escaping_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("a<b>&\"c\"'d'\u{7}\n"),
            "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;\u{fffd}\n"
        );
        assert_eq!(escape("arn:aws:kms:é"), "arn:aws:kms:é");
    }

    #[test]
    fn scales_are_round() {
        assert_eq!(nice_scale(0), (1, 1));
        assert_eq!(nice_scale(3), (3, 1));
        assert_eq!(nice_scale(7), (8, 2));
        assert_eq!(nice_scale(42), (50, 10));
        assert_eq!(nice_scale(999), (1000, 200));
        let (top, step) = nice_scale(u64::MAX);
        assert!(top == u64::MAX && step > 0);
        assert_eq!(ticks(50, 10), [0, 10, 20, 30, 40, 50]);
        assert!(ticks(top, step).len() <= 6);
    }

    #[test]
    fn usage_fills_silent_days_and_stacks_failures() {
        let days = [
            DailyUsage {
                date: date("2026-08-01"),
                calls: 10,
                errors: 2,
            },
            DailyUsage {
                date: date("2026-08-04"),
                calls: 4,
                errors: 0,
            },
        ];
        let svg = usage_over_time("usage", &days);
        assert_well_formed(&svg, "usage");
        // Four days from the 1st to the 4th, the two silent ones included.
        assert_eq!(svg.matches("<g><title>").count(), 4, "{svg}");
        assert!(svg.contains("<title>2026-08-02: 0 calls, 0 failed</title>"));
        assert!(svg.contains("14 calls, 2 failed"), "{svg}");
        assert!(svg.contains(&format!("fill=\"{BAR_FAILED}\"/>")));
        assert_eq!(svg, usage_over_time("usage", &days), "deterministic");
    }

    #[test]
    fn usage_groups_long_windows_by_week_then_month() {
        let weekly = usage_over_time(
            "u",
            &[
                DailyUsage {
                    date: date("2026-01-01"),
                    calls: 1,
                    errors: 0,
                },
                DailyUsage {
                    date: date("2026-03-31"),
                    calls: 1,
                    errors: 0,
                },
            ],
        );
        assert!(weekly.contains("per week (from Monday)"), "{weekly}");
        // 2026-01-01 is a Thursday: its week starts on Monday 2025-12-29.
        assert!(weekly.contains("<title>2025-12-29: 1 calls"), "{weekly}");
        let monthly = usage_over_time(
            "u",
            &[
                DailyUsage {
                    date: date("2025-01-15"),
                    calls: 3,
                    errors: 1,
                },
                DailyUsage {
                    date: date("2026-08-01"),
                    calls: 1,
                    errors: 0,
                },
            ],
        );
        assert!(
            monthly.contains("<title>2025-01: 3 calls, 1 failed</title>"),
            "{monthly}"
        );
        assert_eq!(monthly.matches("<g><title>").count(), 20);
        let yearly = usage_over_time(
            "u",
            &[
                DailyUsage {
                    date: date("1900-03-01"),
                    calls: 1,
                    errors: 0,
                },
                DailyUsage {
                    date: date("2026-08-01"),
                    calls: 2,
                    errors: 0,
                },
            ],
        );
        assert!(yearly.contains("per year"), "{yearly}");
        assert_eq!(yearly.matches("<g><title>").count(), 127);
    }

    #[test]
    fn empty_inputs_draw_a_message() {
        for (svg, text) in [
            (usage_over_time("a", &[]), "No calls naming a key"),
            (findings_by_severity("b", &[]), "No severities"),
            (findings_by_family("c", &[]), "no sections"),
            (rotation_ages("d", &[], Some(365)), "No keys"),
        ] {
            assert!(svg.contains(text), "{svg}");
            assert!(svg.contains("role=\"img\""));
        }
    }

    #[test]
    fn severity_bars_print_their_counts() {
        let counts = [
            (Severity::Critical, 0),
            (Severity::High, 3),
            (Severity::Medium, 1),
            (Severity::Low, 0),
            (Severity::Info, 2),
        ];
        let svg = findings_by_severity("sev", &counts);
        assert_well_formed(&svg, "sev");
        assert!(svg.contains("6 open findings: critical 0, high 3, medium 1, low 0, info 2."));
        assert!(svg.contains("font-weight=\"bold\">3</text>"));
        assert!(svg.contains(severity_color(Severity::High)));
    }

    #[test]
    fn family_bars_escape_labels_and_keep_clean_families() {
        let families = [
            FamilyFindings {
                label: "AU <Audit> & \"Accountability\"".into(),
                counts: vec![(Severity::High, 2), (Severity::Low, 1)],
            },
            FamilyFindings {
                label: "SC".into(),
                counts: vec![(Severity::High, 0)],
            },
        ];
        let svg = findings_by_family("fam", &families);
        assert_well_formed(&svg, "fam");
        assert!(!svg.contains("<Audit>"));
        assert!(svg.contains("AU &lt;Audit&gt; &amp; &quot;Accountability&quot;"));
        assert!(svg.contains(">3</text>"));
        assert!(svg.contains(&format!("fill=\"{MUTED}\">0</text>")));
        assert_eq!(svg.matches("<rect").count(), 2);
    }

    #[test]
    fn rotation_ages_mark_keys_past_the_cryptoperiod() {
        let keys = [
            KeyAge {
                label: "key-old".into(),
                tooltip: "arn:aws:kms:r:1:key/old".into(),
                age_days: Some(500),
            },
            KeyAge {
                label: "key-new".into(),
                tooltip: "arn:aws:kms:r:1:key/new".into(),
                age_days: Some(20),
            },
            KeyAge {
                label: "key-x".into(),
                tooltip: "arn:aws:kms:r:1:key/x".into(),
                age_days: None,
            },
        ];
        let svg = rotation_ages("rot", &keys, Some(365));
        assert_well_formed(&svg, "rot");
        assert!(svg.contains("cryptoperiod 365 days, 1 past it; 1 of unknown age; oldest 500 days"));
        assert!(svg.contains("stroke-dasharray"));
        assert!(svg.contains("cryptoperiod 365 d</text>"));
        assert!(svg.contains(&format!("fill=\"{BAR_FAILED}\"/>")));
        assert!(svg.contains(&format!("fill=\"{BAR_OK}\"/>")));
        assert!(svg.contains("age unknown</text>"));
        let without = rotation_ages("rot", &keys, None);
        assert!(!without.contains("stroke-dasharray"));
        assert!(without.contains("no cryptoperiod is set"));
    }

    #[test]
    fn long_labels_keep_their_end() {
        let label = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let short = shorten(label);
        assert_eq!(short.chars().count(), MAX_LABEL);
        assert!(short.starts_with('…'));
        assert!(short.ends_with("567890ab"));
        assert_eq!(shorten("short"), "short");
        let family =
            shorten_start("10 Log and monitor all access to system components and cardholder data");
        assert_eq!(family.chars().count(), MAX_LABEL);
        assert!(family.starts_with("10 Log and monitor"));
        assert!(family.ends_with('…'));
    }
}
