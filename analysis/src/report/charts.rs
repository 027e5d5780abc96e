//! SVG charts of the HTML report, drawn with plotters' SVG backend. The sweep report's charts
//! ([`crate::sweep`]) are drawn in the same frame ([`with_legend`]), style and colours.

use std::ops::Range;

use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::content::{pooled_curve, providers_alone, Index};
use super::num::fmt_decimals;
use crate::model::{Analysis, Scope};

/// Series colours, in mode order (Tableau 10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(225, 87, 89),
    RGBColor(176, 122, 161),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(156, 117, 95),
    RGBColor(255, 157, 167),
    RGBColor(186, 176, 172),
];
const INK: RGBColor = RGBColor(29, 36, 48);
const MUTED: RGBColor = RGBColor(102, 112, 133);
const GRID: RGBColor = RGBColor(221, 225, 232);
const FONT: &str = "sans-serif";
/// Font size as plotters takes it (the SVG gets `size / 1.24` px).
const LABEL_SIZE: f64 = 16.0;
const SMALL_SIZE: f64 = 14.0;
/// Rough width of one character of a label, in px, for the layout.
pub(crate) const CHAR_PX: f64 = 7.4;
const SMALL_CHAR_PX: f64 = 6.6;

const WIDE: u32 = 1040;
/// Width of a bar chart drawn beside another (the page scales it to its half).
const HALF: u32 = 760;
const NARROW: u32 = 540;

/// The colour of series `i`.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn font(size: f64, c: &RGBColor) -> TextStyle<'static> {
    (FONT, size).into_font().color(c)
}

/// An axis of categories (the observers): category `i` spans `[i, i + 1)`, its label sits at the
/// middle.
struct Categories {
    names: Vec<String>,
}

impl Ranged for Categories {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let n = self.names.len().max(1) as f64;
        let span = f64::from(limit.1 - limit.0);
        limit.0 + (value / n * span).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        (0..self.names.len()).map(|i| i as f64 + 0.5).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.names.len().max(1) as f64
    }
}

impl ValueFormatter<f64> for Categories {
    fn format_ext(&self, value: &f64) -> String {
        let i = value.floor();
        if i < 0.0 {
            return String::new();
        }
        self.names.get(i as usize).cloned().unwrap_or_default()
    }
}

/// How a legend entry shows its series.
pub(crate) enum Swatch {
    Box,
    /// A line of this width.
    Line(u32),
    /// A line of this width with a point on it.
    LinePoint(u32),
}

/// A legend, in as many columns as fit.
pub(crate) struct Legend {
    pub(crate) entries: Vec<(String, RGBColor, Swatch)>,
    /// Left edge of the first column (aligns with the plot).
    pub(crate) left: i32,
}

impl Legend {
    const ROW: u32 = 24;

    fn entry_width(&self) -> u32 {
        let longest = self.entries.iter().map(|(l, _, _)| l.chars().count()).max();
        (36.0 + CHAR_PX * longest.unwrap_or(0) as f64 + 24.0) as u32
    }

    fn columns(&self, width: u32) -> u32 {
        let free = width.saturating_sub(self.left.max(0) as u32 + 16);
        (free / self.entry_width().max(1)).clamp(1, self.entries.len().max(1) as u32)
    }

    pub(crate) fn height(&self, width: u32) -> u32 {
        let rows = (self.entries.len() as u32).div_ceil(self.columns(width));
        rows * Self::ROW + 14
    }

    pub(crate) fn draw(&self, area: &DrawingArea<SVGBackend, Shift>) -> Result<(), ()> {
        let cols = self.columns(area.dim_in_pixel().0) as usize;
        let w = self.entry_width() as i32;
        let label = font(LABEL_SIZE, &INK).pos(Pos::new(HPos::Left, VPos::Center));
        for (k, (text, c, swatch)) in self.entries.iter().enumerate() {
            let x = self.left + (k % cols) as i32 * w;
            let y = 6 + (k / cols) as i32 * Self::ROW as i32;
            let mid = y + Self::ROW as i32 / 2;
            match swatch {
                Swatch::Box => area
                    .draw(&Rectangle::new(
                        [(x, mid - 8), (x + 16, mid + 8)],
                        c.filled(),
                    ))
                    .map_err(|_| ())?,
                Swatch::Line(width) | Swatch::LinePoint(width) => area
                    .draw(&PathElement::new(
                        vec![(x, mid), (x + 26, mid)],
                        c.stroke_width((*width).min(8)),
                    ))
                    .map_err(|_| ())?,
            }
            if let Swatch::LinePoint(_) = swatch {
                area.draw(&Circle::new((x + 13, mid), 4, c.filled()))
                    .map_err(|_| ())?;
            }
            area.draw(&Text::new(text.clone(), (x + 34, mid), label.clone()))
                .map_err(|_| ())?;
        }
        Ok(())
    }
}

/// A chart `width` px wide: `plot` draws on an area `plot_height` px high, `legend` goes below
/// it; the SVG as the HTML embeds it ([`finish`]), None when plotters fails.
pub(crate) fn with_legend(
    width: u32,
    plot_height: u32,
    legend: &Legend,
    plot: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Option<()>,
) -> Option<String> {
    let height = plot_height + legend.height(width);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let (area, key) = root.split_vertically(plot_height);
        plot(&area)?;
        legend.draw(&key).ok()?;
        root.present().ok()?;
    }
    Some(finish(svg))
}

/// The mesh in the reports' style: labels and axis descriptions in ink, grid lines, muted axes.
pub(crate) fn style_mesh<'m, 'a, 'b, X, Y, DB>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB>
where
    X: Ranged,
    Y: Ranged,
    DB: DrawingBackend,
{
    mesh.label_style(font(LABEL_SIZE, &INK))
        .axis_desc_style(font(LABEL_SIZE, &INK))
        .bold_line_style(GRID)
        .axis_style(MUTED)
}

/// The SVG as the HTML embeds it: without the XML namespace declaration (HTML puts `<svg>` in
/// the SVG namespace itself), so that the page names no URL at all.
fn finish(svg: String) -> String {
    svg.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
}

/// Grouped bars of one metric and scope: x = observers, one bar per mode, y in [0, 1]; `wide`
/// for a chart on a line of its own, else for one beside another.
pub(crate) fn bars(a: &Analysis, metric: &str, scope: Scope, wide: bool) -> Option<String> {
    let width = if wide { WIDE } else { HALF };
    let ix = Index::new(a);
    let n_obs = a.observers.len().max(1);
    let n_modes = a.modes.len().max(1);
    let y_area = 64;
    let legend = Legend {
        entries: a
            .modes
            .iter()
            .enumerate()
            .map(|(j, (m, _))| (m.clone(), color(j), Swatch::Box))
            .collect(),
        left: y_area + 8,
    };
    with_legend(width, 330, &legend, |plot| {
        let mut chart = ChartBuilder::on(plot)
            .margin_top(26)
            .margin_right(16)
            .margin_left(8)
            .x_label_area_size(40)
            .y_label_area_size(y_area)
            .build_cartesian_2d(
                Categories {
                    names: a.observers.clone(),
                },
                0f64..1f64,
            )
            .ok()?;
        style_mesh(&mut chart.configure_mesh())
            .disable_x_mesh()
            .max_light_lines(0)
            .y_labels(6)
            .y_label_formatter(&|v| fmt_decimals(*v, 2))
            .y_desc("share")
            .draw()
            .ok()?;

        let slot = 0.8 / n_modes as f64;
        let gap = slot * 0.12;
        let plot_px = f64::from(width) - f64::from(y_area as u32) - 24.0;
        let bar_px = plot_px * (slot - gap) / n_obs as f64;
        let value_style = font(SMALL_SIZE, &INK).pos(Pos::new(HPos::Center, VPos::Bottom));
        let na_style = font(SMALL_SIZE, &MUTED).pos(Pos::new(HPos::Center, VPos::Bottom));
        for (i, obs) in a.observers.iter().enumerate() {
            for (j, (mode, _)) in a.modes.iter().enumerate() {
                let x0 = i as f64 + 0.1 + j as f64 * slot + gap / 2.0;
                let x1 = x0 + slot - gap;
                let cx = (x0 + x1) / 2.0;
                let Some(row) = ix.get(mode, obs, scope, metric) else {
                    continue;
                };
                let fits = |s: &str| bar_px >= SMALL_CHAR_PX * s.chars().count() as f64 + 2.0;
                let Some(value) = row.value else {
                    if fits("n/a") {
                        chart
                            .plotting_area()
                            .draw(
                                &(EmptyElement::at((cx, 0.0))
                                    + Text::new("n/a", (0, -3), na_style.clone())),
                            )
                            .ok()?;
                    }
                    continue;
                };
                let v = if value.is_finite() {
                    value.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let c = color(j);
                chart
                    .plotting_area()
                    .draw(&Rectangle::new([(x0, 0.0), (x1, v)], c.filled()))
                    .ok()?;
                if v == 0.0 {
                    // A measured 0 is drawn as a rule, so it differs from a missing bar.
                    chart
                        .plotting_area()
                        .draw(&PathElement::new(
                            vec![(x0, 0.0), (x1, 0.0)],
                            c.stroke_width(4),
                        ))
                        .ok()?;
                }
                let label = fmt_decimals(value, 2);
                if fits(&label) {
                    chart
                        .plotting_area()
                        .draw(
                            &(EmptyElement::at((cx, v))
                                + Text::new(label, (0, -4), value_style.clone())),
                        )
                        .ok()?;
                }
            }
        }
        Some(())
    })
}

/// Step CDF of anonymity set sizes of one observer and scope, one line per mode.
pub(crate) fn anonymity_cdf(a: &Analysis, observer: &str, scope: Scope) -> Option<String> {
    let series: Vec<Vec<u64>> = a
        .modes
        .iter()
        .map(|(mode, _)| {
            let mut sizes = a
                .anonymity
                .iter()
                .find(|s| s.mode == *mode && s.observer == observer && s.scope == scope)
                .map(|s| s.sizes.clone())
                .unwrap_or_default();
            sizes.sort_unstable();
            sizes
        })
        .collect();
    let min = series.iter().filter_map(|s| s.first()).min().copied();
    let max = series.iter().filter_map(|s| s.last()).max().copied();
    let lo = min.unwrap_or(1).min(1) as f64 - 0.5;
    let hi = (max.unwrap_or(1) as f64 + 0.5).max(lo + 2.0);

    let n = a.modes.len();
    let widest = (2 + 2 * n.saturating_sub(1)).min(8) as f64;
    let width_of = |j: usize| -> u32 {
        if n <= 1 {
            2
        } else {
            (2.0 + (widest - 2.0) * (n - 1 - j) as f64 / (n - 1) as f64).round() as u32
        }
    };
    let y_area = 64;
    let legend = Legend {
        entries: a
            .modes
            .iter()
            .zip(&series)
            .enumerate()
            .map(|(j, ((m, _), s))| {
                (
                    format!("{m} (n={})", s.len()),
                    color(j),
                    Swatch::Line(width_of(j)),
                )
            })
            .collect(),
        left: y_area + 8,
    };
    with_legend(NARROW, 320, &legend, |plot| {
        let mut chart = ChartBuilder::on(plot)
            .margin_top(16)
            .margin_right(18)
            .margin_left(8)
            .x_label_area_size(50)
            .y_label_area_size(y_area)
            .build_cartesian_2d(lo..hi, 0f64..1.02f64)
            .ok()?;
        let span = hi - lo;
        style_mesh(&mut chart.configure_mesh())
            .max_light_lines(0)
            .x_labels((span.ceil() as usize + 1).min(8))
            .y_labels(6)
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-9 {
                    fmt_decimals(*v, 0)
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| fmt_decimals(*v, 2))
            .x_desc("anonymity set size (users)")
            .y_desc("share of memberships ≤ x")
            .draw()
            .ok()?;
        for (j, sizes) in series.iter().enumerate() {
            if sizes.is_empty() {
                continue;
            }
            let total = sizes.len() as f64;
            let mut points = vec![(lo, 0.0)];
            let mut below = 0usize;
            let mut k = 0;
            while k < sizes.len() {
                let v = sizes[k];
                let mut end = k;
                while end < sizes.len() && sizes[end] == v {
                    end += 1;
                }
                let x = v as f64;
                points.push((x, below as f64 / total));
                below = end;
                points.push((x, below as f64 / total));
                k = end;
            }
            points.push((hi, 1.0));
            chart
                .draw_series(LineSeries::new(points, color(j).stroke_width(width_of(j))))
                .ok()?;
        }
        Some(())
    })
}

/// Foreign cross-room precision against recall of `adversary` at each of its thresholds,
/// numerators and denominators summed over the providers alone, one line per mode in threshold
/// order; the operating point is a larger dot. A threshold that links nothing has no precision
/// and no point.
pub(crate) fn pr_curve(a: &Analysis, adversary: &str) -> Option<String> {
    let providers = providers_alone(a);
    // Per mode: (threshold, operating, recall, precision), thresholds ascending.
    let series: Vec<Vec<(u64, bool, f64, f64)>> = a
        .modes
        .iter()
        .map(|(mode, _)| {
            let mut thresholds: Vec<(u64, bool)> = a
                .curves
                .iter()
                .filter(|p| p.adversary == adversary && p.mode == *mode)
                .map(|p| (p.threshold, p.operating))
                .collect();
            thresholds.sort_unstable();
            thresholds.dedup();
            thresholds
                .into_iter()
                .filter_map(|(t, operating)| {
                    let (rn, rd) =
                        pooled_curve(a, &providers, adversary, mode, t, |p| p.cross_room_recall);
                    let (pn, pd) = pooled_curve(a, &providers, adversary, mode, t, |p| {
                        p.cross_room_precision
                    });
                    (rd > 0.0 && pd > 0.0).then(|| (t, operating, rn / rd, pn / pd))
                })
                .collect()
        })
        .collect();
    if series.iter().all(Vec::is_empty) {
        return None;
    }
    let y_area = 64;
    let legend = Legend {
        entries: a
            .modes
            .iter()
            .enumerate()
            .map(|(j, (m, _))| (m.clone(), color(j), Swatch::Line(3)))
            .collect(),
        left: y_area + 8,
    };
    with_legend(NARROW, 340, &legend, |plot| {
        let mut chart = ChartBuilder::on(plot)
            .margin_top(16)
            .margin_right(18)
            .margin_left(8)
            .x_label_area_size(50)
            .y_label_area_size(y_area)
            .build_cartesian_2d(-0.02f64..1.02f64, -0.02f64..1.02f64)
            .ok()?;
        style_mesh(&mut chart.configure_mesh())
            .max_light_lines(0)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| fmt_decimals(*v, 1))
            .y_label_formatter(&|v| fmt_decimals(*v, 1))
            .x_desc("foreign cross-room recall")
            .y_desc("precision")
            .draw()
            .ok()?;
        for (j, points) in series.iter().enumerate() {
            let line: Vec<(f64, f64)> = points.iter().map(|&(_, _, r, p)| (r, p)).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color(j).stroke_width(3)))
                .ok()?;
            chart
                .draw_series(points.iter().map(|&(_, operating, r, p)| {
                    Circle::new((r, p), if operating { 7 } else { 3 }, color(j).filled())
                }))
                .ok()?;
        }
        Some(())
    })
}
