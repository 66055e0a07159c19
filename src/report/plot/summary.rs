//! The summary heat map: mean AUROC per row label and class.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::roc::class_words;
use super::{DrawResult, FAMILY, cut, err};
use crate::report::ReportInput;
use crate::report::aggregate::Grid;

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

pub(super) fn summary_size(s: &Summary) -> (u32, u32) {
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

pub(super) fn draw_summary<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Summary,
    text: bool,
) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let left = summary_left(s);
    let n_cols = s.columns.len();
    let x_of = |j: usize| left + CELL.0 * j as i32 + if j + 1 == n_cols { GAP } else { 0 };
    if text {
        root.draw(&Text::new(s.title.clone(), (16, 16), (FAMILY, 19)))
            .map_err(err)?;
        for (j, c) in s.columns.iter().enumerate() {
            root.draw(&Text::new(
                cut(c, 11),
                (x_of(j) + CELL.0 / 2, TOP - 16),
                centred(),
            ))
            .map_err(err)?;
        }
    }
    let best = column_best(s);
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
            let mark = HeatMark {
                best: best[j].as_deref(),
                partial: s.partial[r][j],
            };
            draw_heat_cell(root, (x_of(j), y), v, mark, text)?;
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

/// Cell text: 15 px, centred on its point.
fn centred() -> TextStyle<'static> {
    TextStyle::from((FAMILY, 15).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
}

/// The best value of each column, as displayed.
fn column_best(s: &Summary) -> Vec<Option<String>> {
    (0..s.columns.len())
        .map(|j| {
            s.values
                .iter()
                .filter_map(|row| row[j].ok())
                .fold(None, |b: Option<f64>, x| Some(b.map_or(x, |b| b.max(x))))
                .map(|b| format!("{b:.3}"))
        })
        .collect()
}

/// What a heat-map cell is marked with: its column's best value as
/// displayed (framed when the cell shows it) and whether some seeds are
/// missing (†).
struct HeatMark<'a> {
    best: Option<&'a str>,
    partial: bool,
}

/// One heat-map cell with its top-left corner at `(x, y)`: coloured by its
/// mean (grey with the status when there is none), framed when it is the
/// column's best.
fn draw_heat_cell<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    v: &Result<f64, &str>,
    mark: HeatMark,
    text: bool,
) -> DrawResult {
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
    if v.is_ok() && mark.best == Some(label.as_str()) {
        root.draw(&Rectangle::new(
            [(x + 2, y + 2), (x + CELL.0 - 2, y + CELL.1 - 2)],
            BLACK.stroke_width(2),
        ))
        .map_err(err)?;
    }
    if text {
        let colour = if white { WHITE } else { BLACK };
        let label = if mark.partial {
            format!("{label}†")
        } else {
            label
        };
        root.draw(&Text::new(
            label,
            (x + CELL.0 / 2, y + CELL.1 / 2),
            centred().color(&colour),
        ))
        .map_err(err)?;
    }
    Ok(())
}
