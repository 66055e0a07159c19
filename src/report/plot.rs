//! Plots with plotters, each as PNG and SVG: one ROC figure per class (every
//! row label's curve for its first finished seed, AUROC in the legend) and a
//! summary heat map of mean AUROC per row label and class.
//!
//! PNG text needs a TrueType font, registered at run time from `RUNNER_FONT`
//! or the usual system locations (DejaVu Sans first). Without one, the plots
//! are still written, with no text, after one warning.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::aggregate::Grid;
use super::{Outcome, ReportError, ReportInput};
use crate::metrics;
use crate::spec::Protocol;

const FAMILY: &str = "sans-serif";

/// Well-known places of a sans-serif TrueType font.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Any `.ttf` under `dir` (a few levels deep), preferring a "Sans" one.
fn find_ttf(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && depth > 0 {
            find_ttf(&p, depth - 1, found);
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("ttf")) {
            found.push(p);
        }
    }
}

fn font_candidates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("RUNNER_FONT") {
        out.push(PathBuf::from(p));
    }
    out.extend(FONT_PATHS.iter().map(PathBuf::from));
    let mut found = Vec::new();
    for dir in ["/usr/share/fonts", "/usr/local/share/fonts"] {
        find_ttf(Path::new(dir), 4, &mut found);
    }
    found.sort_by_key(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase());
        let name = name.unwrap_or_default();
        // plain sans faces first, then other sans, then the rest
        let sans = name.contains("sans") && !name.contains("mono");
        let plain = !["bold", "italic", "oblique", "condensed", "light"]
            .iter()
            .any(|w| name.contains(w));
        (!(sans && plain), !sans, name)
    });
    out.extend(found);
    out
}

/// Registers a font for plot text once per process; false when none was found.
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        for path in font_candidates() {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            let normal = plotters::style::register_font(FAMILY, FontStyle::Normal, bytes);
            if normal.is_ok() {
                let _ = plotters::style::register_font(FAMILY, FontStyle::Bold, bytes);
                tracing::debug!("plot font: {}", path.display());
                return true;
            }
        }
        tracing::warn!(
            "no TrueType font found for plot text (set RUNNER_FONT to a .ttf file, or install \
             DejaVu Sans, e.g. the Debian package fonts-dejavu-core): plots are written without text"
        );
        false
    })
}

/// Distinct line colours: the Tableau 10 palette, then plotters' 99-colour palette.
fn colour(i: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    match TAB10.get(i) {
        Some(&(r, g, b)) => RGBColor(r, g, b),
        None => {
            let c = Palette99::pick(i - TAB10.len()).to_rgba();
            RGBColor(c.0, c.1, c.2)
        }
    }
}

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

fn class_words(protocol: Protocol) -> &'static str {
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

type DrawResult = Result<(), String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Cuts `s` to at most `n` characters, with an ellipsis.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

const ROC_SIZE: (u32, u32) = (960, 640);

fn draw_roc<DB: DrawingBackend>(
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

/// The summary heat map's cells: per row label, per class then Mean.
pub struct Summary {
    pub title: String,
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// `values[row][column]`: the mean, or the status text of an empty cell.
    pub values: Vec<Vec<Result<f64, &'static str>>>,
    /// `partial[row][column]`: fewer seeds finished than planned.
    pub partial: Vec<Vec<bool>>,
    /// Lines under the map.
    pub note: Vec<String>,
}

pub fn summary(input: &ReportInput, grid: &Grid) -> Summary {
    let mut columns: Vec<String> = grid.classes.iter().map(|(_, n)| n.clone()).collect();
    columns.push("Mean".into());
    let values = grid
        .cells
        .iter()
        .zip(&grid.means)
        .map(|(row, mean)| {
            row.iter()
                .chain([mean])
                .map(|c| match c.mean {
                    Some(m) => Ok(m),
                    None if c.failed > 0 && c.done == 0 && c.missing == 0 => Err("failed"),
                    None => Err("—"),
                })
                .collect()
        })
        .collect();
    let partial = grid
        .cells
        .iter()
        .zip(&grid.means)
        .map(|(row, mean)| {
            let any = row.iter().any(|c| c.partial());
            let mut p: Vec<bool> = row.iter().map(|c| c.partial()).collect();
            p.push(mean.mean.is_some() && any);
            p
        })
        .collect();
    Summary {
        title: format!(
            "{}: mean {} over seeds, {} ({}){}",
            input.experiment,
            grid.metric.title(),
            input.dataset,
            class_words(input.protocol),
            if input.approximate {
                ", APPROXIMATE"
            } else {
                ""
            }
        ),
        rows: grid.rows.clone(),
        columns,
        values,
        partial,
        note: vec![
            "Colour: white at 0.5 (chance), blue towards 1, red towards 0.".into(),
            "Framed: best in the column. †: fewer seeds than planned.".into(),
        ],
    }
}

/// White at 0.5, blue towards 1, red towards 0 (through a light middle
/// tone); and whether text on the colour should be white.
fn heat(v: f64) -> (RGBColor, bool) {
    let lerp = |a: u8, b: u8, t: f64| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    let mix = |a: (u8, u8, u8), b: (u8, u8, u8), t: f64| {
        RGBColor(lerp(a.0, b.0, t), lerp(a.1, b.1, t), lerp(a.2, b.2, t))
    };
    let (mid, end, t) = if v >= 0.5 {
        (
            (107, 174, 214),
            (8, 48, 107),
            ((v - 0.5) / 0.5).clamp(0.0, 1.0),
        )
    } else {
        (
            (251, 106, 74),
            (103, 0, 13),
            ((0.5 - v) / 0.5).clamp(0.0, 1.0),
        )
    };
    let colour = if t < 0.5 {
        mix((255, 255, 255), mid, t * 2.0)
    } else {
        mix(mid, end, t * 2.0 - 1.0)
    };
    (colour, t > 0.6)
}

const CELL: (i32, i32) = (92, 40);
const TOP: i32 = 96;
const GAP: i32 = 10;

fn summary_size(s: &Summary) -> (u32, u32) {
    let left = summary_left(s);
    let w = left + CELL.0 * s.columns.len() as i32 + GAP + 24;
    let h = TOP + CELL.1 * s.rows.len() as i32 + 24 + 20 * s.note.len() as i32;
    (w.max(560) as u32, h as u32)
}

fn summary_left(s: &Summary) -> i32 {
    let longest = s
        .rows
        .iter()
        .map(|r| r.chars().count().min(32))
        .max()
        .unwrap_or(4);
    (longest as i32 * 8 + 24).max(120)
}

fn draw_summary<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Summary,
    text: bool,
) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let left = summary_left(s);
    let n_cols = s.columns.len();
    let x_of = |j: usize| left + CELL.0 * j as i32 + if j + 1 == n_cols { GAP } else { 0 };
    let centre = |size| {
        TextStyle::from((FAMILY, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
    };
    if text {
        root.draw(&Text::new(s.title.clone(), (16, 16), (FAMILY, 19)))
            .map_err(err)?;
        for (j, c) in s.columns.iter().enumerate() {
            root.draw(&Text::new(
                cut(c, 11),
                (x_of(j) + CELL.0 / 2, TOP - 16),
                centre(15),
            ))
            .map_err(err)?;
        }
    }
    // the best value in each column, as displayed
    let best: Vec<Option<String>> = (0..n_cols)
        .map(|j| {
            s.values
                .iter()
                .filter_map(|row| row[j].ok())
                .fold(None, |b: Option<f64>, x| Some(b.map_or(x, |b| b.max(x))))
                .map(|b| format!("{b:.3}"))
        })
        .collect();
    for (r, row) in s.values.iter().enumerate() {
        let y = TOP + CELL.1 * r as i32;
        if text {
            let style =
                TextStyle::from((FAMILY, 15).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(
                cut(&s.rows[r], 32),
                (left - 10, y + CELL.1 / 2),
                style,
            ))
            .map_err(err)?;
        }
        for (j, v) in row.iter().enumerate() {
            let x = x_of(j);
            let (fill, white, label) = match v {
                Ok(m) => {
                    let (c, w) = heat(*m);
                    (c, w, format!("{m:.3}"))
                }
                Err(status) => (RGBColor(225, 225, 225), false, status.to_string()),
            };
            root.draw(&Rectangle::new(
                [(x + 1, y + 1), (x + CELL.0 - 1, y + CELL.1 - 1)],
                fill.filled(),
            ))
            .map_err(err)?;
            if v.is_ok() && best[j].as_deref() == Some(label.as_str()) {
                root.draw(&Rectangle::new(
                    [(x + 2, y + 2), (x + CELL.0 - 2, y + CELL.1 - 2)],
                    BLACK.stroke_width(2),
                ))
                .map_err(err)?;
            }
            if text {
                let colour = if white { WHITE } else { BLACK };
                let label = if s.partial[r][j] {
                    format!("{label}†")
                } else {
                    label
                };
                root.draw(&Text::new(
                    label,
                    (x + CELL.0 / 2, y + CELL.1 / 2),
                    centre(15).color(&colour),
                ))
                .map_err(err)?;
            }
        }
    }
    if text {
        let y = TOP + CELL.1 * s.rows.len() as i32 + 16;
        for (i, line) in s.note.iter().enumerate() {
            root.draw(&Text::new(
                line.clone(),
                (16, y + 20 * i as i32),
                (FAMILY, 14),
            ))
            .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

/// Writes one figure as `<stem>.svg` and `<stem>.png`. The SVG keeps its
/// text when it can be laid out; the PNG has text only when `text`.
fn write_figure(
    stem: &Path,
    size: (u32, u32),
    text: bool,
    svg: impl Fn(&DrawingArea<SVGBackend, Shift>, bool) -> DrawResult,
    png: impl Fn(&DrawingArea<BitMapBackend, Shift>, bool) -> DrawResult,
) -> Result<Vec<PathBuf>, ReportError> {
    let svg_path = stem.with_extension("svg");
    let mut buf = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        svg(&root, true)
    };
    if drawn.is_err() {
        buf.clear();
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        svg(&root, false).map_err(|e| ReportError::write(&svg_path, e))?;
    }
    std::fs::write(&svg_path, &buf).map_err(|e| ReportError::write(&svg_path, e))?;

    let png_path = stem.with_extension("png");
    {
        let root = BitMapBackend::new(&png_path, size).into_drawing_area();
        png(&root, text).map_err(|e| ReportError::write(&png_path, e))?;
    }
    Ok(vec![svg_path, png_path])
}

/// File name of a class's ROC figure: the class name, made safe.
fn file_stem(name: &str, index: usize) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let safe = safe.trim_matches('-').to_string();
    if safe.is_empty() {
        format!("class-{index}")
    } else {
        safe
    }
}

/// Writes `roc/<class>.png|svg` for every selected class and `summary.png|svg`.
pub fn write_plots(
    input: &ReportInput,
    grid: &Grid,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    write_plots_with(input, grid, dir, font_ready())
}

pub(crate) fn write_plots_with(
    input: &ReportInput,
    grid: &Grid,
    dir: &Path,
    text: bool,
) -> Result<Vec<PathBuf>, ReportError> {
    let roc_dir = dir.join("roc");
    std::fs::create_dir_all(&roc_dir).map_err(|e| ReportError::write(&roc_dir, e))?;
    let mut files = Vec::new();
    let mut used = std::collections::HashSet::new();
    for (class, name) in &input.classes {
        let fig = roc_figure(input, &grid.rows, *class, name);
        let mut stem = file_stem(name, *class);
        if !used.insert(stem.clone()) {
            stem = format!("{stem}-{class}");
        }
        files.extend(write_figure(
            &roc_dir.join(stem),
            ROC_SIZE,
            text,
            |a, t| draw_roc(a, &fig, t),
            |a, t| draw_roc(a, &fig, t),
        )?);
    }
    let s = summary(input, grid);
    files.extend(write_figure(
        &dir.join("summary"),
        summary_size(&s),
        text,
        |a, t| draw_summary(a, &s, t),
        |a, t| draw_summary(a, &s, t),
    )?);
    Ok(files)
}
