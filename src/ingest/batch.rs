//! Turns normalized rows into Arrow record batches of the event table.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int32Builder, StringBuilder, TimestampMicrosecondBuilder,
    UInt32Builder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::ingest::schema::{self, event_schema};

/// Optional text that is borrowed from the input buffer where possible.
pub type Text<'a> = Option<Cow<'a, str>>;

macro_rules! event_table {
    ($( $field:ident : $ty:ty => $builder:ident = $new:expr ),* $(,)?) => {
        /// One normalized event, borrowing from the decoded file where it can.
        /// Field order and names follow [`schema::COLUMNS`].
        #[derive(Debug, Default, Clone, PartialEq)]
        pub struct EventRow<'a> {
            $( pub $field: $ty, )*
        }

        /// Arrow builders for a batch of [`EventRow`]s.
        pub struct EventBatchBuilder {
            $( $field: $builder, )*
            rows: usize,
            bytes: usize,
        }

        impl EventBatchBuilder {
            /// An empty builder sized for about `rows` rows.
            pub fn with_capacity(rows: usize) -> Self {
                #[allow(clippy::redundant_closure_call)]
                Self { $( $field: ($new)(rows), )* rows: 0, bytes: 0 }
            }

            /// Appends one row.
            pub fn push(&mut self, row: &EventRow<'_>) {
                $( self.bytes += Append::append(&mut self.$field, &row.$field); )*
                self.rows += 1;
            }

            /// Builds the record batch and resets the builder.
            pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
                let columns: Vec<ArrayRef> = vec![ $( Arc::new(self.$field.finish()) as ArrayRef, )* ];
                self.rows = 0;
                self.bytes = 0;
                let schema = event_schema();
                RecordBatch::try_new(schema, columns)
            }
        }

        impl EventRow<'_> {
            /// The first text field longer than `limit` bytes, with its length.
            pub fn oversized_field(&self, limit: usize) -> Option<(&'static str, usize)> {
                $( let len = TextLen::text_len(&self.$field);
                if len > limit {
                    return Some((stringify!($field), len));
                } )*
                None
            }
        }

        #[cfg(test)]
        const FIELD_NAMES: &[&str] = &[ $( stringify!($field), )* ];
    };
}

/// A column builder that takes one field of an [`EventRow`]; returns the bytes it added.
trait Append<T: ?Sized> {
    fn append(&mut self, value: &T) -> usize;
}

impl Append<Text<'_>> for StringBuilder {
    fn append(&mut self, value: &Text<'_>) -> usize {
        match value {
            Some(text) => {
                self.append_value(text);
                text.len() + 4
            }
            None => {
                self.append_null();
                4
            }
        }
    }
}

impl Append<i64> for TimestampMicrosecondBuilder {
    fn append(&mut self, value: &i64) -> usize {
        self.append_value(*value);
        8
    }
}

impl Append<Option<i64>> for TimestampMicrosecondBuilder {
    fn append(&mut self, value: &Option<i64>) -> usize {
        self.append_option(*value);
        8
    }
}

impl Append<Option<bool>> for BooleanBuilder {
    fn append(&mut self, value: &Option<bool>) -> usize {
        self.append_option(*value);
        1
    }
}

impl Append<Option<i32>> for Int32Builder {
    fn append(&mut self, value: &Option<i32>) -> usize {
        self.append_option(*value);
        4
    }
}

impl Append<Cow<'_, str>> for StringBuilder {
    fn append(&mut self, value: &Cow<'_, str>) -> usize {
        self.append_value(value);
        value.len() + 4
    }
}

impl Append<u32> for UInt32Builder {
    fn append(&mut self, value: &u32) -> usize {
        self.append_value(*value);
        4
    }
}

/// The length of a text field; zero for other kinds.
trait TextLen {
    fn text_len(&self) -> usize;
}

impl TextLen for Text<'_> {
    fn text_len(&self) -> usize {
        self.as_ref().map_or(0, |t| t.len())
    }
}

impl TextLen for Cow<'_, str> {
    fn text_len(&self) -> usize {
        self.len()
    }
}

macro_rules! not_text {
    ($($t:ty),*) => { $( impl TextLen for $t { fn text_len(&self) -> usize { 0 } } )* };
}
not_text!(i64, Option<i64>, Option<bool>, Option<i32>, u32);

/// Text columns sized for typical values, so that builders rarely grow (each growth copies).
fn text(rows: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * 24)
}
fn long_text(rows: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * 96)
}
fn json_text(rows: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * 256)
}
fn time(rows: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(rows).with_timezone(schema::UTC)
}
fn flag(rows: usize) -> BooleanBuilder {
    BooleanBuilder::with_capacity(rows)
}

event_table! {
    event_time: i64 => TimestampMicrosecondBuilder = time,
    event_version: Text<'a> => StringBuilder = text,
    event_source: Cow<'a, str> => StringBuilder = text,
    event_name: Cow<'a, str> => StringBuilder = text,
    event_type: Text<'a> => StringBuilder = text,
    event_category: Text<'a> => StringBuilder = text,
    aws_region: Text<'a> => StringBuilder = text,
    recipient_account_id: Text<'a> => StringBuilder = text,
    principal: Text<'a> => StringBuilder = long_text,
    principal_type: Text<'a> => StringBuilder = text,
    principal_arn: Text<'a> => StringBuilder = long_text,
    principal_account: Text<'a> => StringBuilder = text,
    principal_id: Text<'a> => StringBuilder = text,
    principal_name: Text<'a> => StringBuilder = text,
    access_key_id: Text<'a> => StringBuilder = text,
    session_issuer_arn: Text<'a> => StringBuilder = long_text,
    session_issuer_type: Text<'a> => StringBuilder = text,
    invoked_by: Text<'a> => StringBuilder = text,
    mfa_authenticated: Option<bool> => BooleanBuilder = flag,
    console_session: Option<bool> => BooleanBuilder = flag,
    source_ip: Text<'a> => StringBuilder = text,
    user_agent: Text<'a> => StringBuilder = long_text,
    vpc_endpoint_id: Text<'a> => StringBuilder = text,
    error_code: Text<'a> => StringBuilder = text,
    error_message: Text<'a> => StringBuilder = long_text,
    key_arn: Text<'a> => StringBuilder = long_text,
    key_account: Text<'a> => StringBuilder = text,
    key_ref: Text<'a> => StringBuilder = text,
    encryption_context: Text<'a> => StringBuilder = long_text,
    key_material_id: Text<'a> => StringBuilder = text,
    key_spec: Text<'a> => StringBuilder = text,
    key_usage: Text<'a> => StringBuilder = text,
    key_origin: Text<'a> => StringBuilder = text,
    key_manager: Text<'a> => StringBuilder = text,
    key_created_at: Option<i64> => TimestampMicrosecondBuilder = time,
    deletion_date: Option<i64> => TimestampMicrosecondBuilder = time,
    valid_to: Option<i64> => TimestampMicrosecondBuilder = time,
    rotation_period_days: Option<i32> => Int32Builder = Int32Builder::with_capacity,
    read_only: Option<bool> => BooleanBuilder = flag,
    management_event: Option<bool> => BooleanBuilder = flag,
    event_id: Text<'a> => StringBuilder = text,
    request_id: Text<'a> => StringBuilder = text,
    shared_event_id: Text<'a> => StringBuilder = text,
    request_parameters: Text<'a> => StringBuilder = json_text,
    response_elements: Text<'a> => StringBuilder = text,
    additional_event_data: Text<'a> => StringBuilder = long_text,
    resources: Text<'a> => StringBuilder = long_text,
    service_event_details: Text<'a> => StringBuilder = text,
    source_file: Cow<'a, str> => StringBuilder = long_text,
    source_record: u32 => UInt32Builder = UInt32Builder::with_capacity,
}

impl EventBatchBuilder {
    /// Rows appended since the last [`EventBatchBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended since the last finish.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate bytes held by the builders.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_fields_follow_the_schema() {
        let columns: Vec<&str> = schema::COLUMNS.iter().map(|c| c.0).collect();
        assert_eq!(FIELD_NAMES, columns.as_slice());
    }

    #[test]
    fn builds_a_batch_with_the_event_schema() {
        let mut builder = EventBatchBuilder::with_capacity(2);
        let row = EventRow {
            event_time: 1_700_000_000_000_000,
            event_source: "kms.amazonaws.com".into(),
            event_name: "Decrypt".into(),
            read_only: Some(true),
            source_file: "a.json".into(),
            ..EventRow::default()
        };
        builder.push(&row);
        builder.push(&row);
        assert_eq!(builder.len(), 2);
        let batch = builder.finish().expect("batch");
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), event_schema());
        assert!(builder.is_empty());
    }
}
