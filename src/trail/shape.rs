//! Finds the CloudTrail records in a decoded file, whatever shape it has: a delivery file
//! `{"Records":[…]}`, a JSON array of records, a single record, JSON Lines (one record, an
//! EventBridge envelope whose `detail` is the record, or a CloudTrail Lake row whose
//! `eventJson` holds it, per line). Damage costs only the records it touches.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::trail::problem::{Location, Problem, ProblemKind};
use crate::trail::record::{Record, Str};

/// Receives what [`read_records`] finds, in file order.
pub trait RecordSink {
    /// A record parsed at `ordinal` (0-based position among the file's JSON values), found
    /// at `at`.
    fn record(&mut self, ordinal: usize, at: Location, record: Record<'_>);
    /// A problem with the file or one of its records.
    fn problem(&mut self, problem: Problem);
    /// Forget everything received: the fast path failed part-way and the careful path
    /// starts again from the beginning.
    fn reset(&mut self);
}

/// Reads every record in `bytes`, the decoded content of the file called `name`.
pub fn read_records(name: &str, bytes: &[u8], sink: &mut dyn RecordSink) {
    // The common case, a well-formed delivery file, in one typed pass that hands each record
    // over as it is parsed.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let fast = DeliveryStream { sink: &mut *sink }.deserialize(&mut de);
    if matches!(fast, Ok(true)) && de.end().is_ok() {
        return;
    }
    sink.reset();
    match std::str::from_utf8(bytes) {
        Ok(text) => Careful {
            name,
            utf8_damaged: false,
            utf8_reported: 0,
            sink,
        }
        .read(text),
        // A file cut inside a multi-byte character: the cut is the problem, reported as
        // invalid JSON by the careful path.
        Err(err) if err.error_len().is_none() => {
            let valid = &bytes[..err.valid_up_to()];
            let text = std::str::from_utf8(valid).unwrap_or_default();
            Careful {
                name,
                utf8_damaged: false,
                utf8_reported: 0,
                sink,
            }
            .read(text);
        }
        Err(err) => {
            // Replace the bad bytes so the rest can be read; records that held them are
            // reported and skipped.
            let offset = err.valid_up_to();
            let text = String::from_utf8_lossy(bytes);
            let mut careful = Careful {
                name,
                utf8_damaged: true,
                utf8_reported: 0,
                sink,
            };
            careful.read(&text);
            if careful.utf8_reported == 0 {
                careful.sink.problem(Problem::file(
                    name,
                    ProblemKind::InvalidUtf8,
                    format!("invalid UTF-8 at byte offset {offset} (outside any record)"),
                ));
            }
        }
    }
}

/// The slow path: finds damage and keeps what is not damaged.
struct Careful<'s> {
    name: &'s str,
    utf8_damaged: bool,
    utf8_reported: usize,
    sink: &'s mut dyn RecordSink,
}

/// What a top-level object or a line can be besides a plain record.
#[derive(Deserialize, Default)]
struct Probe<'a> {
    #[serde(borrow, default, rename = "Records")]
    records: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "detail-type")]
    detail_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "eventJson")]
    event_json: Option<Str<'a>>,
    #[serde(default, rename = "digestStartTime")]
    digest_start_time: Option<IgnoredAny>,
}

const REPLACEMENT: char = '\u{FFFD}';

impl Careful<'_> {
    fn read(&mut self, text: &str) {
        // Line numbers count from the real start of the file: keep leading blank lines.
        let body = text.trim_start_matches('\u{feff}');
        if body.trim().is_empty() {
            self.sink.problem(Problem::file(
                self.name,
                ProblemKind::Empty,
                "file holds only whitespace",
            ));
            return;
        }
        let mut values = Vec::new();
        let mut stream = serde_json::Deserializer::from_str(body).into_iter::<&RawValue>();
        let mut failure = None;
        for value in stream.by_ref() {
            match value {
                Ok(v) => values.push(v),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        match (values.len(), failure) {
            (1, None) => self.document(values[0]),
            (_, Some(_)) if looks_like_lines(body) => self.lines(body),
            (0, Some(err)) => self.salvage(body, &err),
            (_, failure) => {
                // Several JSON values: JSON Lines, or concatenated documents (`cat a.json b.json`).
                let mut line = 1;
                let mut scanned = 0;
                let mut ordinal = 0;
                for value in values {
                    let start = value.get().as_ptr() as usize - body.as_ptr() as usize;
                    line += body[scanned..start].bytes().filter(|&b| b == b'\n').count();
                    scanned = start;
                    ordinal = self.value(ordinal, Location::Line(line), value.get());
                }
                if let Some(err) = failure {
                    self.invalid_json(&err, ordinal);
                }
            }
        }
    }

    /// One of several top-level values: a document of records, or one record. Returns the
    /// next ordinal.
    fn value(&mut self, ordinal: usize, at: Location, text: &str) -> usize {
        let elements = if text.starts_with('[') {
            serde_json::from_str::<Vec<&RawValue>>(text).ok()
        } else {
            serde_json::from_str::<Probe>(text)
                .ok()
                .and_then(|p| p.records)
                .and_then(|r| serde_json::from_str::<Vec<&RawValue>>(r.get()).ok())
        };
        match elements {
            Some(elements) => {
                let next = ordinal + elements.len();
                for (i, element) in elements.into_iter().enumerate() {
                    self.item(ordinal + i, Location::Record(ordinal + i), element.get());
                }
                next
            }
            None => {
                self.item(ordinal, at, text);
                ordinal + 1
            }
        }
    }

    /// One JSON document: a delivery file, an array of records or a single record.
    fn document(&mut self, value: &RawValue) {
        let text = value.get();
        if text.starts_with('[') {
            match serde_json::from_str::<Vec<&RawValue>>(text) {
                Ok(items) => {
                    for (i, item) in items.into_iter().enumerate() {
                        self.item(i, Location::Record(i), item.get());
                    }
                }
                Err(err) => self.invalid_json(&err, 0),
            }
            return;
        }
        if !text.starts_with('{') {
            self.not_cloudtrail("a JSON value that is neither an object nor an array");
            return;
        }
        let probe: Probe = serde_json::from_str(text).unwrap_or_default();
        if probe.digest_start_time.is_some() {
            self.not_cloudtrail("a CloudTrail digest file (integrity data, not events)");
            return;
        }
        match probe.records {
            Some(records) => match serde_json::from_str::<Vec<&RawValue>>(records.get()) {
                Ok(items) => {
                    for (i, item) in items.into_iter().enumerate() {
                        self.item(i, Location::Record(i), item.get());
                    }
                }
                Err(err) => self.sink.problem(Problem::file(
                    self.name,
                    ProblemKind::NotCloudTrail,
                    format!("\"Records\" is not an array of records: {err}"),
                )),
            },
            None => self.item(0, Location::Record(0), text),
        }
    }

    /// JSON Lines read line by line, so that one bad line costs only itself.
    fn lines(&mut self, body: &str) {
        for (ordinal, (n, line)) in body
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .enumerate()
        {
            let at = Location::Line(n + 1);
            match serde_json::from_str::<&RawValue>(line.trim()) {
                Ok(value) => self.item(ordinal, at, value.get()),
                Err(err) => self.sink.problem(Problem {
                    file: self.name.to_owned(),
                    location: at,
                    kind: ProblemKind::InvalidJson,
                    detail: format!("invalid JSON: {err}"),
                }),
            }
        }
    }

    /// A document cut short or broken: reads the records before the damage.
    fn salvage(&mut self, body: &str, err: &serde_json::Error) {
        let mut items: Vec<&RawValue> = Vec::new();
        let mut de = serde_json::Deserializer::from_str(body);
        let _ = TopLevel { items: &mut items }.deserialize(&mut de);
        let kept = items.len();
        for (i, item) in items.into_iter().enumerate() {
            self.item(i, Location::Record(i), item.get());
        }
        self.invalid_json(err, kept);
    }

    fn invalid_json(&mut self, err: &serde_json::Error, kept: usize) {
        let detail = if kept > 0 {
            format!(
                "invalid JSON at line {} column {} ({err}); the {kept} records before it were read",
                err.line(),
                err.column()
            )
        } else {
            format!(
                "invalid JSON at line {} column {} ({err})",
                err.line(),
                err.column()
            )
        };
        self.sink
            .problem(Problem::file(self.name, ProblemKind::InvalidJson, detail));
    }

    fn not_cloudtrail(&mut self, what: &str) {
        self.sink.problem(Problem::file(
            self.name,
            ProblemKind::NotCloudTrail,
            format!("not CloudTrail: {what}"),
        ));
    }

    /// One array element or line: a record, or an envelope around one.
    fn item(&mut self, ordinal: usize, at: Location, text: &str) {
        if self.utf8_damaged && text.contains(REPLACEMENT) {
            self.sink.problem(Problem {
                file: self.name.to_owned(),
                location: at,
                kind: ProblemKind::InvalidUtf8,
                detail: "invalid UTF-8 bytes; record skipped".to_owned(),
            });
            self.utf8_reported += 1;
            return;
        }
        let probe: Probe = serde_json::from_str(text).unwrap_or_default();
        let owned;
        let record_text = if let (Some(_), Some(detail)) = (probe.detail_type, probe.detail) {
            detail.get()
        } else if let Some(event_json) = probe.event_json {
            owned = event_json.0.into_owned();
            owned.as_str()
        } else {
            text
        };
        match serde_json::from_str::<Record>(record_text) {
            Ok(record) => self.sink.record(ordinal, at, record),
            Err(err) => self.sink.problem(Problem {
                file: self.name.to_owned(),
                location: at,
                kind: ProblemKind::BadRecord,
                detail: format!("not a valid record: {err}"),
            }),
        }
    }
}

/// Streams the `Records` of a delivery file into a sink. Yields whether `Records` was there.
struct DeliveryStream<'s> {
    sink: &'s mut dyn RecordSink,
}

impl<'de> DeserializeSeed<'de> for DeliveryStream<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DeliveryStream<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a CloudTrail delivery file")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<bool, M::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            if key.as_str() == "Records" && !found {
                map.next_value_seed(RecordStream {
                    sink: &mut *self.sink,
                })?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// The elements of `Records`, each parsed as a record and handed to the sink.
struct RecordStream<'s> {
    sink: &'s mut dyn RecordSink,
}

impl<'de> DeserializeSeed<'de> for RecordStream<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordStream<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let mut index = 0;
        while let Some(record) = seq.next_element::<Record<'de>>()? {
            self.sink.record(index, Location::Record(index), record);
            index += 1;
        }
        Ok(())
    }
}

/// JSON Lines: more than one non-blank line, the first a complete JSON object and the
/// second starting one (a document cut short starts `{"Records":[`, which is not complete).
fn looks_like_lines(body: &str) -> bool {
    let mut lines = body.lines().map(str::trim).filter(|l| !l.is_empty());
    match (lines.next(), lines.next()) {
        (Some(first), Some(second)) => {
            first.starts_with('{')
                && second.starts_with('{')
                && serde_json::from_str::<IgnoredAny>(first).is_ok()
        }
        _ => false,
    }
}

/// Walks a possibly broken top-level document, collecting complete records (elements of
/// `Records` or of a top-level array) until the damage.
struct TopLevel<'v, 'a> {
    items: &'v mut Vec<&'a RawValue>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for TopLevel<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for TopLevel<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a CloudTrail document")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<(), S::Error> {
        Items { items: self.items }.visit_seq(seq)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<Str<'de>>()? {
            if key.as_str() == "Records" {
                map.next_value_seed(Items {
                    items: &mut *self.items,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Collects the elements of an array as raw values, keeping those read before an error.
struct Items<'v, 'a> {
    items: &'v mut Vec<&'a RawValue>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Items<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Items<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            self.items.push(item);
        }
        Ok(())
    }
    fn visit_map<M: MapAccess<'de>>(self, _map: M) -> Result<(), M::Error> {
        Err(de::Error::custom("expected an array"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects event names (or their absence) and problems.
    #[derive(Default)]
    struct Collect {
        records: Vec<(usize, Location, Option<String>)>,
        problems: Vec<Problem>,
    }

    impl RecordSink for Collect {
        fn record(&mut self, ordinal: usize, at: Location, record: Record<'_>) {
            self.records
                .push((ordinal, at, record.event_name.map(|n| n.0.into_owned())));
        }
        fn problem(&mut self, problem: Problem) {
            self.problems.push(problem);
        }
        fn reset(&mut self) {
            *self = Self::default();
        }
    }

    fn read(bytes: &[u8]) -> Collect {
        let mut sink = Collect::default();
        read_records("f.json", bytes, &mut sink);
        sink
    }

    fn names(c: &Collect) -> Vec<&str> {
        c.records.iter().filter_map(|r| r.2.as_deref()).collect()
    }

    const A: &str = r#"{"eventName":"A","eventTime":"2026-01-01T00:00:00Z"}"#;
    const B: &str = r#"{"eventName":"B","eventTime":"2026-01-01T00:00:00Z"}"#;

    #[test]
    fn delivery_file_array_and_single_record() {
        let c = read(format!("{{\"Records\":[{A},{B}]}}").as_bytes());
        assert_eq!(names(&c), ["A", "B"]);
        assert_eq!(c.records[1].1, Location::Record(1));
        let c = read(format!("\u{feff}\n [{A},{B}]").as_bytes());
        assert_eq!(names(&c), ["A", "B"]);
        assert!(c.problems.is_empty());
        let c = read(A.as_bytes());
        assert_eq!(names(&c), ["A"]);
    }

    #[test]
    fn json_lines_with_envelopes_and_lake_rows() {
        let envelope = format!(
            r#"{{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.kms","detail":{B}}}"#
        );
        let lake_row = format!(
            "{{\"eventJson\":{}}}",
            serde_json::to_string(A).expect("json")
        );
        let c = read(format!("{A}\n\n{envelope}\n{lake_row}\n").as_bytes());
        assert_eq!(names(&c), ["A", "B", "A"]);
        assert_eq!(
            c.records.iter().map(|r| r.1).collect::<Vec<_>>(),
            [Location::Line(1), Location::Line(3), Location::Line(4)]
        );
        assert!(c.problems.is_empty());
    }

    #[test]
    fn a_bad_line_costs_only_itself() {
        let c = read(format!("{A}\n{{\"eventName\": oops\n{B}\n").as_bytes());
        assert_eq!(names(&c), ["A", "B"]);
        assert_eq!(c.problems.len(), 1);
        assert_eq!(
            (c.problems[0].location, c.problems[0].kind),
            (Location::Line(2), ProblemKind::InvalidJson)
        );
    }

    #[test]
    fn a_truncated_document_keeps_complete_records() {
        let c = read(format!("{{\"Records\":[{A},{B},{{\"eventName\":\"C\",\"ev").as_bytes());
        assert_eq!(names(&c), ["A", "B"]);
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].kind, ProblemKind::InvalidJson);
        assert!(
            c.problems[0]
                .detail
                .contains("the 2 records before it were read"),
            "{}",
            c.problems[0]
        );
    }

    #[test]
    fn wrong_types_cost_the_record() {
        let c = read(format!("{{\"Records\":[{A},{{\"eventTime\":12}},{B}]}}").as_bytes());
        assert_eq!(names(&c), ["A", "B"]);
        assert_eq!(
            (c.problems[0].location, c.problems[0].kind),
            (Location::Record(1), ProblemKind::BadRecord)
        );
        assert_eq!(c.records[1].0, 2, "ordinals count the bad record");
    }

    #[test]
    fn invalid_utf8_costs_the_record_that_holds_it() {
        let mut bytes =
            format!("{{\"Records\":[{A},{{\"eventName\":\"X\",\"userAgent\":\"ab\"}},{B}]}}")
                .into_bytes();
        let at = bytes.windows(2).position(|w| w == b"ab").expect("marker");
        bytes[at] = 0xff;
        let c = read(&bytes);
        assert_eq!(names(&c), ["A", "B"]);
        assert_eq!(
            (c.problems[0].location, c.problems[0].kind),
            (Location::Record(1), ProblemKind::InvalidUtf8)
        );
    }

    #[test]
    fn not_cloudtrail_documents() {
        let c = read(br#"{"digestStartTime":"2026-01-01T00:00:00Z","logFiles":[]}"#);
        assert_eq!(c.problems[0].kind, ProblemKind::NotCloudTrail);
        assert!(c.problems[0].detail.contains("digest"));
        let c = read(b"42");
        assert_eq!(c.problems[0].kind, ProblemKind::NotCloudTrail);
        let c = read(br#"{"Records":{"a":1}}"#);
        assert_eq!(c.problems[0].kind, ProblemKind::NotCloudTrail);
        let c = read(b"  \n ");
        assert_eq!(c.problems[0].kind, ProblemKind::Empty);
        let c = read(b"[{awsRegion: \"x\"}]");
        assert_eq!(c.problems[0].kind, ProblemKind::InvalidJson);
        assert!(c.records.is_empty());
    }
}
