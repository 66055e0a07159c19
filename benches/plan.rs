//! Planning speed: expand a spec of 10,000 jobs and key every job.
//! `cargo bench --bench plan` prints the time per plan and its ratio to the
//! one-second budget (a plan of 10,000 jobs must take well under a second).

use std::path::Path;
use std::time::Instant;

use runner::data::DatasetId;
use runner::schedule::Plan;
use runner::spec::ExperimentSpec;

fn main() {
    // 2 entries x (10 x 10 x 5 sweep values = 500 variants)... -> 10 classes x 2 seeds
    let text = "\
name: bench
dataset: mnist
classes: all
seeds: [0, 1]
methods:
  - ganomaly:
      w_con: {sweep: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}
      w_adv: {sweep: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}
      lr: {sweep: [0.0001, 0.0002, 0.0003, 0.0004, 0.0005]}
";
    let id = DatasetId {
        name: "mnist".into(),
        digest: "0".repeat(64),
        approximate: false,
    };
    let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let (mut best, mut best_parse) = (f64::INFINITY, f64::INFINITY);
    let mut jobs = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let spec = ExperimentSpec::parse(text, Path::new("bench.yaml"), Path::new("."), &[])
            .expect("bench spec parses");
        best_parse = best_parse.min(t.elapsed().as_secs_f64());
        let plan = Plan::with_dataset(&spec, id.clone(), names.clone()).expect("bench spec plans");
        jobs = plan.jobs.len();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "plan: {jobs} jobs in {:.1} ms (best of 5; parsing and checking the spec {:.1} ms); \
         {:.3} of the 1 s budget, {:.1} us/job",
        best * 1e3,
        best_parse * 1e3,
        best,
        best * 1e6 / jobs as f64
    );
}
