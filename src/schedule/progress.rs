//! The progress display of a run: one bar for the jobs (done/total, ETA) and a
//! line per worker with its job and phase (loading, epoch k/n with losses,
//! scoring). Hidden when stderr is not a terminal or with `-q`; then each
//! finished job is logged as one line instead.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::detector::{Phase, Progress};

/// The whole display.
#[derive(Clone)]
pub struct ProgressUi {
    multi: Option<Arc<MultiProgress>>,
    main: ProgressBar,
    /// Print one line per finished job (no terminal to draw bars on).
    log_lines: bool,
}

impl ProgressUi {
    /// A display for `total` jobs; `visible` false draws nothing.
    pub fn new(total: usize, visible: bool) -> ProgressUi {
        if !visible {
            return ProgressUi::hidden();
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
        let main = multi.add(ProgressBar::new(total as u64));
        main.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} jobs  {elapsed_precise} elapsed, ETA {eta_precise}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        main.set_prefix("run");
        main.enable_steady_tick(Duration::from_millis(500));
        let log_lines = multi.is_hidden();
        ProgressUi {
            multi: Some(Arc::new(multi)),
            main,
            log_lines,
        }
    }

    /// Draws nothing and logs nothing but failures (`-q`, tests).
    pub fn hidden() -> ProgressUi {
        ProgressUi {
            multi: None,
            main: ProgressBar::hidden(),
            log_lines: false,
        }
    }

    /// Whether each finished job should be printed as a line.
    pub fn logs_lines(&self) -> bool {
        self.log_lines
    }

    /// The line of worker `i`.
    pub fn slot(&self, i: usize) -> SlotProgress {
        let bar = match &self.multi {
            Some(m) => {
                let b = m.add(ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix}: {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.set_prefix(format!("worker {}", i + 1));
                b.set_message("idle");
                b
            }
            None => ProgressBar::hidden(),
        };
        SlotProgress {
            bar,
            title: Arc::new(std::sync::Mutex::new(String::new())),
        }
    }

    /// One more job ended.
    pub fn job_done(&self, summary: &str) {
        self.main.inc(1);
        self.main.set_message(summary.to_string());
    }

    /// Prints a line above the bars (or plainly when hidden).
    pub fn println(&self, line: &str) {
        match &self.multi {
            Some(m) if !m.is_hidden() => {
                let _ = m.println(line);
            }
            _ => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        self.main.finish_and_clear();
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

/// One worker's line; it is the `Progress` a running job reports to.
#[derive(Clone)]
pub struct SlotProgress {
    bar: ProgressBar,
    title: Arc<std::sync::Mutex<String>>,
}

impl SlotProgress {
    pub fn start(&self, title: &str) {
        if let Ok(mut t) = self.title.lock() {
            *t = title.to_string();
        }
        self.bar.set_message(format!("{title}: starting"));
        self.bar.enable_steady_tick(Duration::from_millis(200));
    }

    pub fn idle(&self) {
        self.bar.disable_steady_tick();
        self.bar.set_message("idle");
    }
}

impl Progress for SlotProgress {
    fn phase(&self, phase: Phase) {
        let title = self.title.lock().map(|t| t.clone()).unwrap_or_default();
        let what = match phase {
            Phase::Waiting { holder } => format!("waiting for {holder}"),
            Phase::Loading => "loading data".to_string(),
            Phase::Preparing { what } => what,
            Phase::Training {
                epoch,
                epochs,
                info,
                ..
            } => format!("epoch {epoch}/{epochs} {info}"),
            Phase::Scoring { done, total } => format!("scoring {done}/{total}"),
        };
        tracing::debug!("{title}: {what}");
        self.bar.set_message(format!("{title}: {what}"));
    }
}
