//! `runner devices --check DEVICE`: every GAN of a spec (the quickstart's by
//! default) trained a few steps on DEVICE and on the CPU from the same start
//! and compared (`detector::gan::device_check`): one row per method with the
//! largest loss and weight-move differences, and exit status 1 when a
//! method trains otherwise on DEVICE than on the CPU.

use std::io::Write;
use std::path::Path;

use super::DevicesArgs;
use crate::data;
use crate::detector::gan::device_check::{LOSS_LIMIT, MOVE_LIMIT, StepComparison};
use crate::device::DeviceChoice;
use crate::spec::ExperimentSpec;

/// The spec checked when none is given: the quickstart's small networks on
/// the embedded digits (no data to find, a few seconds per method).
const QUICKSTART: &str = include_str!("../../experiments/quickstart.yaml");

/// At most this many training images (the spec's `train_limit` when
/// smaller), drawn as the spec's limits are: enough for the steps' batches.
const CHECK_IMAGES: usize = 1000;

pub(super) fn exec(device: DeviceChoice, args: &DevicesArgs) -> anyhow::Result<u8> {
    let spec = match &args.spec {
        Some(path) => ExperimentSpec::load(path, &args.sets),
        None => ExperimentSpec::parse(
            QUICKSTART,
            Path::new("experiments/quickstart.yaml"),
            Path::new("."),
            &args.sets,
        ),
    }
    .map_err(crate::Error::from)?;
    // A device this build lacks is said before any data is read; a missing
    // driver or adapter by the first method that asks for it (below).
    device.check_available().map_err(crate::Error::from)?;
    let located = data::locate(&spec.dataset, &super::data_options(args.offline))
        .map_err(crate::Error::from)?;
    let ds = data::load(&located).map_err(crate::Error::from)?;
    let classes =
        crate::spec::grid::resolve_classes(&spec, &ds.classes).map_err(crate::Error::from)?;
    let (Some(&class), Some(&seed)) = (classes.first(), spec.seeds.first()) else {
        anyhow::bail!(
            "{}: the spec selects no class or no seed",
            spec.file.display()
        );
    };
    // A few batches are all the steps take: fewer images to prepare.
    let limits = crate::spec::Limits {
        train: Some(spec.limits.train.unwrap_or(CHECK_IMAGES).min(CHECK_IMAGES)),
        ..spec.limits
    };
    let split = data::split(&ds, spec.protocol, class, seed, limits).map_err(crate::Error::from)?;
    let steps = usize::from(args.steps);
    println!(
        "Training on {device} against the CPU: {steps} step(s) of each GAN of `{}` ({}, {} protocol, class {class} ({}), seed {seed}, {} training images), from the same start on both.",
        spec.name,
        ds.id.name,
        spec.protocol.as_str(),
        ds.classes[class],
        split.train.len(),
    );
    if let Some(kernels) = super::devices::gpu_kernels() {
        println!("GPU kernels of this build: {kernels}.");
    }
    println!(
        "{}",
        line(&["METHOD", "LOSSES", "WEIGHTS", "TRAINING"].map(str::to_string))
    );
    let (mut differ, mut compared) = (Vec::new(), 0);
    for entry in &spec.methods {
        let Some(variant) = entry.variants.first() else {
            continue;
        };
        let detector = crate::detector::build(&variant.config);
        let outcome =
            crate::panics::catch(|| detector.compare_devices(&split.train, device, steps, seed));
        let row = match outcome {
            Ok(None) => Row::skipped(&entry.name),
            Ok(Some(Ok(c))) => Row::compared(&entry.name, &c),
            // A device that cannot be used here: said once, as `runner run` says it.
            Ok(Some(Err(e))) if e.is_device_unusable() => {
                return Err(crate::Error::from(e).into());
            }
            Ok(Some(Err(e))) => Row::failed(&entry.name, &e.to_string()),
            Err(panic) => Row::failed(&entry.name, &format!("panicked: {panic}")),
        };
        if !row.agrees {
            differ.push(entry.name.clone());
        }
        compared += usize::from(!row.skipped);
        // Each row as it comes: a check on a slow device takes minutes.
        println!("{}", line(&row.cells));
        if let Some(detail) = &row.detail {
            println!("  {detail}");
        }
        let _ = std::io::stdout().flush();
    }
    println!(
        "Limits: each loss within {LOSS_LIMIT:e} (relative) of the CPU's; each weight tensor's move within {MOVE_LIMIT} (relative) of the CPU's."
    );
    if compared == 0 {
        anyhow::bail!(
            "{}: no method of this spec trains on a device (the check compares GANs); give a spec with one",
            spec.file.display()
        );
    }
    if differ.is_empty() {
        println!("{device} trains every GAN as the CPU does, up to rounding.");
        Ok(0)
    } else {
        println!(
            "{device} trains {} otherwise than the CPU: models trained there are not the method's. A build with burn's kernel fusion or autotuning (the line above) can be the cause: check a build without them (docs/gpu.md); else report this output.",
            differ.join(", ")
        );
        Ok(1)
    }
}

/// One method's line, and what differs (printed under it).
struct Row {
    cells: [String; 4],
    detail: Option<String>,
    agrees: bool,
    /// Not compared: the method computes on the CPU.
    skipped: bool,
}

impl Row {
    fn compared(method: &str, c: &StepComparison) -> Row {
        let mut apart = Vec::new();
        if c.worst_loss.is_infinite() {
            apart.push(format!(
                "{} is not finite on one device or both",
                c.worst_loss_at
            ));
        } else if c.worst_loss > LOSS_LIMIT {
            apart.push(format!("{} is {:.1e} apart", c.worst_loss_at, c.worst_loss));
        }
        if c.worst_move.is_infinite() {
            apart.push(format!(
                "{} is not finite on one device or both",
                c.worst_move_at
            ));
        } else if c.worst_move > MOVE_LIMIT {
            apart.push(format!(
                "{} moved {:.1e} apart",
                c.worst_move_at, c.worst_move
            ));
        }
        let agrees = c.agrees();
        Row {
            cells: [
                method.to_string(),
                format!("{:.1e}", c.worst_loss),
                format!("{:.1e}", c.worst_move),
                if agrees { "same" } else { "DIFFERS" }.to_string(),
            ],
            detail: (!apart.is_empty()).then(|| format!("{method}: {}", apart.join("; "))),
            agrees,
            skipped: false,
        }
    }

    fn skipped(method: &str) -> Row {
        Row {
            cells: [method, "-", "-", "computes on the CPU"].map(str::to_string),
            detail: None,
            agrees: true,
            skipped: true,
        }
    }

    fn failed(method: &str, why: &str) -> Row {
        Row {
            cells: [method, "-", "-", "FAILED"].map(str::to_string),
            detail: Some(format!("{method}: {why}")),
            agrees: false,
            skipped: false,
        }
    }
}

/// A line of the table: method, losses, weights, verdict.
fn line(cells: &[String; 4]) -> String {
    let [a, b, c, d] = cells;
    format!("{a:<10}  {b:<9}  {c:<9}  {d}")
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(worst_loss: f64, worst_move: f64) -> StepComparison {
        StepComparison {
            steps: 3,
            worst_loss,
            worst_loss_at: "step 2, the generator loss".into(),
            worst_move,
            worst_move_at: "weight tensor 4 (64 values)".into(),
        }
    }

    /// A method within both limits is "same" with no detail; beyond one,
    /// "DIFFERS" and the detail names the loss or the tensor; a method off
    /// the device agrees, one that failed does not.
    #[test]
    fn rows_say_what_differs() {
        let same = Row::compared("ganomaly", &comparison(1.6e-7, 1.7e-7));
        assert!(same.agrees && same.detail.is_none());
        assert_eq!(line(&same.cells), "ganomaly    1.6e-7     1.7e-7     same");

        let nan = Row::compared("alad", &comparison(f64::INFINITY, 0.01));
        assert!(!nan.agrees);
        assert_eq!(nan.cells[1], "inf");
        assert_eq!(
            nan.detail.as_deref(),
            Some("alad: step 2, the generator loss is not finite on one device or both")
        );
        let moved = Row::compared("ocgan", &comparison(1e-5, 0.3));
        assert!(!moved.agrees);
        assert_eq!(
            moved.detail.as_deref(),
            Some("ocgan: weight tensor 4 (64 values) moved 3.0e-1 apart")
        );

        assert!(Row::skipped("kde").agrees);
        let failed = Row::failed("anogan", "device vulkan: no Vulkan driver found");
        assert!(!failed.agrees);
        assert_eq!(failed.cells[3], "FAILED");
    }
}
