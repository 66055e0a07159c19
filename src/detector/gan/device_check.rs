//! Training on a device against training on the CPU: a few steps of one GAN
//! from the same start on both (same initial weights, batches and random
//! streams, all drawn on the host), their losses and the moves of the
//! scoring networks' weights compared. A wrong kernel, forward or backward,
//! fused or not, shows as a loss or a move apart from the CPU's; the
//! backends' different rounding stays orders of magnitude below the limits.
//! What `runner devices --check` runs for each GAN, and what the GANs'
//! contract asserts on Vulkan.
//!
//! Why the weights' moves and not the weights: after a few Adam steps a
//! weight has moved by about `lr` per step whatever its gradient's size, so
//! the weights themselves agree to the rounding of a step even when every
//! gradient is wrong; their moves do not.

use super::{Gan, Step, Training};
use crate::data::ImageSet;
use crate::detector::DetectorError;
use crate::device::DeviceChoice;
use crate::nn::burn_device::burn_device;
use crate::nn::host::{read, read_values};

/// The largest relative difference of a loss between the devices.
pub const LOSS_LIMIT: f64 = 1e-3;
/// The largest difference between a weight tensor's moves on the two
/// devices, relative to its move on the CPU (RMS over its numbers).
pub const MOVE_LIMIT: f64 = 0.05;
/// A tensor that barely moves is measured against this share of the largest
/// tensor's move instead of its own: a bias before a batch normalisation
/// has a gradient of rounding noise, which Adam scales up to a full step.
const MOVE_FLOOR: f64 = 0.05;

/// How a device's training steps compare with the CPU's.
#[derive(Clone, Debug)]
pub struct StepComparison {
    pub steps: usize,
    /// Largest relative loss difference (infinite when a loss is not
    /// finite on one device only, or on both).
    pub worst_loss: f64,
    /// Where: `step 2, the generator loss`.
    pub worst_loss_at: String,
    /// Largest relative difference of a weight tensor's move.
    pub worst_move: f64,
    /// Which tensor: its position among the scoring networks' parameters
    /// and its number of values.
    pub worst_move_at: String,
}

impl StepComparison {
    /// Both within their limits.
    pub fn agrees(&self) -> bool {
        self.worst_loss <= LOSS_LIMIT && self.worst_move <= MOVE_LIMIT
    }
}

/// What one device's steps give: each step's losses, and the scoring
/// networks' parameters before and after.
struct Trace {
    losses: Vec<Vec<f32>>,
    start: Vec<Vec<f32>>,
    end: Vec<Vec<f32>>,
}

/// `steps` training steps of `params` on `normal` from `seed`, on `device`
/// and on the CPU, compared.
pub fn compare_steps<P: Gan>(
    params: &P,
    normal: &ImageSet,
    device: DeviceChoice,
    steps: usize,
    seed: u64,
) -> Result<StepComparison, DetectorError> {
    let cpu = trace(params, normal, DeviceChoice::Cpu, steps, seed)?;
    let other = trace(params, normal, device, steps, seed)?;
    Ok(compare::<P>(&cpu, &other, steps))
}

fn trace<P: Gan>(
    params: &P,
    normal: &ImageSet,
    choice: DeviceChoice,
    steps: usize,
    seed: u64,
) -> Result<Trace, DetectorError> {
    let device = burn_device(choice)?;
    let net = params.net(normal)?;
    let (mut trainer, images) = params.trainer(&net, normal, seed, &device)?;
    let start = float_params(&P::scorer(&trainer))?;
    let n = images.len();
    if n < 2 {
        return Err(DetectorError::TooFewImages(n));
    }
    let batch = trainer.budget().batch_size.min(n);
    let mut losses = Vec::with_capacity(steps);
    for index in 0..steps {
        // Fixed batches, another one per step and per shuffle.
        let orders: Vec<Vec<usize>> = (0..P::Trainer::SHUFFLES)
            .map(|s| (0..batch).map(|i| (i + 5 * index + 3 * s) % n).collect())
            .collect();
        let batches: Vec<&[usize]> = orders.iter().map(Vec::as_slice).collect();
        let step = Step {
            epoch: 0,
            index,
            total: steps,
            batches: &batches,
        };
        let values = read_values(trainer.step(&images, &step));
        trainer.losses_read(&values);
        losses.push(values);
    }
    let end = float_params(&P::scorer(&trainer))?;
    Ok(Trace { losses, start, end })
}

/// The float parameters of `module`, each flattened, in visiting order.
fn float_params<M: burn::module::Module>(module: &M) -> Result<Vec<Vec<f32>>, DetectorError> {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Tensor;
    struct Values(Vec<Result<Vec<f32>, String>>);
    impl ModuleVisitor for Values {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            let n = t.shape().num_elements();
            self.0.push(read(t.reshape([n])));
        }
    }
    let mut values = Values(Vec::new());
    module.visit(&mut values);
    values
        .0
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(DetectorError::WeightData)
}

fn compare<P: Gan>(cpu: &Trace, other: &Trace, steps: usize) -> StepComparison {
    let mut worst_loss = (0.0f64, String::new());
    for (index, (a, b)) in cpu.losses.iter().zip(&other.losses).enumerate() {
        for ((&x, &y), loss) in a.iter().zip(b).zip(P::Trainer::LOSSES) {
            let (x, y) = (f64::from(x), f64::from(y));
            let diff = (x - y).abs() / x.abs().max(1e-3);
            let diff = if diff.is_finite() {
                diff
            } else {
                f64::INFINITY
            };
            if diff > worst_loss.0 || worst_loss.1.is_empty() {
                worst_loss = (diff, format!("step {}, {}", index + 1, loss.what));
            }
        }
    }
    // Per tensor, as RMS over its numbers: the move on the CPU, and the
    // difference between the two devices' moves.
    let moves: Vec<(f64, f64, usize)> = cpu
        .start
        .iter()
        .zip(&cpu.end)
        .zip(other.start.iter().zip(&other.end))
        .map(|((a0, a1), (b0, b1))| {
            let (mut moved, mut apart) = (0.0f64, 0.0f64);
            for (((p0, p1), q0), q1) in a0.iter().zip(a1).zip(b0).zip(b1) {
                let (da, db) = (f64::from(p1 - p0), f64::from(q1 - q0));
                moved += da * da;
                // The starts are the same numbers (drawn on the host), so a
                // difference in them counts too.
                apart += (da - db) * (da - db) + f64::from(p0 - q0).powi(2);
            }
            let n = a0.len().max(1) as f64;
            ((moved / n).sqrt(), (apart / n).sqrt(), a0.len())
        })
        .collect();
    let largest = moves.iter().fold(0.0f64, |m, &(moved, ..)| m.max(moved));
    let mut worst_move = (0.0f64, String::new());
    for (i, &(moved, apart, len)) in moves.iter().enumerate() {
        let rel = apart / moved.max(MOVE_FLOOR * largest).max(f64::MIN_POSITIVE);
        let rel = if rel.is_finite() { rel } else { f64::INFINITY };
        if rel > worst_move.0 || worst_move.1.is_empty() {
            worst_move = (rel, format!("weight tensor {} ({len} values)", i + 1));
        }
    }
    StepComparison {
        steps,
        worst_loss: worst_loss.0,
        worst_loss_at: worst_loss.1,
        worst_move: worst_move.0,
        worst_move_at: worst_move.1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(losses: Vec<Vec<f32>>, start: Vec<Vec<f32>>, end: Vec<Vec<f32>>) -> Trace {
        Trace { losses, start, end }
    }

    /// The measures see what they are for: equal traces agree; a loss off
    /// by 1%, a NaN loss, a tensor moved the other way, a different start
    /// each disagree; a tensor that barely moves is measured against the
    /// floor, not its own move.
    #[test]
    fn comparisons_flag_what_differs_and_forgive_rounding() {
        type P = crate::spec::methods::GanomalyParams;
        let losses = vec![vec![1.0f32, 2.0, 3.0]; 2];
        let start = vec![vec![0.0f32; 4], vec![1.0f32; 2]];
        let end = vec![vec![0.1f32, -0.1, 0.1, -0.1], vec![1.0 + 1e-9f32, 1.0]];
        let cpu = trace(losses.clone(), start.clone(), end.clone());
        let same = compare::<P>(&cpu, &cpu, 2);
        assert!(same.agrees(), "{same:?}");
        assert_eq!((same.worst_loss, same.worst_move), (0.0, 0.0));

        let mut off = losses.clone();
        off[1][2] = 3.0 * 1.01;
        let c = compare::<P>(&cpu, &trace(off, start.clone(), end.clone()), 2);
        assert!(!c.agrees() && (c.worst_loss - 0.01).abs() < 1e-6, "{c:?}");
        assert_eq!(c.worst_loss_at, "step 2, the contextual loss");

        let mut nan = losses.clone();
        nan[0][0] = f32::NAN;
        let c = compare::<P>(&cpu, &trace(nan, start.clone(), end.clone()), 2);
        assert!(c.worst_loss.is_infinite() && !c.agrees(), "{c:?}");

        let mut flipped = end.clone();
        flipped[0] = vec![-0.1, 0.1, -0.1, 0.1];
        let c = compare::<P>(&cpu, &trace(losses.clone(), start.clone(), flipped), 2);
        assert!(!c.agrees() && (c.worst_move - 2.0).abs() < 1e-6, "{c:?}");
        assert_eq!(c.worst_move_at, "weight tensor 1 (4 values)");

        let mut shifted = start.clone();
        shifted[0][0] = 0.5;
        let c = compare::<P>(&cpu, &trace(losses.clone(), shifted, end.clone()), 2);
        assert!(!c.agrees(), "{c:?}");

        // Tensor 2 moves by 1e-9 on the CPU and 1e-4 elsewhere: 1e5 times
        // its own move, but 1% of the floor (5% of tensor 1's 0.1).
        let mut noisy = end.clone();
        noisy[1][0] = 1.0 + 1e-4;
        let c = compare::<P>(&cpu, &trace(losses, start, noisy), 2);
        assert!(c.agrees(), "{c:?}");
        assert!(c.worst_move > 0.005 && c.worst_move < 0.02, "{c:?}");
    }
}
