//! Plots with plotters, each as PNG and SVG: one ROC figure per class (every
//! row label's curve averaged over its seeds, with a min-to-max band, mean
//! AUROC in the legend), a summary heat map of mean AUROC per row label and
//! class, the critical-difference diagram, and the training curves of each
//! row label whose jobs logged their trainings.
//!
//! PNG text needs a TrueType font, registered at run time from `RUNNER_FONT`
//! or the usual system locations (DejaVu Sans first). Without one, the plots
//! are still written, with no text, after one warning.
//!
//! Files: [`roc`] (the ROC figure of a class), [`summary`] (the heat map),
//! [`cd`] (the critical-difference diagram), [`training`] (the training
//! curves of a row label);
//! here the fonts, the palette and the writing of both formats.

mod cd;
mod roc;
mod summary;
mod training;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::aggregate::Grid;
use super::{ReportError, ReportInput};
use roc::roc_figure;
use roc::{ROC_SIZE, draw_roc};
use summary::{draw_summary, summary, summary_size};

pub(super) const FAMILY: &str = "sans-serif";

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
pub(super) fn colour(i: usize) -> RGBColor {
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

pub(super) type DrawResult = Result<(), String>;

pub(super) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Cuts `s` to at most `n` characters, with an ellipsis.
pub(super) fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
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

    // Drawn into memory, encoded by `image` (plotters' own encoder would
    // build a second, older `image` crate).
    let png_path = stem.with_extension("png");
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        png(&root, text).map_err(|e| ReportError::write(&png_path, e))?;
    }
    image::save_buffer(
        &png_path,
        &rgb,
        size.0,
        size.1,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| ReportError::write(&png_path, e))?;
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

/// Writes the critical-difference diagram `cd.png|svg` of a ranking.
pub fn write_cd(
    experiment: &str,
    ranking: &crate::report::compare::Ranking,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let fig = cd::cd_figure(experiment, ranking);
    write_figure(
        &dir.join("cd"),
        cd::cd_size(&fig),
        font_ready(),
        |a, t| cd::draw_cd(a, &fig, t),
        |a, t| cd::draw_cd(a, &fig, t),
    )
}

/// Writes `training/<row label>.png|svg` for every row label whose jobs
/// logged their trainings; returns the files and, per such label in row
/// order, its PNG.
pub fn write_training(input: &ReportInput, dir: &Path) -> Result<Plots, ReportError> {
    write_training_with(input, dir, font_ready())
}

fn write_training_with(input: &ReportInput, dir: &Path, text: bool) -> Result<Plots, ReportError> {
    let figures: Vec<_> = input
        .rows
        .iter()
        .filter_map(|label| Some((label, training::training_figure(input, label)?)))
        .collect();
    let mut plots = Plots::default();
    if figures.is_empty() {
        return Ok(plots);
    }
    let out = dir.join("training");
    std::fs::create_dir_all(&out).map_err(|e| ReportError::write(&out, e))?;
    let mut used = std::collections::HashSet::new();
    for (i, (label, fig)) in figures.iter().enumerate() {
        let mut stem = file_stem(label, i);
        if !used.insert(stem.clone()) {
            stem = format!("{stem}-{i}");
        }
        let stem = out.join(stem);
        plots.files.extend(write_figure(
            &stem,
            training::training_size(fig),
            text,
            |a, t| training::draw_training(a, fig, t),
            |a, t| training::draw_training(a, fig, t),
        )?);
        plots
            .pngs
            .push(((*label).clone(), stem.with_extension("png")));
    }
    Ok(plots)
}

/// What [`write_plots`] or [`write_training`] wrote.
#[derive(Clone, Debug, Default)]
pub struct Plots {
    /// Every file, SVG and PNG.
    pub files: Vec<PathBuf>,
    /// Per figure shown on the page, in order, what it shows and its PNG:
    /// per selected class its ROC figure ([`write_plots`]), per row label
    /// its training curves ([`write_training`]).
    pub pngs: Vec<(String, PathBuf)>,
}

/// Writes `roc/<class>.png|svg` for every selected class and `summary.png|svg`.
pub fn write_plots(input: &ReportInput, grid: &Grid, dir: &Path) -> Result<Plots, ReportError> {
    write_plots_with(input, grid, dir, font_ready())
}

pub(crate) fn write_plots_with(
    input: &ReportInput,
    grid: &Grid,
    dir: &Path,
    text: bool,
) -> Result<Plots, ReportError> {
    let roc_dir = dir.join("roc");
    std::fs::create_dir_all(&roc_dir).map_err(|e| ReportError::write(&roc_dir, e))?;
    let mut plots = Plots::default();
    let mut used = std::collections::HashSet::new();
    for (class, name) in &input.classes {
        let fig = roc_figure(input, &grid.rows, *class, name);
        let mut stem = file_stem(name, *class);
        if !used.insert(stem.clone()) {
            stem = format!("{stem}-{class}");
        }
        let stem = roc_dir.join(stem);
        plots.files.extend(write_figure(
            &stem,
            ROC_SIZE,
            text,
            |a, t| draw_roc(a, &fig, t),
            |a, t| draw_roc(a, &fig, t),
        )?);
        plots.pngs.push((name.clone(), stem.with_extension("png")));
    }
    let s = summary(input, grid);
    plots.files.extend(write_figure(
        &dir.join("summary"),
        summary_size(&s),
        text,
        |a, t| draw_summary(a, &s, t),
        |a, t| draw_summary(a, &s, t),
    )?);
    Ok(plots)
}
