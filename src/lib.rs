//! `runner`: reproducible GAN-based image anomaly-detection experiments.
//!
//! The flow of data goes one way:
//! `spec` (YAML -> checked spec -> job grid) -> `schedule` (plan with keys, skip
//! what `store` holds, run the rest through an `Executor`) -> per job `data`
//! (load, split) -> `detector` (fit, score) -> `metrics` -> `store`;
//! `report` turns stored results into tables and plots.
//!
//! `spec`, `metrics`, `store`, `panics` (panics as job failures) and `device`
//! (the device named on the command line, without burn) are leaves; `schedule` -> spec, data,
//! detector, metrics, store; `report` -> spec, metrics, store; `cli` -> all.
//! `schedule` and `report` never import each other: `cli` joins a plan and
//! the store into the report's input. Only `nn` and `detector` import burn.

pub mod cli;
pub mod data;
pub mod detector;
pub mod device;
pub mod error;
pub mod metrics;
pub mod nn;
pub mod panics;
pub mod report;
pub mod schedule;
pub mod spec;
pub mod store;

pub use error::{Error, Result};
