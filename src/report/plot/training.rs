//! The training curves of one row label: one small panel per logged value
//! (`d`, `g`, `con`, ..., whatever the method logs) and one of the seconds
//! per epoch, over the epochs.
//!
//! With at most [`PER_CLASS_UP_TO`] classes, one colour per class: its median
//! over seeds (thick, with a dot per epoch when there are few) and every
//! seed's own curve (thin, faint), so that one seed that blew up shows.
//! With more classes, the median over all jobs with a band from the lowest
//! to the highest job. A value that is not finite is a red cross at the top
//! of its panel, and jobs that failed or did not run are named under the
//! panels; neither is a silent gap.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{DrawResult, FAMILY, colour, cut, err};
use crate::report::training::{median, value_names};
use crate::report::{Outcome, ReportInput};
use crate::store::TrainingLog;

/// Up to this many classes, each class has its own colour.
pub const PER_CLASS_UP_TO: usize = 10;

/// Failed jobs named one by one under the panels; the rest are counted.
const FAILED_SHOWN: usize = 4;

/// One curve of a panel.
#[derive(Clone, Debug)]
pub struct Line {
    /// Index into [`TrainingFigure::series`] (its colour).
    pub series: usize,
    /// (epoch, value), finite values only.
    pub points: Vec<(f64, f64)>,
    /// A seed's own curve, drawn thin and faint under the medians.
    pub faint: bool,
    /// (epoch, lowest, highest) over the jobs; empty for no band.
    pub band: Vec<(f64, f64, f64)>,
}

/// One value's panel.
#[derive(Clone, Debug)]
pub struct Panel {
    pub name: String,
    pub lines: Vec<Line>,
    /// (series, epoch) of every non-finite value.
    pub non_finite: Vec<(usize, f64)>,
}

/// The training curves of one row label.
#[derive(Clone, Debug)]
pub struct TrainingFigure {
    pub title: String,
    /// Legend entries (a class each, or the one median over all jobs).
    pub series: Vec<String>,
    /// The legend's heading.
    pub legend: String,
    pub panels: Vec<Panel>,
    /// Lines under the panels: how the curves were made, then what is
    /// missing from them.
    pub notes: Vec<String>,
    /// First and last epoch drawn.
    pub epochs: (usize, usize),
}

/// A job's points of `name` ("seconds": the epoch's seconds): the finite
/// ones, and the epochs where it was not finite.
fn points(log: &TrainingLog, name: Option<&str>) -> (Vec<(usize, f64)>, Vec<usize>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for e in &log.epochs {
        let v = match name {
            None => Some(e.seconds),
            Some(n) => e.values.iter().find(|(k, _)| k == n).map(|(_, v)| *v),
        };
        match v {
            Some(v) if v.is_finite() => ok.push((e.epoch, v)),
            Some(_) => bad.push(e.epoch),
            None => {}
        }
    }
    (ok, bad)
}

/// Per epoch: the median, lowest and highest of the jobs' values.
fn spread(jobs: &[Vec<(usize, f64)>]) -> Vec<(f64, f64, f64, f64)> {
    let mut epochs: Vec<usize> = jobs.iter().flatten().map(|&(e, _)| e).collect();
    epochs.sort_unstable();
    epochs.dedup();
    epochs
        .into_iter()
        .filter_map(|e| {
            let vs: Vec<f64> = jobs
                .iter()
                .filter_map(|j| j.iter().find(|&&(x, _)| x == e).map(|&(_, v)| v))
                .collect();
            let m = median(&vs)?;
            let lo = vs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            Some((e as f64, m, lo, hi))
        })
        .collect()
}

/// The training figure of row label `label`; `None` when none of its jobs
/// logged a training.
pub fn training_figure(input: &ReportInput, label: &str) -> Option<TrainingFigure> {
    let jobs: Vec<_> = input.records.iter().filter(|r| r.label == label).collect();
    let logged: Vec<_> = jobs
        .iter()
        .filter_map(|r| Some((*r, r.training.as_ref().filter(|t| !t.epochs.is_empty())?)))
        .collect();
    if logged.is_empty() {
        return None;
    }
    let per_class = input.classes.len() <= PER_CLASS_UP_TO;
    // the series of each logged job, and the legend
    let (series, of_job): (Vec<String>, Vec<usize>) = if per_class {
        let shown: Vec<usize> = input
            .classes
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| logged.iter().any(|(r, _)| r.class == *c))
            .collect();
        let names = shown
            .iter()
            .map(|c| {
                let name = &input.classes.iter().find(|(i, _)| i == c).expect("shown").1;
                let seeds = logged.iter().filter(|(r, _)| r.class == *c).count();
                format!("{name} ({seeds})")
            })
            .collect();
        let of = logged
            .iter()
            .map(|(r, _)| shown.iter().position(|c| *c == r.class).unwrap_or(0))
            .collect();
        (names, of)
    } else {
        (
            vec![format!("median of {} jobs", logged.len())],
            vec![0; logged.len()],
        )
    };
    let names = value_names(logged.iter().map(|(_, l)| *l));
    let mut panels = Vec::new();
    let values: Vec<Option<&str>> = names
        .iter()
        .map(|n| Some(n.as_str()))
        .chain([None])
        .collect();
    for name in values {
        let mut lines = Vec::new();
        let mut non_finite = Vec::new();
        let mut by_series: Vec<Vec<Vec<(usize, f64)>>> = vec![Vec::new(); series.len()];
        for ((_, log), &s) in logged.iter().zip(&of_job) {
            let (ok, bad) = points(log, name);
            non_finite.extend(bad.into_iter().map(|e| (s, e as f64)));
            by_series[s].push(ok);
        }
        for (s, jobs) in by_series.iter().enumerate() {
            let sp = spread(jobs);
            if per_class && jobs.len() > 1 {
                lines.extend(jobs.iter().map(|j| Line {
                    series: s,
                    points: j.iter().map(|&(e, v)| (e as f64, v)).collect(),
                    faint: true,
                    band: Vec::new(),
                }));
            }
            lines.push(Line {
                series: s,
                points: sp.iter().map(|&(e, m, _, _)| (e, m)).collect(),
                faint: false,
                band: if per_class {
                    Vec::new()
                } else {
                    sp.iter().map(|&(e, _, lo, hi)| (e, lo, hi)).collect()
                },
            });
        }
        panels.push(Panel {
            name: name.map_or("seconds per epoch".to_string(), |n| format!("loss {n}")),
            lines,
            non_finite,
        });
    }
    let first = logged
        .iter()
        .filter_map(|(_, l)| l.epochs.first().map(|e| e.epoch))
        .min()
        .unwrap_or(1);
    let last = logged
        .iter()
        .filter_map(|(_, l)| l.epochs.last().map(|e| e.epoch))
        .max()
        .unwrap_or(1);
    let seeds = crate::report::table::seeds(input).len();
    let mut notes = vec![if per_class {
        format!(
            "Thick: median over seeds per class (legend: seeds logged); thin: each seed. {} of {} jobs logged.",
            logged.len(),
            jobs.len()
        )
    } else {
        format!(
            "Line: median over all {} logged jobs ({} classes x {seeds} seeds planned); band: lowest to highest job.",
            logged.len(),
            input.classes.len()
        )
    }];
    if panels.iter().any(|p| !p.non_finite.is_empty()) {
        notes.push("Red x: a value that is not finite (NaN or infinite) at that epoch.".into());
    }
    let failed: Vec<String> = jobs
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Failed { error } => Some(format!(
                "{} seed {}: {}",
                r.class_name,
                r.seed,
                error.lines().next().unwrap_or("")
            )),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        notes.push(format!("Failed, no curve ({}):", failed.len()));
        notes.extend(
            failed
                .iter()
                .take(FAILED_SHOWN)
                .map(|f| format!("  {}", cut(f, 150))),
        );
        if failed.len() > FAILED_SHOWN {
            notes.push(format!(
                "  and {} more (see results.csv)",
                failed.len() - FAILED_SHOWN
            ));
        }
    }
    let missing = jobs
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Missing))
        .count();
    if missing > 0 {
        notes.push(format!("Not run yet, no curve: {missing} jobs."));
    }
    Some(TrainingFigure {
        title: format!(
            "{}: training of {label} ({} epoch{})",
            input.experiment,
            last,
            if last == 1 { "" } else { "s" }
        ),
        series,
        legend: if per_class {
            "Class (seeds logged)".into()
        } else {
            "All classes".into()
        },
        panels,
        notes,
        epochs: (first, last),
    })
}

const COLUMNS: usize = 3;
const PANEL: (u32, u32) = (380, 250);
const LEGEND: u32 = 200;
const TOP: u32 = 44;
const NOTE: u32 = 20;

/// The figure's size in pixels: three panels a row, the legend on the right,
/// a line per note under the panels.
pub fn training_size(fig: &TrainingFigure) -> (u32, u32) {
    let rows = fig.panels.len().div_ceil(COLUMNS) as u32;
    (
        COLUMNS as u32 * PANEL.0 + LEGEND,
        TOP + rows * PANEL.1 + 12 + NOTE * fig.notes.len() as u32,
    )
}

/// The lowest and highest finite value of a panel, padded.
fn value_range(p: &Panel) -> (f64, f64) {
    let all = p
        .lines
        .iter()
        .flat_map(|l| {
            l.points
                .iter()
                .map(|&(_, v)| v)
                .chain(l.band.iter().flat_map(|&(_, lo, hi)| [lo, hi]))
        })
        .filter(|v| v.is_finite());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.06
    } else {
        lo.abs() * 0.1 + 1e-3
    };
    (lo - pad, hi + pad)
}

/// Decimals that tell apart the labels of an axis spanning `span` (about
/// five labels): one more than the first significant digit of a fifth of
/// it, at most 6.
fn decimals(span: f64) -> usize {
    let step = span / 5.0;
    if !(step.is_finite() && step > 0.0) {
        return 3;
    }
    ((-step.log10()).ceil().max(0.0) as usize + 1).min(6)
}

/// Draws the figure: the title, the panels, the legend, the notes.
pub(super) fn draw_training<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &TrainingFigure,
    text: bool,
) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let (w, _) = training_size(fig);
    let rows = fig.panels.len().div_ceil(COLUMNS) as u32;
    let (title_area, rest) = root.split_vertically(TOP);
    let (panel_area, notes_area) = rest.split_vertically(rows * PANEL.1);
    let (grid_area, legend_area) = panel_area.split_horizontally(w - LEGEND);
    if text {
        title_area
            .draw(&Text::new(
                cut(&fig.title, 110),
                (12, 14),
                (FAMILY, 19).into_font(),
            ))
            .map_err(err)?;
    }
    let cells = grid_area.split_evenly((rows as usize, COLUMNS));
    for (p, area) in fig.panels.iter().zip(&cells) {
        draw_panel(area, fig, p, text)?;
    }
    draw_legend(&legend_area, fig, text)?;
    if text {
        let grey = TextStyle::from((FAMILY, 14).into_font())
            .pos(Pos::new(HPos::Left, VPos::Center))
            .color(&RGBColor(90, 90, 90));
        for (i, n) in fig.notes.iter().enumerate() {
            let y = 6 + NOTE as i32 / 2 + (i as u32 * NOTE) as i32;
            notes_area
                .draw(&Text::new(n.clone(), (12, y), grey.clone()))
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

/// One panel: its axes, bands, faint seed curves, medians and non-finite marks.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    fig: &TrainingFigure,
    p: &Panel,
    text: bool,
) -> DrawResult {
    let (first, last) = fig.epochs;
    let x = if first == last {
        (first as f64 - 0.5)..(last as f64 + 0.5)
    } else {
        (first as f64)..(last as f64)
    };
    let (lo, hi) = value_range(p);
    let mut builder = ChartBuilder::on(area);
    builder.margin(8);
    if text {
        builder
            .caption(&p.name, (FAMILY, 16))
            .x_label_area_size(30)
            .y_label_area_size(56);
    }
    let mut chart = builder.build_cartesian_2d(x, lo..hi).map_err(err)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(220, 220, 220));
    let xfmt = |v: &f64| {
        if v.fract().abs() < 1e-9 {
            format!("{v:.0}")
        } else {
            String::new()
        }
    };
    let digits = decimals(hi - lo);
    let yfmt = |v: &f64| {
        if v.abs() >= 10_000.0 {
            format!("{v:.2e}")
        } else {
            format!("{v:.digits$}")
        }
    };
    if text {
        mesh.label_style((FAMILY, 12))
            .x_labels((last - first + 1).min(8))
            .y_labels(5)
            .x_label_formatter(&xfmt)
            .y_label_formatter(&yfmt);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(err)?;
    let dots = last - first < 20;
    for l in p.lines.iter().filter(|l| !l.band.is_empty()) {
        let outline: Vec<(f64, f64)> = l
            .band
            .iter()
            .map(|&(e, _, hi)| (e, hi))
            .chain(l.band.iter().rev().map(|&(e, lo, _)| (e, lo)))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                outline,
                colour(l.series).mix(0.2).filled(),
            )))
            .map_err(err)?;
    }
    for l in p.lines.iter().filter(|l| l.faint) {
        chart
            .draw_series(LineSeries::new(
                l.points.iter().copied(),
                colour(l.series).mix(0.35).stroke_width(1),
            ))
            .map_err(err)?;
    }
    for l in p.lines.iter().filter(|l| !l.faint) {
        let c = colour(l.series);
        chart
            .draw_series(LineSeries::new(l.points.iter().copied(), c.stroke_width(2)))
            .map_err(err)?;
        if dots {
            chart
                .draw_series(l.points.iter().map(|&pt| Circle::new(pt, 3, c.filled())))
                .map_err(err)?;
        }
    }
    let red = RGBColor(214, 39, 40);
    chart
        .draw_series(
            p.non_finite
                .iter()
                .map(|&(_, e)| Cross::new((e, hi), 6, red.stroke_width(2))),
        )
        .map_err(err)?;
    Ok(())
}

/// A colour key and name per series.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    fig: &TrainingFigure,
    text: bool,
) -> DrawResult {
    let x0 = 10;
    let mut y = 40;
    if text {
        area.draw(&Text::new(fig.legend.clone(), (x0, y - 26), (FAMILY, 15)))
            .map_err(err)?;
    }
    let style = TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, s) in fig.series.iter().enumerate() {
        area.draw(&PathElement::new(
            vec![(x0, y), (x0 + 26, y)],
            colour(i).stroke_width(3),
        ))
        .map_err(err)?;
        if text {
            area.draw(&Text::new(cut(s, 22), (x0 + 34, y), style.clone()))
                .map_err(err)?;
        }
        y += 22;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;
    use crate::store::EpochLog;

    fn log(values: &[f64]) -> TrainingLog {
        TrainingLog {
            epochs: values
                .iter()
                .enumerate()
                .map(|(i, &g)| EpochLog {
                    epoch: i + 1,
                    seconds: 1.0 + i as f64,
                    values: vec![("g".into(), g)],
                })
                .collect(),
        }
    }

    #[test]
    fn medians_per_class_with_each_seed_and_marks_for_what_is_missing() {
        let mut input = fixture::input();
        for r in input.records.iter_mut().filter(|r| r.method == "ganomaly") {
            if matches!(r.outcome, Outcome::Done { .. }) {
                let s = r.seed as f64;
                r.training = Some(log(&[
                    3.0 + s,
                    2.0 + s,
                    if s == 1.0 && r.class == 7 {
                        f64::NAN
                    } else {
                        1.0 + s
                    },
                ]));
            }
        }
        assert!(training_figure(&input, "kde").is_none());
        let fig = training_figure(&input, "ganomaly (w_con=10)").expect("logged");
        assert_eq!(fig.series, ["zero (3)", "one (2)", "seven (3)"]);
        assert_eq!(fig.epochs, (1, 3));
        let names: Vec<_> = fig.panels.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["loss g", "seconds per epoch"]);
        let g = &fig.panels[0];
        // class zero: three faint seed curves, then the median: seed 1's values
        let zero: Vec<_> = g.lines.iter().filter(|l| l.series == 0).collect();
        assert_eq!(zero.len(), 4);
        assert!(zero[..3].iter().all(|l| l.faint));
        assert_eq!(zero[3].points, [(1.0, 4.0), (2.0, 3.0), (3.0, 2.0)]);
        // class seven, seed 1: NaN at epoch 3: marked, and the median of the
        // two finite seeds (1 and 3)
        assert_eq!(g.non_finite, [(2, 3.0)]);
        let seven = g.lines.iter().find(|l| l.series == 2 && !l.faint).unwrap();
        assert_eq!(seven.points[2], (3.0, 2.0));
        assert!(fig.notes.iter().any(|n| n.contains("not finite")));
        assert!(
            fig.notes
                .iter()
                .any(|n| n.contains("one seed 2: training diverged")),
            "{:?}",
            fig.notes
        );
        assert_eq!(training_size(&fig), (3 * 380 + 200, 44 + 250 + 12 + 20 * 4));
    }

    #[test]
    fn axis_labels_have_the_decimals_their_span_needs() {
        // FenceGAN's d_fake over four epochs: 0.069328 to 0.069415
        assert_eq!(decimals(0.069415 - 0.069328), 6);
        assert_eq!(decimals(0.6), 2);
        assert_eq!(decimals(40.0), 1);
        assert_eq!(decimals(0.0), 3);
    }

    #[test]
    fn many_classes_give_one_median_with_a_band() {
        let mut input = fixture::input();
        input.classes = (0..12).map(|c| (c, format!("c{c}"))).collect();
        input.records.retain(|r| r.method == "ganomaly");
        for (i, r) in input.records.iter_mut().enumerate() {
            r.class = i % 12;
            r.outcome = fixture::with(0.5);
            r.training = Some(log(&[i as f64, 1.0]));
        }
        let fig = training_figure(&input, "ganomaly (w_con=10)").expect("logged");
        assert_eq!(fig.series, ["median of 9 jobs"]);
        let g = &fig.panels[0];
        assert_eq!(g.lines.len(), 1);
        // epoch 1: values 0..8, median 4, band 0 to 8
        assert_eq!(g.lines[0].points[0], (1.0, 4.0));
        assert_eq!(g.lines[0].band[0], (1.0, 0.0, 8.0));
    }
}
