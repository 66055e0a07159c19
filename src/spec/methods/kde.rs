//! KDE baseline parameters (defaults: the Deep SVDD baseline, lukasruff/Deep-SVDD
//! src/kde.py: PCA to 95% variance, Gaussian kernel, bandwidth by 5-fold
//! cross-validated log-likelihood over logspace(-4.5, 5, 20, base 2)).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{FieldProblem, MethodParams, check_at_least, check_unit_open};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KdeParams {
    /// Global contrast normalisation (l1) of each image before min-max scaling to [0, 1].
    pub gcn: bool,
    /// Fraction of the training variance that PCA keeps (0 < v < 1); `null` skips PCA.
    pub pca_variance: Option<f64>,
    /// log2 of the smallest bandwidth of the grid.
    pub bandwidth_log2_min: f64,
    /// log2 of the largest bandwidth of the grid.
    pub bandwidth_log2_max: f64,
    /// Number of bandwidths in the grid (log-spaced).
    pub bandwidth_count: usize,
    /// Folds of the cross-validated bandwidth search.
    pub cv_folds: usize,
    /// At most this many training images (drawn with the seed) in the bandwidth
    /// search; `null` uses all of them. The final density always uses every
    /// training image. The search costs about `cv_max_samples^2 * bandwidth_count`
    /// kernel terms: 10,000 keeps it to seconds on MNIST's 54,000 normals
    /// (Deep SVDD searched on all of them, about 30 times the work).
    pub cv_max_samples: Option<usize>,
}

impl Default for KdeParams {
    fn default() -> Self {
        KdeParams {
            gcn: false,
            pca_variance: Some(0.95),
            bandwidth_log2_min: -4.5,
            bandwidth_log2_max: 5.0,
            bandwidth_count: 20,
            cv_folds: 5,
            cv_max_samples: Some(10_000),
        }
    }
}

impl MethodParams for KdeParams {
    const IMPL_VERSION: u32 = 1;
    const SCORE_FIELDS: &'static [&'static str] = &[];

    fn check(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        if let Some(v) = self.pca_variance {
            check_unit_open("pca_variance", v, &mut out);
        }
        if !(self.bandwidth_log2_min.is_finite() && self.bandwidth_log2_max.is_finite())
            || self.bandwidth_log2_min > self.bandwidth_log2_max
        {
            out.push(FieldProblem::new(
                "bandwidth_log2_max",
                format!(
                    "the grid [{}, {}] is empty: the maximum must be >= the minimum",
                    self.bandwidth_log2_min, self.bandwidth_log2_max
                ),
            ));
        }
        check_at_least("bandwidth_count", self.bandwidth_count, 1, &mut out);
        check_at_least("cv_folds", self.cv_folds, 2, &mut out);
        if let Some(n) = self.cv_max_samples {
            check_at_least("cv_max_samples", n, self.cv_folds.max(2), &mut out);
        }
        out
    }
}
