//! The crate-wide error: each module owns its error type (with the user-facing
//! message: what was wrong, where, what to do) and nests here through `#[from]`.

use thiserror::Error;

/// Any error of the library.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Device(#[from] crate::device::DeviceUnavailable),
    #[error(transparent)]
    Detector(#[from] crate::detector::DetectorError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
}

impl Error {
    /// The process exit code for this error: 2 for a bad spec or bad usage, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Spec(_) => 2,
            _ => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
