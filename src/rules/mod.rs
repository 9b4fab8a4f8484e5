//! Declarative rules over the event table: rule files (kms-audit's format and Sigma) are
//! loaded and validated once ([`loader`]), their Sigma detections compiled ([`sigma`]) into
//! one Polars pass over the lake for all match rules ([`plan`], [`eval`]), and the matching
//! events grouped into findings with evidence ([`finding`]). Every rule carries test cases,
//! run through the real ingest pipeline ([`testing`]); [`lint`] checks the pack's
//! conventions. The default pack is built into the binary ([`pack`]).
//!
//! Fields: a rule names CloudTrail fields by their dotted paths. Fields the lake keeps as
//! columns are read from the column; paths below `requestParameters`, `responseElements`,
//! `additionalEventData`, `resources` and `serviceEventDetails` are extracted from the raw
//! JSON text the lake keeps for them ([`fields`]).

pub mod config;
pub mod error;
pub mod eval;
pub mod fields;
pub mod finding;
pub mod lint;
pub mod loader;
pub mod model;
pub mod pack;
pub mod params;
pub mod plan;
pub mod render;
pub mod sigma;
pub mod state;
pub mod testing;
pub mod views;
pub mod waiver;
pub mod window;
pub mod yaml;

pub use error::{ErrorKind, EvalError, RuleError, RuleWarning};
pub use eval::{evaluate, scan_parts, EvalOptions, MatchOutcome};
pub use finding::{Evidence, Finding};
pub use loader::{load_bundled, load_paths, Loaded};
pub use model::{Kind, Rule, Severity};
