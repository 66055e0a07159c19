//! The critical-difference diagram of Demšar (2006): the average rank of
//! every method on an axis (rank 1, the best, on the left), the Nemenyi
//! critical difference as a bar, and thick lines joining the groups of
//! methods whose average ranks differ by less than it (no significant
//! difference within a group).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{DrawResult, FAMILY, cut, err};
use crate::report::compare::{ALPHA, Ranking};

/// What the diagram shows, methods sorted by average rank (best first).
#[derive(Clone, Debug, PartialEq)]
pub struct CdFigure {
    pub title: String,
    pub names: Vec<String>,
    pub ranks: Vec<f64>,
    /// The number of methods (the axis runs from 1 to k).
    pub k: usize,
    pub cd: f64,
    /// (first, last) indices into `names` of each group with no significant
    /// difference.
    pub groups: Vec<(usize, usize)>,
}

/// The maximal runs of sorted ranks that span less than `cd`: for each
/// method, the furthest one within `cd`, dropping runs inside an earlier one
/// and single methods.
pub fn groups(sorted: &[f64], cd: f64) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for i in 0..sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] - sorted[i] < cd {
            j += 1;
        }
        if j > i && !out.iter().any(|&(_, e)| e >= j) {
            out.push((i, j));
        }
    }
    out
}

pub fn cd_figure(experiment: &str, r: &Ranking) -> CdFigure {
    let mut order: Vec<usize> = (0..r.rows.len()).collect();
    let ranks = &r.friedman.average_ranks;
    order.sort_by(|&a, &b| ranks[a].total_cmp(&ranks[b]));
    let sorted: Vec<f64> = order.iter().map(|&i| ranks[i]).collect();
    CdFigure {
        title: format!(
            "{experiment}: average rank over {} classes, Nemenyi CD at {ALPHA}",
            r.classes.len()
        ),
        names: order.iter().map(|&i| r.rows[i].clone()).collect(),
        groups: groups(&sorted, r.cd),
        ranks: sorted,
        k: r.rows.len(),
        cd: r.cd,
    }
}

pub(super) const CD_WIDTH: u32 = 960;

pub(super) fn cd_size(f: &CdFigure) -> (u32, u32) {
    let side = f.names.len().div_ceil(2) as u32;
    (CD_WIDTH, 150 + 12 * f.groups.len() as u32 + 28 * side)
}

/// Where ranks 1..=k lie across the figure.
#[derive(Clone, Copy)]
struct RankAxis {
    x0: f64,
    x1: f64,
    k: f64,
}

impl RankAxis {
    /// The x pixel of an average rank.
    fn x(self, rank: f64) -> i32 {
        (self.x0 + (rank - 1.0) / (self.k - 1.0) * (self.x1 - self.x0)).round() as i32
    }
}

/// The y pixel of the rank axis.
const AXIS_Y: i32 = 90;

pub(super) fn draw_cd<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    f: &CdFigure,
    text: bool,
) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let axis = RankAxis {
        x0: 260.0,
        x1: CD_WIDTH as f64 - 260.0,
        k: f.k.max(2) as f64,
    };
    if text {
        let title =
            TextStyle::from((FAMILY, 17).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(f.title.clone(), (CD_WIDTH as i32 / 2, 8), title))
            .map_err(err)?;
    }
    draw_rank_axis(root, f, axis, text)?;
    draw_methods(root, f, axis, text)?;
    root.present().map_err(err)
}

/// The axis with a tick per integer rank, and the critical difference above
/// it, from rank 1.
fn draw_rank_axis<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    f: &CdFigure,
    axis: RankAxis,
    text: bool,
) -> DrawResult {
    let x = |rank: f64| axis.x(rank);
    let black = BLACK.stroke_width(1);
    let small = TextStyle::from((FAMILY, 14).into_font());
    root.draw(&PathElement::new(
        vec![(x(1.0), AXIS_Y), (x(axis.k), AXIS_Y)],
        black,
    ))
    .map_err(err)?;
    for i in 1..=f.k.max(2) {
        let xi = x(i as f64);
        root.draw(&PathElement::new(
            vec![(xi, AXIS_Y - 8), (xi, AXIS_Y)],
            black,
        ))
        .map_err(err)?;
        if text {
            let style = small.clone().pos(Pos::new(HPos::Center, VPos::Bottom));
            root.draw(&Text::new(i.to_string(), (xi, AXIS_Y - 10), style))
                .map_err(err)?;
        }
    }
    let cd_y = 48;
    let cd_end = x((1.0 + f.cd).min(axis.k));
    root.draw(&PathElement::new(
        vec![(x(1.0), cd_y), (cd_end, cd_y)],
        BLACK.stroke_width(3),
    ))
    .map_err(err)?;
    for xe in [x(1.0), cd_end] {
        root.draw(&PathElement::new(
            vec![(xe, cd_y - 5), (xe, cd_y + 5)],
            black,
        ))
        .map_err(err)?;
    }
    if text {
        let style = small.pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(
            format!("CD = {:.2}", f.cd),
            (cd_end + 8, cd_y),
            style,
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Under the axis: a thick bar per group with no significant difference, and
/// per method a line down from its rank, then out to its label (the better
/// half on the left).
fn draw_methods<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    f: &CdFigure,
    axis: RankAxis,
    text: bool,
) -> DrawResult {
    let x = |rank: f64| axis.x(rank);
    let small = TextStyle::from((FAMILY, 14).into_font());
    for (g, &(a, b)) in f.groups.iter().enumerate() {
        let y = AXIS_Y + 14 + 12 * g as i32;
        root.draw(&PathElement::new(
            vec![(x(f.ranks[a]) - 4, y), (x(f.ranks[b]) + 4, y)],
            RGBColor(60, 60, 60).stroke_width(4),
        ))
        .map_err(err)?;
    }
    let half = f.names.len().div_ceil(2);
    let top = AXIS_Y + 26 + 12 * f.groups.len() as i32;
    for (i, (name, &rank)) in f.names.iter().zip(&f.ranks).enumerate() {
        let left = i < half;
        let row = if left { i } else { f.names.len() - 1 - i };
        let y = top + 28 * row as i32;
        let xr = x(rank);
        let xe = if left {
            axis.x0 as i32 - 20
        } else {
            axis.x1 as i32 + 20
        };
        let colour = super::colour(i);
        root.draw(&PathElement::new(
            vec![(xr, AXIS_Y), (xr, y), (xe, y)],
            colour.stroke_width(2),
        ))
        .map_err(err)?;
        root.draw(&Circle::new((xr, AXIS_Y), 4, colour.filled()))
            .map_err(err)?;
        if text {
            let label = format!("{} ({rank:.2})", cut(name, 28));
            let (pos, tx) = if left {
                (Pos::new(HPos::Right, VPos::Center), xe - 6)
            } else {
                (Pos::new(HPos::Left, VPos::Center), xe + 6)
            };
            root.draw(&Text::new(label, (tx, y), small.clone().pos(pos)))
                .map_err(err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_join_ranks_closer_than_cd() {
        // Demšar's example: ranks 1.964, 2.000, 2.893, 3.143 with CD 1.25:
        // 3.143 - 1.964 = 1.179 < CD, "the data is not sufficient": one group
        assert_eq!(groups(&[1.964, 2.000, 2.893, 3.143], 1.25), vec![(0, 3)]);
        // with CD 1.12 the best and the worst separate (1.179, 1.143 > 1.12)
        let g = groups(&[1.964, 2.000, 2.893, 3.143], 1.12);
        assert_eq!(g, vec![(0, 2), (2, 3)]);
        // all within CD: one group; none within: no group
        assert_eq!(groups(&[1.0, 1.5, 2.0], 1.2), vec![(0, 2)]);
        assert!(groups(&[1.0, 2.0, 3.0], 0.5).is_empty());
        // a run inside an earlier one is not repeated
        assert_eq!(groups(&[1.0, 1.1, 1.2, 3.0], 0.5), vec![(0, 2)]);
    }
}
