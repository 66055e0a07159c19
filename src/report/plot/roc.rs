//! The ROC figure of one class: per row label, the ROC curve averaged over
//! its finished seeds by vertical averaging (Fawcett 2006: the mean true
//! positive rate at each false positive rate of a fixed grid) with a band
//! from the lowest to the highest seed's curve; mean AUROC in the legend.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{DrawResult, FAMILY, colour, cut, err};
use crate::metrics;
use crate::report::{Outcome, ReportInput};
use crate::spec::Protocol;

/// One averaged ROC curve of a figure.
#[derive(Clone, Debug)]
pub struct Curve {
    pub name: String,
    /// (fpr, mean tpr) on the grid.
    pub points: Vec<(f64, f64)>,
    /// (fpr, lowest tpr, highest tpr) over the seeds; empty with one seed.
    pub band: Vec<(f64, f64, f64)>,
}

/// The ROC figure of one class.
#[derive(Clone, Debug)]
pub struct RocFigure {
    pub title: String,
    pub curves: Vec<Curve>,
    /// Row labels with no finished job for the class, with why (legend only).
    pub absent: Vec<String>,
}

/// False positive rates of the averaging grid: 0, 0.005, ..., 1.
pub const GRID: usize = 201;

/// The true positive rate of a ROC curve at false positive rate `x`: on a
/// vertical segment the highest, else linear between the points around it.
pub fn tpr_at(fpr: &[f64], tpr: &[f64], x: f64) -> f64 {
    // the last point with fpr <= x (fpr is sorted, starting at 0)
    let i = fpr.partition_point(|&f| f <= x);
    if i == 0 {
        return 0.0;
    }
    let (x0, y0) = (fpr[i - 1], tpr[i - 1]);
    match (fpr.get(i), tpr.get(i)) {
        (Some(&x1), Some(&y1)) if x1 > x0 && x > x0 => y0 + (y1 - y0) * (x - x0) / (x1 - x0),
        _ => y0,
    }
}

/// Vertical averaging of ROC curves (fpr, tpr pairs): per grid point the
/// mean, lowest and highest true positive rate.
pub fn vertical_average(curves: &[(Vec<f64>, Vec<f64>)]) -> Vec<(f64, f64, f64, f64)> {
    (0..GRID)
        .map(|g| {
            let x = g as f64 / (GRID - 1) as f64;
            let ys: Vec<f64> = curves.iter().map(|(f, t)| tpr_at(f, t, x)).collect();
            let mean = ys.iter().sum::<f64>() / ys.len().max(1) as f64;
            let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (x, mean, lo, hi)
        })
        .collect()
}

pub(super) fn class_words(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::AnomalyClass => "anomaly class",
        Protocol::OneClass => "normal class",
    }
}

/// The ROC figure of class `class`: per row label, its curve averaged over
/// the finished seeds.
pub fn roc_figure(input: &ReportInput, rows: &[String], class: usize, name: &str) -> RocFigure {
    let mut curves = Vec::new();
    let mut absent = Vec::new();
    let mut seed_counts = Vec::new();
    for label in rows {
        let mut rocs = Vec::new();
        let mut aurocs = Vec::new();
        let mut failed = false;
        for r in input
            .records
            .iter()
            .filter(|r| &r.label == label && r.class == class)
        {
            match &r.outcome {
                Outcome::Done { result, scores } => {
                    if let Ok(roc) = metrics::roc_curve(&scores.labels, &scores.scores) {
                        rocs.push((roc.fpr, roc.tpr));
                        aurocs.push(result.auroc);
                    }
                }
                Outcome::Failed { .. } => failed = true,
                Outcome::Missing => {}
            }
        }
        if rocs.is_empty() {
            absent.push(format!(
                "{label}: {}",
                if failed { "failed" } else { "no result" }
            ));
            continue;
        }
        let avg = vertical_average(&rocs);
        let mean_auroc = aurocs.iter().sum::<f64>() / aurocs.len() as f64;
        seed_counts.push(rocs.len());
        curves.push(Curve {
            name: format!(
                "{label}: {mean_auroc:.3} ({} seed{})",
                rocs.len(),
                if rocs.len() == 1 { "" } else { "s" }
            ),
            points: avg.iter().map(|&(x, m, _, _)| (x, m)).collect(),
            band: if rocs.len() > 1 {
                avg.iter().map(|&(x, _, lo, hi)| (x, lo, hi)).collect()
            } else {
                Vec::new()
            },
        });
    }
    let most = seed_counts.iter().copied().max().unwrap_or(0);
    RocFigure {
        title: format!(
            "{}: ROC, {} {} ({} seed{})",
            input.experiment,
            class_words(input.protocol),
            name,
            most,
            if most == 1 { "" } else { "s" }
        ),
        curves,
        absent,
    }
}

pub(super) const ROC_SIZE: (u32, u32) = (960, 640);

/// The ROC figure: the curves on the left, the legend beside them.
pub(super) fn draw_roc<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &RocFigure,
    text: bool,
) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let (plot_area, legend_area) = root.split_horizontally(640);
    draw_curves(&plot_area, fig, text)?;
    draw_legend(&legend_area, fig, text)?;
    root.present().map_err(err)
}

/// The axes, the chance diagonal, each curve's band and each curve.
fn draw_curves<DB: DrawingBackend>(
    plot_area: &DrawingArea<DB, Shift>,
    fig: &RocFigure,
    text: bool,
) -> DrawResult {
    let mut builder = ChartBuilder::on(plot_area);
    builder.margin(16);
    if text {
        builder
            .caption(&fig.title, (FAMILY, 19))
            .x_label_area_size(52)
            .y_label_area_size(62);
    }
    let mut chart = builder
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(err)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215));
    let fmt = |v: &f64| format!("{v:.1}");
    if text {
        mesh.x_desc("False positive rate")
            .y_desc("True positive rate")
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&fmt)
            .y_label_formatter(&fmt);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(err)?;
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            6,
            5,
            RGBColor(120, 120, 120).stroke_width(1),
        ))
        .map_err(err)?;
    for (i, c) in fig.curves.iter().enumerate() {
        if !c.band.is_empty() {
            let outline: Vec<(f64, f64)> = c
                .band
                .iter()
                .map(|&(x, _, hi)| (x, hi))
                .chain(c.band.iter().rev().map(|&(x, lo, _)| (x, lo)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    colour(i).mix(0.18).filled(),
                )))
                .map_err(err)?;
        }
    }
    for (i, c) in fig.curves.iter().enumerate() {
        chart
            .draw_series(LineSeries::new(
                c.points.iter().copied(),
                colour(i).stroke_width(2),
            ))
            .map_err(err)?;
    }
    Ok(())
}

/// The legend beside the plot, where it hides no curve: a colour key and
/// name per curve, chance, the rows with no curve, and how curves were made.
fn draw_legend<DB: DrawingBackend>(
    legend_area: &DrawingArea<DB, Shift>,
    fig: &RocFigure,
    text: bool,
) -> DrawResult {
    let x0 = 10;
    let mut y = 70;
    if text {
        legend_area
            .draw(&Text::new("Method: mean AUROC", (x0, y - 30), (FAMILY, 16)))
            .map_err(err)?;
    }
    for (i, c) in fig.curves.iter().enumerate() {
        legend_area
            .draw(&PathElement::new(
                vec![(x0, y), (x0 + 30, y)],
                colour(i).stroke_width(3),
            ))
            .map_err(err)?;
        if text {
            let style =
                TextStyle::from((FAMILY, 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            legend_area
                .draw(&Text::new(cut(&c.name, 34), (x0 + 38, y), style))
                .map_err(err)?;
        }
        y += 24;
    }
    legend_area
        .draw(&PathElement::new(
            vec![(x0, y), (x0 + 30, y)],
            RGBColor(120, 120, 120).stroke_width(1),
        ))
        .map_err(err)?;
    if !text {
        return Ok(());
    }
    let style = TextStyle::from((FAMILY, 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    legend_area
        .draw(&Text::new("chance: 0.500", (x0 + 38, y), style.clone()))
        .map_err(err)?;
    let grey = style.color(&RGBColor(110, 110, 110));
    for a in &fig.absent {
        y += 24;
        legend_area
            .draw(&Text::new(cut(a, 34), (x0 + 38, y), grey.clone()))
            .map_err(err)?;
    }
    // how the curves were made
    y += 40;
    for line in [
        "Curves: vertical average over",
        "seeds; band: lowest to highest",
        "seed's curve.",
    ] {
        legend_area
            .draw(&Text::new(line, (x0, y), grey.clone()))
            .map_err(err)?;
        y += 20;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vertical_averaging_by_hand() {
        // a perfect curve and the diagonal: mean tpr (1 + x) / 2 for x > 0
        let perfect = (vec![0.0, 0.0, 1.0], vec![0.0, 1.0, 1.0]);
        let chance = (vec![0.0, 1.0], vec![0.0, 1.0]);
        assert_eq!(tpr_at(&perfect.0, &perfect.1, 0.0), 1.0);
        assert_eq!(tpr_at(&chance.0, &chance.1, 0.25), 0.25);
        let avg = vertical_average(&[perfect, chance]);
        assert_eq!(avg.len(), GRID);
        assert_eq!(avg[0], (0.0, 0.5, 0.0, 1.0));
        let (x, m, lo, hi) = avg[50];
        assert!((x - 0.25).abs() < 1e-12 && (m - 0.625).abs() < 1e-12);
        assert!((lo - 0.25).abs() < 1e-12 && hi == 1.0);
        assert_eq!(avg[GRID - 1].1, 1.0);
        // a step between points is interpolated linearly
        assert!((tpr_at(&[0.0, 0.5, 1.0], &[0.0, 0.8, 1.0], 0.75) - 0.9).abs() < 1e-12);
    }
}
