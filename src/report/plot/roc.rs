//! The ROC figure of one class: every row label's curve for its first
//! finished seed, AUROC in the legend.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{DrawResult, FAMILY, colour, cut, err};
use crate::metrics;
use crate::report::{Outcome, ReportInput};
use crate::spec::Protocol;

/// One ROC curve of a figure.
#[derive(Clone, Debug)]
pub struct Curve {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// The ROC figure of one class.
#[derive(Clone, Debug)]
pub struct RocFigure {
    pub title: String,
    pub curves: Vec<Curve>,
    /// Row labels with no finished job for the class, with why (legend only).
    pub absent: Vec<String>,
}

/// Drops points closer than `eps` (in both coordinates) to the last kept one;
/// the first and last points stay. The curve moves by less than `eps`.
fn thin(fpr: &[f64], tpr: &[f64], eps: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (k, (&x, &y)) in fpr.iter().zip(tpr).enumerate() {
        let last = k + 1 == fpr.len();
        match out.last() {
            Some(&(px, py)) if !last && (x - px).abs() < eps && (y - py).abs() < eps => {}
            _ => out.push((x, y)),
        }
    }
    out
}

pub(super) fn class_words(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::AnomalyClass => "anomaly class",
        Protocol::OneClass => "normal class",
    }
}

/// The ROC figure of class `class`: per row label, the curve of its first
/// finished seed.
pub fn roc_figure(input: &ReportInput, rows: &[String], class: usize, name: &str) -> RocFigure {
    let mut picked = Vec::new();
    let mut absent = Vec::new();
    for label in rows {
        let first = input
            .records
            .iter()
            .filter(|r| &r.label == label && r.class == class)
            .filter_map(|r| match &r.outcome {
                Outcome::Done { result, scores } => Some((r.seed, result, scores)),
                _ => None,
            })
            .min_by_key(|(seed, _, _)| *seed);
        if let Some(f) = first {
            picked.push((label, f));
        } else {
            let failed = input.records.iter().any(|r| {
                &r.label == label && r.class == class && matches!(r.outcome, Outcome::Failed { .. })
            });
            absent.push(format!(
                "{label}: {}",
                if failed { "failed" } else { "no result" }
            ));
        }
    }
    let seeds: Vec<u64> = picked.iter().map(|(_, (s, _, _))| *s).collect();
    let same_seed = seeds.windows(2).all(|w| w[0] == w[1]);
    let which = match (same_seed, seeds.first()) {
        (true, Some(s)) => format!("seed {s}"),
        _ => "first finished seed of each method".to_string(),
    };
    let curves = picked
        .into_iter()
        .filter_map(|(label, (seed, result, scores))| {
            let roc = metrics::roc_curve(&scores.labels, &scores.scores).ok()?;
            let mut name = format!("{label}: {:.3}", result.auroc);
            if !same_seed {
                name = format!("{label}: {:.3} (seed {seed})", result.auroc);
            }
            Some(Curve {
                name,
                points: thin(&roc.fpr, &roc.tpr, 1e-3),
            })
        })
        .collect();
    RocFigure {
        title: format!(
            "{}: ROC, {} {} ({})",
            input.experiment,
            class_words(input.protocol),
            name,
            which
        ),
        curves,
        absent,
    }
}

pub(super) const ROC_SIZE: (u32, u32) = (960, 640);

pub(super) fn draw_roc<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &RocFigure,
    text: bool,
) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let (plot_area, legend_area) = root.split_horizontally(640);
    let mut builder = ChartBuilder::on(&plot_area);
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
        chart
            .draw_series(LineSeries::new(
                c.points.iter().copied(),
                colour(i).stroke_width(2),
            ))
            .map_err(err)?;
    }
    // the legend beside the plot, where it hides no curve
    let x0 = 10;
    let mut y = 70;
    if text {
        legend_area
            .draw(&Text::new("Method: AUROC", (x0, y - 30), (FAMILY, 16)))
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
    if text {
        let style =
            TextStyle::from((FAMILY, 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
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
    }
    root.present().map_err(err)
}
