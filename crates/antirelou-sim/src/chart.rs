//! The SVG chart of cumulative spend over time, one line per run.
//!
//! Drawn with `plotters`' SVG backend only: text is written as SVG `<text>` elements, so no font
//! file is read and the chart can be drawn on any machine. The x axis is the scenario's local
//! time (its zone in the axis title), with a line and a label at each local midnight; the
//! attacks' windows are shaded; the moment the number was stopped, the operators' switch-off
//! bill or the prepaid funds, and the antirelou run's daily cap (cumulated day by day) are
//! drawn; the legend sits in its own panel to the right, over no data.

use std::path::Path;

use antirelou_core::Timestamp;
use chrono::{DateTime, Utc};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::error::{Result, SimError};
use crate::replay::{Policy, Replay};

fn err(e: impl std::fmt::Display) -> SimError {
    SimError::Chart(e.to_string())
}

const NAIVE: RGBColor = RGBColor(200, 40, 40);
const NAIVE_ON: RGBColor = RGBColor(240, 150, 150);
const ANTI: RGBColor = RGBColor(30, 110, 200);
const GREY: RGBColor = RGBColor(110, 110, 110);
const CAP: RGBColor = RGBColor(30, 150, 80);
const ATTACK: RGBColor = RGBColor(255, 200, 120);

/// Local wall-clock time `hours` after the start.
fn local(replay: &Replay, hours: f64) -> DateTime<Utc> {
    let s = &replay.scenario;
    let start = s.start_time().unwrap_or(Timestamp::from_millis(0));
    let t = Timestamp::from_millis(start.as_millis() + (hours * 3_600_000.0) as i64);
    let off = s.utc_offset_secs_at(t);
    DateTime::<Utc>::from_timestamp_millis(t.as_millis() + off * 1000).unwrap_or_default()
}

/// Hours since the start of every local midnight inside `0..x_max` (found minute by minute,
/// so a change of offset inside the window is followed).
fn midnights(replay: &Replay, x_max: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut prev = local(replay, 0.0).date_naive();
    let steps = (x_max * 60.0).ceil() as i64;
    for m in 1..=steps {
        let h = m as f64 / 60.0;
        let d = local(replay, h).date_naive();
        if d != prev {
            out.push(h);
            prev = d;
        }
    }
    out
}

/// The antirelou daily cap cumulated day by day (UTC days, the spend ledger's): a staircase.
fn cap_steps(replay: &Replay, cap: f64, x_max: f64) -> Vec<(f64, f64)> {
    let s = &replay.scenario;
    let start_ms = s.start_time().map_or(0, |t| t.as_millis());
    let day = 86_400_000i64;
    let mut pts = vec![(0.0, cap)];
    let mut total = cap;
    let mut next = (start_ms.div_euclid(day) + 1) * day;
    loop {
        let h = (next - start_ms) as f64 / 3_600_000.0;
        if h > x_max {
            break;
        }
        pts.push((h, total));
        total += cap;
        pts.push((h, total));
        next += day;
    }
    pts.push((x_max, total));
    pts
}

/// Draw the cumulative spend of each run of `replay` into an SVG file at `path` (its folder is
/// created). `funds`, when given, is drawn as a dashed horizontal line: the money behind the
/// number.
pub fn write_spend_chart(path: &Path, replay: &Replay, funds: Option<f64>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SimError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    let root = SVGBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (plot, legend) = root.split_horizontally(900);
    draw_plot(&plot, replay, funds)?;
    draw_legend(&legend, replay, funds)?;
    root.present().map_err(err)?;
    Ok(())
}

/// The plot's coordinates: hours since the start, euros.
type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draw the plot: the frame and axes, then from back to front the attack windows and local
/// midnights, the limits (cap, funds, switch-off), the spend curves and the moments the runs
/// stopped.
fn draw_plot(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    replay: &Replay,
    funds: Option<f64>,
) -> Result<()> {
    let x_max = replay.hours.max(1.0);
    let top = y_max(replay, funds) * 1.12;
    let mut chart = plot_frame(area, replay, x_max, top)?;
    draw_attack_windows(&mut chart, replay, x_max, top)?;
    draw_midnights(&mut chart, replay, x_max, top)?;
    draw_limits(&mut chart, replay, funds, x_max, top)?;
    draw_curves(&mut chart, replay)?;
    draw_stops(&mut chart, replay, x_max, top)
}

/// The highest value the plot must show: the curves, the funds, the operators' switch-off, and
/// the daily cap as far as it stays near the antirelou curve (its staircase may climb far above
/// the data; it is drawn only up to the top).
fn y_max(replay: &Replay, funds: Option<f64>) -> f64 {
    let r = &replay.report;
    let curves_max = replay
        .curves
        .iter()
        .map(|(_, c)| c)
        .chain(replay.uncapped_curve.iter())
        .flat_map(|c| c.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    let y_max = curves_max
        .max(funds.unwrap_or(0.0))
        .max(r.operator_shutoff_eur.unwrap_or(0.0))
        .max(1.0);
    let anti_max = replay
        .curves
        .iter()
        .filter(|(p, _)| *p == Policy::Antirelou)
        .flat_map(|(_, c)| c.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    match r.daily_cap_eur {
        Some(c) => y_max.max(c.min(anti_max * 2.0)),
        None => y_max,
    }
}

/// The caption, the axes up to `x_max` hours and `top` euros, and their labels in the
/// scenario's local time.
fn plot_frame<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    replay: &Replay,
    x_max: f64,
    top: f64,
) -> Result<Plot<'a, 'b>> {
    let scenario = &replay.scenario;
    let zone = scenario.zone_label(
        scenario.utc_offset_secs_at(scenario.start_time().unwrap_or(Timestamp::from_millis(0))),
    );
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{}: cumulative spend (seed {})",
                replay.report.scenario, replay.report.seed
            ),
            ("sans-serif", 22),
        )
        .margin(14)
        .margin_top(10)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..top)
        .map_err(err)?;
    let label = |h: &f64| local(replay, *h).format("%H:%M").to_string();
    chart
        .configure_mesh()
        .x_desc(format!(
            "local time ({zone} at the start); a line at each midnight"
        ))
        .y_desc("spend since the start (EUR)")
        .x_labels(14)
        .x_label_formatter(&label)
        .light_line_style(WHITE)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// The attacks' windows, shaded behind everything, with their labels.
fn draw_attack_windows(
    chart: &mut Plot<'_, '_>,
    replay: &Replay,
    x_max: f64,
    top: f64,
) -> Result<()> {
    for (lo, hi, what) in &replay.attack_windows {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(*lo, 0.0), (hi.min(x_max), top)],
                ATTACK.mix(0.35).filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                what.clone(),
                (*lo, top * 0.985),
                ("sans-serif", 13).into_font().color(&RGBColor(160, 90, 0)),
            )))
            .map_err(err)?;
    }
    Ok(())
}

/// A line at each local midnight, with the date.
fn draw_midnights(chart: &mut Plot<'_, '_>, replay: &Replay, x_max: f64, top: f64) -> Result<()> {
    for h in midnights(replay, x_max) {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(h, 0.0), (h, top)],
                GREY.mix(0.5).stroke_width(1),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                local(replay, h).format("%a %d %b").to_string(),
                (h, top * 0.93),
                ("sans-serif", 13).into_font().color(&GREY),
            )))
            .map_err(err)?;
    }
    Ok(())
}

/// The limits, dashed: the antirelou daily cap cumulated day by day (up to the top), the
/// prepaid funds and the operators' switch-off bill.
fn draw_limits(
    chart: &mut Plot<'_, '_>,
    replay: &Replay,
    funds: Option<f64>,
    x_max: f64,
    top: f64,
) -> Result<()> {
    let r = &replay.report;
    if let Some(c) = r.daily_cap_eur {
        let steps: Vec<(f64, f64)> = cap_steps(replay, c, x_max)
            .into_iter()
            .filter(|(_, y)| *y <= top)
            .collect();
        chart
            .draw_series(DashedLineSeries::new(steps, 4, 4, CAP.stroke_width(2)))
            .map_err(err)?;
    }
    for (line, value) in [(funds, GREY), (r.operator_shutoff_eur, GREY)] {
        if let Some(v) = line {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, v), (x_max, v)],
                    8,
                    6,
                    value.stroke_width(1),
                ))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// The spend curves: the naive run left on (dashed), the antirelou run's replies alone
/// (dashed), then each run's whole bill.
fn draw_curves(chart: &mut Plot<'_, '_>, replay: &Replay) -> Result<()> {
    if let Some(c) = &replay.uncapped_curve {
        chart
            .draw_series(DashedLineSeries::new(
                c.iter().copied(),
                6,
                4,
                NAIVE_ON.stroke_width(2),
            ))
            .map_err(err)?;
    }
    if !replay.antirelou_reply_curve.is_empty() {
        chart
            .draw_series(DashedLineSeries::new(
                replay.antirelou_reply_curve.iter().copied(),
                3,
                3,
                ANTI.stroke_width(1),
            ))
            .map_err(err)?;
    }
    for (policy, curve) in &replay.curves {
        let color = match policy {
            Policy::Naive => NAIVE,
            Policy::Antirelou => ANTI,
        };
        chart
            .draw_series(LineSeries::new(
                curve.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?;
    }
    Ok(())
}

/// The moment each run stopped: a line and its local time.
fn draw_stops(chart: &mut Plot<'_, '_>, replay: &Replay, x_max: f64, top: f64) -> Result<()> {
    for ((policy, _), stop) in replay.curves.iter().zip(&replay.stopped_hours) {
        let Some(h) = stop else { continue };
        let color = if *policy == Policy::Naive {
            NAIVE
        } else {
            ANTI
        };
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(*h, 0.0), (*h, top * 0.88)],
                color.stroke_width(2),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!(
                    "{} switched off {}",
                    policy.as_str(),
                    local(replay, *h).format("%a %H:%M")
                ),
                (*h - x_max * 0.2, top * 0.88),
                ("sans-serif", 13).into_font().color(&color),
            )))
            .map_err(err)?;
    }
    Ok(())
}

fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    replay: &Replay,
    funds: Option<f64>,
) -> Result<()> {
    let r = &replay.report;
    let mut items: Vec<(String, RGBColor, bool)> = Vec::new();
    for (p, _) in &replay.curves {
        let (name, color) = match p {
            Policy::Naive => ("naive (every text answered)", NAIVE),
            Policy::Antirelou => ("antirelou (default defences)", ANTI),
        };
        items.push((name.into(), color, false));
        if *p == Policy::Antirelou && !replay.antirelou_reply_curve.is_empty() {
            items.push((
                "antirelou, replies only (what the cap bounds)".into(),
                ANTI,
                true,
            ));
        }
        if *p == Policy::Naive && replay.uncapped_curve.is_some() {
            items.push((
                "naive, left on (nobody switched off)".into(),
                NAIVE_ON,
                true,
            ));
        }
    }
    if let Some(c) = r.daily_cap_eur {
        items.push((
            format!(
                "antirelou daily cap on replies ({}/day, UTC days, cumulated)",
                crate::report::euros(c)
            ),
            CAP,
            true,
        ));
    }
    if let Some(v) = r.operator_shutoff_eur {
        items.push((
            format!("operators switch off at {}", crate::report::euros(v)),
            GREY,
            true,
        ));
    }
    if let Some(v) = funds {
        items.push((
            format!("prepaid funds {}", crate::report::euros(v)),
            GREY,
            true,
        ));
    }
    let font = ("sans-serif", 14).into_font();
    let mut y = 60;
    for (name, color, dashed) in items {
        let style = color.stroke_width(3);
        if dashed {
            for x in (10..40).step_by(10) {
                area.draw(&PathElement::new(vec![(x, y), (x + 6, y)], style))
                    .map_err(err)?;
            }
        } else {
            area.draw(&PathElement::new(vec![(10, y), (40, y)], style))
                .map_err(err)?;
        }
        // Long labels wrap on two lines.
        let (a, b) = split_label(&name, 30);
        area.draw(&Text::new(a, (48, y - 7), font.clone()))
            .map_err(err)?;
        if let Some(b) = b {
            area.draw(&Text::new(b, (48, y + 9), font.clone()))
                .map_err(err)?;
            y += 16;
        }
        y += 30;
    }
    if !replay.attack_windows.is_empty() {
        area.draw(&Rectangle::new(
            [(10, y - 8), (40, y + 8)],
            ATTACK.mix(0.35).filled(),
        ))
        .map_err(err)?;
        area.draw(&Text::new("attack windows", (48, y - 7), font.clone()))
            .map_err(err)?;
    }
    Ok(())
}

fn split_label(s: &str, width: usize) -> (String, Option<String>) {
    if s.chars().count() <= width {
        return (s.to_owned(), None);
    }
    let cut = s
        .char_indices()
        .filter(|(i, c)| *c == ' ' && *i <= width)
        .map(|(i, _)| i)
        .next_back()
        .unwrap_or(width.min(s.len()));
    (s[..cut].to_owned(), Some(s[cut..].trim_start().to_owned()))
}
