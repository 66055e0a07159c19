//! Experiment specs: the YAML file a researcher writes, its checks, and the
//! job grid it expands to (`methods x sweeps x classes x seeds`).
//!
//! `ExperimentSpec::load(path)` reads and checks a file into a [`ValidSpec`];
//! every problem becomes a [`SpecError`] naming the file, line and column, the
//! key path (`methods[2].ganomaly.w_con`) and what to do.

pub mod grid;
pub mod methods;
pub mod overrides;
pub mod schema;
pub mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use grid::JobSpec;
pub use methods::{METHOD_NAMES, MethodConfig};
pub use source::{Location, SourceMap};

/// One problem in a spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub location: Option<Location>,
    /// Key path, `methods[2].ganomaly.w_con`; empty for the whole file.
    pub path: String,
    pub message: String,
    pub help: Option<String>,
}

/// Everything wrong with a spec file (at least one problem).
#[derive(Clone, Debug, PartialEq)]
pub struct SpecError {
    pub file: String,
    pub problems: Vec<Diagnostic>,
}

impl std::error::Error for SpecError {}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file)?;
            if let Some(l) = d.location {
                write!(f, ":{}:{}", l.line, l.column)?;
            }
            if d.path.is_empty() {
                write!(f, ": {}", d.message)?;
            } else {
                write!(f, ": `{}`: {}", d.path, d.message)?;
            }
            if let Some(h) = &d.help {
                write!(f, "\n  help: {h}")?;
            }
        }
        Ok(())
    }
}

/// Which class is normal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// The chosen class is the anomaly, every other class is normal (the study's protocol).
    #[default]
    AnomalyClass,
    /// The chosen class is normal, every other class is anomalous.
    OneClass,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::AnomalyClass => "anomaly-class",
            Protocol::OneClass => "one-class",
        }
    }
}

/// The on-disk format of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DataFormat {
    /// IDX files (MNIST, Fashion-MNIST), gzip or not.
    Idx,
    /// CIFAR-10 binary batches (folder or `cifar-10-binary.tar.gz`).
    Cifar10Binary,
    /// `train/<class>/*` and `test/<class>/*` images, in a folder or a `.tar`/`.tar.gz`.
    ImageFolder,
    /// The UCI digits CSV (64 pixels 0..16, then the label).
    DigitsCsv,
}

impl DataFormat {
    /// The name a spec gives it (as serialised: `idx`, `cifar10-binary`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DataFormat::Idx => "idx",
            DataFormat::Cifar10Binary => "cifar10-binary",
            DataFormat::ImageFolder => "image-folder",
            DataFormat::DigitsCsv => "digits-csv",
        }
    }
}

/// Which dataset a spec uses and, optionally, where it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// A known dataset (`mnist`, `fashion-mnist`, `cifar10`, `cifar10-jpeg`,
    /// `digits`) or, with `format`, the name of your own.
    pub name: String,
    /// The format; implied for known datasets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DataFormat>,
    /// Where the files are (a folder or an archive); relative to the spec file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Class names in label order (image folders: fixes the order, else sorted folder names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
}

impl DatasetSpec {
    pub fn named(name: &str) -> Self {
        DatasetSpec {
            name: name.to_string(),
            format: None,
            path: None,
            classes: None,
        }
    }
}

/// A class given by index or by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ClassRef {
    Index(usize),
    Name(String),
}

impl fmt::Display for ClassRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassRef::Index(i) => write!(f, "{i}"),
            ClassRef::Name(n) => write!(f, "{n}"),
        }
    }
}

/// The classes a spec runs: all of them, or a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClassSelection {
    #[default]
    All,
    List(Vec<ClassRef>),
}

/// Sub-sampling for quick runs (deterministic per seed, stratified by class).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Limits {
    /// At most this many training images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train: Option<usize>,
    /// At most this many test images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<usize>,
}

/// Options of the Slurm executor that a spec may carry (the command line wins).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// Wall-time limit per task (`HH:MM:SS` or minutes).
    pub time: Option<String>,
    pub gpus_per_job: Option<u32>,
    pub cpus_per_job: Option<u32>,
    /// Memory per task (`16G`).
    pub mem: Option<String>,
    /// At most this many array tasks at once.
    pub max_parallel: Option<u32>,
    /// Extra arguments passed to `sbatch` as they are.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
}

/// Where a spec's jobs run by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ExecutorSpec {
    Local,
    Slurm(SlurmOptions),
}

/// Reference numbers to print beside the results (e.g. the study's table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Where the numbers come from (printed under the table).
    pub source: String,
    /// The protocol the numbers were measured under.
    #[serde(default)]
    pub protocol: Protocol,
    /// Method name -> AUROC per class, in class-index order.
    pub auroc: BTreeMap<String, Vec<f64>>,
    /// Method name -> the mean AUROC as the source printed it, which may
    /// differ from the mean of its row (the report shows both).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub printed_mean: BTreeMap<String, f64>,
}

/// What a table cell shows beside the mean over seeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CellFormat {
    /// `mean ± half-width` of the 95% Student t confidence interval over seeds.
    #[default]
    MeanCi,
    /// `mean (std)`: the sample standard deviation over seeds.
    MeanStd,
}

/// How the report presents the results (changes no job).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportOptions {
    /// What a table cell shows beside the mean: `mean_ci` (default) or `mean_std`.
    #[serde(default)]
    pub cell: CellFormat,
}

/// One method entry of a spec, expanded over its sweeps.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodEntry {
    /// Position in the spec's `methods` list.
    pub index: usize,
    pub name: String,
    /// One variant per combination of swept values (one when nothing is swept).
    pub variants: Vec<Variant>,
}

/// One concrete parameter set of a method entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub config: MethodConfig,
    /// The swept parameters and their values in this variant (empty if none).
    pub sweep: BTreeMap<String, String>,
}

impl Variant {
    /// `ganomaly` or `ganomaly (w_con=10, lr=0.001)`; an external method
    /// goes by its own name.
    pub fn label(&self) -> String {
        if self.sweep.is_empty() {
            self.config.display_name().to_string()
        } else {
            let parts: Vec<String> = self.sweep.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} ({})", self.config.display_name(), parts.join(", "))
        }
    }
}

/// A spec that passed every check that needs no data.
#[derive(Clone, Debug)]
pub struct ValidSpec {
    /// The file it came from (as given).
    pub file: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub dataset: DatasetSpec,
    pub protocol: Protocol,
    pub classes: ClassSelection,
    pub seeds: Vec<u64>,
    pub limits: Limits,
    pub methods: Vec<MethodEntry>,
    pub reference: Option<Reference>,
    pub executor: Option<ExecutorSpec>,
    pub report: ReportOptions,
    pub source: SourceMap,
}

impl ValidSpec {
    /// A spec error at a key path of this spec (for checks made later, with data).
    pub fn error_at(
        &self,
        path: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) -> SpecError {
        SpecError {
            file: self.file.display().to_string(),
            problems: vec![Diagnostic {
                location: self.source.locate(path),
                path: path.to_string(),
                message: message.into(),
                help,
            }],
        }
    }
}

/// Reads and checks spec files.
pub struct ExperimentSpec;

impl ExperimentSpec {
    /// Reads `path`, applies `--set` overrides, and checks it.
    pub fn load(path: &Path, overrides: &[String]) -> Result<ValidSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: path.display().to_string(),
            problems: vec![Diagnostic {
                location: None,
                path: String::new(),
                message: format!("cannot read the spec: {e}"),
                help: Some("check the path; ready specs are in experiments/".into()),
            }],
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base, overrides)
    }

    /// Checks spec `text`; relative paths in it are taken from `base`.
    pub fn parse(
        text: &str,
        file: &Path,
        base: &Path,
        overrides: &[String],
    ) -> Result<ValidSpec, SpecError> {
        check::parse(text, file, base, overrides)
    }
}

mod check;

#[cfg(test)]
mod tests;
