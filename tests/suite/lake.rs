//! The Parquet lake end to end through the library: every column survives, reruns add
//! nothing, a new file is read alone, repeated eventIDs are stored once, interrupted runs
//! leave no trace.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, StringArray};
use arrow::record_batch::RecordBatch;
use kms_audit::ingest::batch::EventBatchBuilder;
use kms_audit::ingest::lake::Lake;
use kms_audit::ingest::normalize::{normalize, PartitionKey};
use kms_audit::ingest::schema::{self, event_schema};
use kms_audit::ingest::{ingest, IngestOptions, Silent};
use kms_audit::trail::discover::discover;
use kms_audit::trail::record::DeliveryFile;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const EXAMPLES: &str = include_str!("../fixtures/aws-examples/kms-doc-examples.json");

fn read_parts(lake: &Lake) -> Vec<RecordBatch> {
    lake.part_paths()
        .iter()
        .flat_map(|path| {
            let file = File::open(path).expect("part opens");
            ParquetRecordBatchReaderBuilder::try_new(file)
                .expect("parquet")
                .build()
                .expect("reader")
                .map(|b| b.expect("batch"))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn event_ids(lake: &Lake) -> Vec<String> {
    let mut ids: Vec<String> = read_parts(lake)
        .iter()
        .flat_map(|b| {
            let column = b.column_by_name(schema::EVENT_ID).expect("event_id");
            let ids = column.as_any().downcast_ref::<StringArray>().expect("text");
            ids.iter().flatten().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids
}

fn record(id: &str, time: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.11","userIdentity":{{"type":"AWSService","invokedBy":"s3.amazonaws.com"}},"eventTime":"{time}","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"us-east-1","requestParameters":{{"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}},"responseElements":null,"eventID":"{id}","readOnly":true,"resources":[{{"accountId":"111122223333","type":"AWS::KMS::Key","ARN":"arn:aws:kms:us-east-1:111122223333:key/k1"}}],"eventType":"AwsApiCall","recipientAccountId":"111122223333"}}"#
    )
}

fn write_trail(dir: &Path, name: &str, records: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{{\"Records\":[{}]}}", records.join(","))).expect("write");
    path
}

fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

#[test]
fn every_column_survives_the_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file: DeliveryFile = serde_json::from_str(EXAMPLES).expect("fixture");
    let mut builder = EventBatchBuilder::with_capacity(64);
    for (i, record) in file.records.into_iter().enumerate() {
        let row =
            normalize(record, "examples.json", u32::try_from(i).expect("index")).expect("row");
        builder.push(&row);
    }
    let written = builder.finish().expect("batch");
    // Every column has at least one value, so the round trip checks real data.
    for (field, column) in written.schema().fields().iter().zip(written.columns()) {
        assert!(
            column.null_count() < column.len(),
            "column {} is all null in the fixture",
            field.name()
        );
    }
    let mut lake = Lake::open(dir.path()).expect("lake");
    let key = PartitionKey {
        account: "111122223333".into(),
        region: "us-west-2".into(),
        date: "2022-08-10".into(),
    };
    lake.write_part(&key, 1, std::slice::from_ref(&written))
        .expect("part");
    let read = read_parts(&lake);
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].schema(), event_schema());
    assert_eq!(read[0], written);

    // Polars reads the same part with the same values.
    let frame = polars::prelude::LazyFrame::scan_parquet(
        polars::prelude::PlRefPath::new(lake.part_paths()[0].display().to_string()),
        polars::prelude::ScanArgsParquet {
            hive_options: polars::prelude::HiveOptions {
                enabled: Some(false),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .expect("scan")
    .collect()
    .expect("collect");
    assert_eq!(frame.height(), written.num_rows());
    assert_eq!(frame.width(), schema::COLUMNS.len());
}

#[test]
fn reruns_add_nothing_new_files_are_read_alone_and_event_ids_are_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    let lake_dir = dir.path().join("lake");
    write_trail(
        &logs,
        "a.json",
        &[
            record(&uuid(1), "2026-01-01T00:00:00Z"),
            record(&uuid(2), "2026-01-02T00:00:00Z"),
        ],
    );
    // b.json repeats event 2 (CloudTrail delivers duplicates) and adds event 3.
    write_trail(
        &logs,
        "b.json",
        &[
            record(&uuid(2), "2026-01-02T00:00:00Z"),
            record(&uuid(3), "2026-01-02T00:00:01Z"),
        ],
    );

    let options = IngestOptions::default();
    let mut lake = Lake::open(&lake_dir).expect("lake");
    let first = ingest(
        &discover(std::slice::from_ref(&logs)).expect("discover"),
        &mut lake,
        &options,
        &Silent,
    )
    .expect("ingest");
    assert_eq!(
        (
            first.files_ingested,
            first.records_read,
            first.records_stored,
            first.records_duplicate
        ),
        (2, 4, 3, 1)
    );
    assert_eq!(event_ids(&lake), [uuid(1), uuid(2), uuid(3)]);
    let parts = lake.part_paths();
    assert_eq!(parts.len(), 2, "one part per partition (two dates)");
    assert!(parts.iter().any(|p| p
        .to_string_lossy()
        .contains("account=111122223333/region=us-east-1/date=2026-01-01")));

    // Rerun, reopened from disk: nothing read, nothing written.
    let mut lake = Lake::open(&lake_dir).expect("reopen");
    let again = ingest(
        &discover(std::slice::from_ref(&logs)).expect("discover"),
        &mut lake,
        &options,
        &Silent,
    )
    .expect("rerun");
    assert_eq!(
        (
            again.files_unchanged,
            again.files_ingested,
            again.records_read,
            again.parts_written
        ),
        (2, 0, 0, 0)
    );
    assert_eq!(lake.part_paths(), parts);

    // One new file: only it is read; its repeat of event 3 is dropped.
    write_trail(
        &logs,
        "c.json",
        &[
            record(&uuid(3), "2026-01-02T00:00:01Z"),
            record(&uuid(4), "2026-01-03T00:00:00Z"),
        ],
    );
    let mut lake = Lake::open(&lake_dir).expect("reopen");
    let third = ingest(
        &discover(std::slice::from_ref(&logs)).expect("discover"),
        &mut lake,
        &options,
        &Silent,
    )
    .expect("third");
    assert_eq!(
        (
            third.files_unchanged,
            third.files_ingested,
            third.records_read,
            third.records_stored,
            third.records_duplicate
        ),
        (2, 1, 2, 1, 1)
    );
    assert_eq!(event_ids(&lake), [uuid(1), uuid(2), uuid(3), uuid(4)]);
    assert_eq!(
        lake.manifest().runs.len(),
        2,
        "the no-op rerun records no run"
    );

    // The same content under another name is not read again.
    std::fs::copy(logs.join("c.json"), logs.join("c-copy.json")).expect("copy");
    let mut lake = Lake::open(&lake_dir).expect("reopen");
    let copy = ingest(
        &discover(std::slice::from_ref(&logs)).expect("discover"),
        &mut lake,
        &options,
        &Silent,
    )
    .expect("copy");
    assert_eq!(
        (copy.files_unchanged, copy.files_ingested, copy.records_read),
        (4, 0, 0)
    );
}

#[test]
fn an_interrupted_run_leaves_no_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    write_trail(&logs, "a.json", &[record(&uuid(1), "2026-01-01T00:00:00Z")]);
    let lake_dir = dir.path().join("lake");
    let mut lake = Lake::open(&lake_dir).expect("lake");
    ingest(
        &discover(std::slice::from_ref(&logs)).expect("discover"),
        &mut lake,
        &IngestOptions::default(),
        &Silent,
    )
    .expect("ingest");
    // A part written by a run that never saved its manifest.
    let orphan =
        lake_dir.join("events/account=1/region=r/date=2026-01-01/part-00009-000009.parquet");
    std::fs::create_dir_all(orphan.parent().expect("parent")).expect("mkdir");
    std::fs::write(&orphan, b"half a file").expect("write");
    let lake = Lake::open(&lake_dir).expect("reopen");
    assert!(!orphan.exists(), "orphan part removed");
    assert_eq!(event_ids(&lake), [uuid(1)]);
}

#[test]
fn strict_mode_stops_at_the_first_problem_and_commits_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    write_trail(&logs, "a.json", &[record(&uuid(1), "2026-01-01T00:00:00Z")]);
    std::fs::write(logs.join("b.json"), "{\"Records\":[{\"eventTime\":12}]}").expect("write");
    let lake_dir = dir.path().join("lake");
    let mut lake = Lake::open(&lake_dir).expect("lake");
    let options = IngestOptions {
        strict: true,
        ..IngestOptions::default()
    };
    let err = ingest(
        &discover(std::slice::from_ref(&logs)).expect("discover"),
        &mut lake,
        &options,
        &Silent,
    )
    .expect_err("strict");
    let message = err.to_string();
    assert!(
        message.contains("b.json") && message.contains("record 0") && message.contains("--strict"),
        "{message}"
    );
    let lake = Lake::open(&lake_dir).expect("reopen");
    assert!(lake.manifest().files.is_empty() && lake.part_paths().is_empty());
}
