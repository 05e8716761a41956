//! The SVG chart of cumulative spend over time, one line per policy.
//!
//! Drawn with `plotters`' SVG backend only: text is written as SVG `<text>` elements, so no font
//! file is read and the chart can be drawn on any machine.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Result, SimError};
use crate::replay::{Policy, Replay};

fn err(e: impl std::fmt::Display) -> SimError {
    SimError::Chart(e.to_string())
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
    let max_spend = replay
        .curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(_, y)| *y))
        .fold(funds.unwrap_or(0.0), f64::max)
        .max(1.0);
    let x_max = replay.hours.max(1.0);
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}: cumulative spend (seed {})",
                replay.report.scenario, replay.report.seed
            ),
            ("sans-serif", 22),
        )
        .margin(18)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max, 0f64..max_spend * 1.08)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("hours since the start")
        .y_desc("spend (EUR)")
        .light_line_style(WHITE)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(err)?;
    for (policy, curve) in &replay.curves {
        let color = match policy {
            Policy::Naive => RGBColor(200, 40, 40),
            Policy::Antirelou => RGBColor(30, 110, 200),
        };
        let style = ShapeStyle::from(&color).stroke_width(2);
        chart
            .draw_series(LineSeries::new(curve.iter().copied(), style))
            .map_err(err)?
            .label(policy.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    if let Some(f) = funds {
        let grey = ShapeStyle::from(&RGBColor(110, 110, 110)).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, f), (x_max, f)],
                8,
                6,
                grey,
            ))
            .map_err(err)?
            .label("funds")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], grey));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
