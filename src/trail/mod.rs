//! CloudTrail as it arrives: files in the S3 layout, gzip, the several JSON shapes users
//! have, and the record model shared by every reader.

pub mod dates;
pub mod decode;
pub mod digest;
pub mod discover;
pub mod problem;
pub mod record;
pub mod shape;
