//! The Parquet lake on disk: Hive-partitioned part files under `events/`, the manifest
//! beside them, and the `eventID` index that keeps each event stored once.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, StringArray};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::Result;
use crate::ingest::manifest::{lake_error, Manifest, ManifestPart};
use crate::ingest::normalize::PartitionKey;
use crate::ingest::schema::{self, event_schema, SCHEMA_VERSION, SCHEMA_VERSION_METADATA_KEY};

/// The directory under the lake root that holds the partitions.
pub const EVENTS_DIR: &str = "events";

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// A lake directory opened for reading and writing.
#[derive(Debug)]
pub struct Lake {
    root: PathBuf,
    manifest: Manifest,
    /// Parts named but not yet added.
    reserved: usize,
}

impl Lake {
    /// Opens the lake at `root`, creating it if needed, and removes part files that no
    /// manifest lists (left by an interrupted run).
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root.join(EVENTS_DIR))
            .map_err(|err| lake_error(root, format!("cannot be created: {err}")))?;
        let manifest = Manifest::load(root)?;
        let lake = Self {
            root: root.to_path_buf(),
            manifest,
            reserved: 0,
        };
        lake.remove_orphans()?;
        Ok(lake)
    }

    /// The lake directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest as last saved or updated.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Mutable manifest, for the ingest run that updates it.
    pub fn manifest_mut(&mut self) -> &mut Manifest {
        &mut self.manifest
    }

    /// Absolute paths of every part file, in writing order.
    pub fn part_paths(&self) -> Vec<PathBuf> {
        self.manifest
            .parts
            .iter()
            .map(|p| self.root.join(&p.path))
            .collect()
    }

    /// Saves the manifest: the commit point of an ingest run.
    pub fn commit(&self) -> Result<()> {
        self.manifest.save(&self.root)
    }

    fn remove_orphans(&self) -> Result<()> {
        let listed: HashSet<PathBuf> = self.part_paths().into_iter().collect();
        for entry in walkdir::WalkDir::new(self.root.join(EVENTS_DIR))
            .into_iter()
            .flatten()
        {
            let path = entry.path();
            let is_part = path
                .extension()
                .is_some_and(|e| e == "parquet" || e == "tmp");
            if entry.file_type().is_file() && is_part && !listed.contains(path) {
                std::fs::remove_file(path).map_err(|err| {
                    lake_error(path, format!("orphan part cannot be removed: {err}"))
                })?;
            }
        }
        Ok(())
    }

    /// Reads the `eventID`s already stored, for de-duplication.
    pub fn stored_event_ids(&self) -> Result<EventIdSet> {
        let mut ids = EventIdSet::default();
        for path in self.part_paths() {
            let file = File::open(&path)
                .map_err(|err| lake_error(&path, format!("cannot be opened: {err}")))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|err| {
                lake_error(&path, format!("is not a readable Parquet file: {err}"))
            })?;
            let index = builder.schema().index_of(schema::EVENT_ID).map_err(|err| {
                lake_error(&path, format!("has no {} column: {err}", schema::EVENT_ID))
            })?;
            let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
            let reader = builder
                .with_projection(mask)
                .build()
                .map_err(|err| lake_error(&path, format!("cannot be read: {err}")))?;
            for batch in reader {
                let batch =
                    batch.map_err(|err| lake_error(&path, format!("cannot be read: {err}")))?;
                if let Some(column) = batch.column(0).as_any().downcast_ref::<StringArray>() {
                    for id in column.iter().flatten() {
                        ids.insert(id);
                    }
                }
            }
        }
        Ok(ids)
    }

    /// Names the next part file of partition `key` for run `run`. The part joins the lake
    /// when [`Lake::add_part`] is given the written result.
    pub fn reserve_part(&mut self, key: &PartitionKey, run: u32) -> PendingPart {
        let sequence = self.manifest.parts.len() + self.reserved;
        self.reserved += 1;
        let relative = format!(
            "{EVENTS_DIR}/{}/part-{run:05}-{sequence:06}.parquet",
            key.relative_dir()
        );
        PendingPart {
            path: self.root.join(&relative),
            relative,
            run,
            sequence,
        }
    }

    /// Records a written part in the manifest (saved by [`Lake::commit`]).
    pub fn add_part(&mut self, part: ManifestPart) {
        self.manifest.parts.push(part);
        self.reserved = self.reserved.saturating_sub(1);
    }

    /// Writes `batches` (all of one partition) as a new part of run `run`, at once.
    pub fn write_part(
        &mut self,
        key: &PartitionKey,
        run: u32,
        batches: &[RecordBatch],
    ) -> Result<ManifestPart> {
        let part = self.reserve_part(key, run).write(batches)?;
        self.add_part(part.clone());
        Ok(part)
    }
}

/// A part file named but not yet written; [`PendingPart::write`] may run on any thread.
#[derive(Debug)]
pub struct PendingPart {
    path: PathBuf,
    relative: String,
    run: u32,
    /// Order of reservation, for a manifest in writing order.
    pub sequence: usize,
}

impl PendingPart {
    /// Writes the part (to a temporary name, then renamed) and describes it.
    pub fn write(self, batches: &[RecordBatch]) -> Result<ManifestPart> {
        let tmp = self.path.with_extension("tmp");
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|err| lake_error(parent, format!("cannot be created: {err}")))?;
        }
        let rows = write_parquet(&tmp, batches).map_err(|message| lake_error(&tmp, message))?;
        std::fs::rename(&tmp, &self.path)
            .map_err(|err| lake_error(&self.path, format!("cannot be written: {err}")))?;
        Ok(ManifestPart {
            path: self.relative,
            rows,
            run: self.run,
        })
    }
}

fn write_parquet(path: &Path, batches: &[RecordBatch]) -> std::result::Result<u64, String> {
    let file = File::create(path).map_err(|err| format!("cannot be created: {err}"))?;
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(|e| e.to_string())?,
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            SCHEMA_VERSION_METADATA_KEY.to_owned(),
            SCHEMA_VERSION.to_string(),
        )]));
    // Unique ids and raw JSON gain nothing from dictionaries or min/max statistics.
    for column in schema::UNIQUE_TEXT_COLUMNS {
        let path = ColumnPath::from(*column);
        properties = properties
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_statistics_enabled(path, EnabledStatistics::None);
    }
    let properties = properties.build();
    let mut writer = ArrowWriter::try_new(file, event_schema(), Some(properties))
        .map_err(|err| format!("cannot start Parquet: {err}"))?;
    let mut rows = 0u64;
    for batch in batches {
        writer
            .write(batch)
            .map_err(|err| format!("cannot write Parquet: {err}"))?;
        rows += batch.num_rows() as u64;
    }
    writer
        .close()
        .map_err(|err| format!("cannot finish Parquet: {err}"))?;
    Ok(rows)
}

/// The set of stored `eventID`s. CloudTrail's ids are UUIDs, kept as 128-bit numbers; any
/// other id is kept as text.
#[derive(Debug, Default)]
pub struct EventIdSet {
    uuids: HashSet<u128>,
    others: HashSet<String>,
}

impl EventIdSet {
    /// Adds `id`; returns false if it was already present.
    pub fn insert(&mut self, id: &str) -> bool {
        match parse_uuid(id) {
            Some(n) => self.uuids.insert(n),
            None => self.others.insert(id.to_owned()),
        }
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A lowercase or uppercase `8-4-4-4-12` hex UUID as a number.
fn parse_uuid(id: &str) -> Option<u128> {
    let b = id.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut n: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        // Case matters for text ids; fold it only where it cannot: hex digits.
        let digit = (c as char).to_digit(16)?;
        if c.is_ascii_uppercase() {
            return None;
        }
        n = (n << 4) | u128::from(digit);
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_uuid_and_text() {
        let mut ids = EventIdSet::default();
        assert!(ids.insert("0a3b2bd0-5bdb-4a33-8b6c-7a1c7f3a4e11"));
        assert!(!ids.insert("0a3b2bd0-5bdb-4a33-8b6c-7a1c7f3a4e11"));
        assert!(
            ids.insert("0A3B2BD0-5BDB-4A33-8B6C-7A1C7F3A4E11"),
            "case-distinct text id"
        );
        assert!(ids.insert("not-a-uuid"));
        assert!(!ids.insert("not-a-uuid"));
        assert_eq!(ids.len(), 3);
        assert_eq!(parse_uuid("0a3b2bd0-5bdb-4a33-8b6c-7a1c7f3a4e1g"), None);
    }
}
