//! One chart described as data ([`Chart`]: series of points, shaded fault windows, an
//! axis kind) and drawn by one function onto any plotters backend: PNG bytes for the
//! files next to results.json, SVG text for inline use in the HTML report.
//!
//! Text in PNGs uses the DejaVu Sans font embedded in this crate (`fonts/`, Bitstream
//! Vera license, see `fonts/LICENSE-DejaVu.txt`), so no system font is needed. In SVG
//! the browser draws the text with its own sans-serif font.
//!
//! Drawing never panics on edge inputs: no series, empty series, one point, all zeros,
//! non-finite values (dropped) — the chart then says "no data" or pads its ranges.

use std::io::Write;
use std::ops::Range;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::ReportError;

pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 380;

/// How the x axis is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// Seconds since the run started.
    Seconds,
    /// Percentiles spaced as `log10(1 / (1 - p))`, as HdrHistogram's percentile plots
    /// draw them: 50 → 0.3, 90 → 1, 99 → 2, … 99.999 → 5; the maximum is drawn at
    /// [`MAX_X`]. Points carry that x already (see [`percentile_x`]).
    LogPercentile,
}

/// Where the maximum sits on the percentile axis (after p99.999).
pub const MAX_X: f64 = 6.0;

/// The x positions and labels of the percentile axis.
pub const PERCENTILE_TICKS: [(f64, &str); 7] = [
    (std::f64::consts::LOG10_2, "p50"),
    (1.0, "p90"),
    (2.0, "p99"),
    (3.0, "p99.9"),
    (4.0, "p99.99"),
    (5.0, "p99.999"),
    (MAX_X, "max"),
];

/// The x of percentile `p` (0 < p < 1) on a [`XAxis::LogPercentile`] axis.
pub fn percentile_x(p: f64) -> f64 {
    -(1.0 - p).log10()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed-looking (thinner, lighter): secondary series such as p50 beside p99.
    pub light: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            light: false,
        }
    }
}

/// A shaded interval of the x axis: a fault window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub start: f64,
    pub end: f64,
    /// Written at the top of the window (`down gateway`); empty for none.
    pub label: String,
}

/// One cell of a heatmap: an x interval, a y interval (in the y axis' own unit, before
/// a log axis is applied) and how many values fell in it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatCell {
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File stem of the PNG and id of the SVG (`latency-over-time`).
    pub slug: String,
    pub title: String,
    pub x: XAxis,
    pub x_label: String,
    pub y_label: String,
    /// A logarithmic y axis (latency spanning milliseconds to seconds); values at or
    /// below 0 are drawn at [`LOG_FLOOR`].
    pub y_log: bool,
    pub series: Vec<Series>,
    pub windows: Vec<Window>,
    /// Heatmap cells drawn under the series, coloured by count (white to dark blue,
    /// on a log scale of the count); empty for a line chart.
    pub heat: Vec<HeatCell>,
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of the `i`-th series (also used by the HTML legend tables).
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

pub(crate) fn font() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../../fonts/DejaVuSans.ttf"),
        )
        .is_ok()
    });
    if ok { Ok(()) } else { Err(ReportError::Font) }
}

/// Something drawn once onto any plotters backend: a [`Chart`], or the flow diagram
/// ([`crate::diagram::Diagram`]). [`png`] and [`svg`] render it.
pub trait Drawable {
    /// File stem of the PNG and id of the SVG.
    fn slug(&self) -> &str;
    /// For screen readers (the SVG's `aria-label`).
    fn title(&self) -> &str;
    fn size(&self) -> (u32, u32);
    /// Draws onto `area`; errors are the backend's, as text.
    fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

impl Drawable for Chart {
    fn slug(&self) -> &str {
        &self.slug
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn size(&self) -> (u32, u32) {
        (WIDTH, HEIGHT)
    }
    fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw(area, self)
    }
}

/// The chart or diagram as PNG, written to `out`.
pub fn png<T: Drawable, W: Write>(item: &T, out: W) -> Result<(), ReportError> {
    font()?;
    let fail = |message: String| ReportError::Chart {
        chart: item.slug().to_string(),
        message,
    };
    let (width, height) = item.size();
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        item.draw_on(&root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let mut encoder = png::Encoder::new(out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| fail(format!("encoding PNG: {e}")))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| fail(format!("encoding PNG: {e}")))?;
    writer
        .finish()
        .map_err(|e| fail(format!("encoding PNG: {e}")))?;
    Ok(())
}

/// The chart or diagram as an `<svg>` element for inline use in HTML: no XML namespace
/// URL, sized by its container, labelled for screen readers.
pub fn svg<T: Drawable>(item: &T) -> Result<String, ReportError> {
    font()?;
    let fail = |message: String| ReportError::Chart {
        chart: item.slug().to_string(),
        message,
    };
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, item.size()).into_drawing_area();
        item.draw_on(&root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    // Inline SVG in HTML needs no namespace declaration; dropping it keeps the page free
    // of any URL at all.
    let text = text.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1);
    let open = format!(
        r#"<svg class="chart" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet""#,
        crate::escape::attr(item.title())
    );
    Ok(text.replacen("<svg", &open, 1))
}

/// An axis label: no decimals from 100 up, one from 1, two below.
fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn finite(points: &[(f64, f64)]) -> impl Iterator<Item = (f64, f64)> + '_ {
    points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
}

/// A range that is never empty nor inverted.
fn padded(min: f64, max: f64) -> Range<f64> {
    if !(min.is_finite() && max.is_finite()) || min > max {
        return 0.0..1.0;
    }
    if max - min < 1e-9 {
        return (min - 1.0)..(max + 1.0);
    }
    min..max
}

/// The smallest value a logarithmic axis shows.
pub const LOG_FLOOR: f64 = 1e-3;

/// The chart with y replaced by `log10(y)` (drawn on a linear axis whose labels say
/// `10^y`), so one code path draws both kinds of axis.
fn log_y(chart: &Chart) -> Chart {
    let mut out = chart.clone();
    let log = |v: f64| v.max(LOG_FLOOR).log10();
    for s in &mut out.series {
        for p in &mut s.points {
            p.1 = log(p.1);
        }
    }
    for c in &mut out.heat {
        c.y = (log(c.y.0), log(c.y.1));
    }
    out
}

/// The colour of a heatmap cell: light blue for one value, darker with more, on a log
/// scale up to the chart's busiest cell.
fn heat_colour(count: u64, busiest: u64) -> RGBColor {
    let t = if busiest <= 1 {
        1.0
    } else {
        ((count.max(1) as f64).ln() / (busiest as f64).ln()).clamp(0.0, 1.0)
    };
    let mix = |light: f64, dark: f64| (light + (dark - light) * t).round() as u8;
    RGBColor(mix(222.0, 8.0), mix(235.0, 48.0), mix(247.0, 107.0))
}

fn ranges(chart: &Chart) -> (Range<f64>, Range<f64>) {
    let mut xs: Vec<f64> = Vec::new();
    let mut y_max = if chart.y_log {
        f64::NEG_INFINITY
    } else {
        0.0f64
    };
    let mut y_min = if chart.y_log { f64::INFINITY } else { 0.0f64 };
    let cells = chart
        .heat
        .iter()
        .flat_map(|c| [(c.x.0, c.y.0), (c.x.1, c.y.1)]);
    let points = chart
        .series
        .iter()
        .flat_map(|s| finite(&s.points).collect::<Vec<_>>());
    for (x, y) in points.chain(cells.filter(|(x, y)| x.is_finite() && y.is_finite())) {
        xs.push(x);
        y_max = y_max.max(y);
        y_min = y_min.min(y);
    }
    let x = match chart.x {
        XAxis::LogPercentile => -0.15..MAX_X + 0.3,
        XAxis::Seconds => {
            for w in &chart.windows {
                xs.extend([w.start, w.end].into_iter().filter(|v| v.is_finite()));
            }
            let min = xs.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
            let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            padded(min, max)
        }
    };
    if chart.y_log {
        // log10 values: a tenth of a decade of room on each side
        return (x, padded(y_min - 0.1, y_max + 0.1));
    }
    let top = if y_max > 0.0 { y_max * 1.08 } else { 1.0 };
    (x, padded(y_min * 1.08, top))
}

/// Draws `chart` onto `area`. Errors are the backend's, as text.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(e)?;
    let logged;
    let chart = if chart.y_log {
        logged = log_y(chart);
        &logged
    } else {
        chart
    };
    let (x_range, y_range) = ranges(chart);
    let log = chart.y_log;
    let y_label = move |v: &f64| {
        if log {
            number(10f64.powf(*v))
        } else {
            number(*v)
        }
    };
    let percentile = chart.x == XAxis::LogPercentile;
    let mut context = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range.clone(), y_range.clone())
        .map_err(e)?;
    let mut mesh = context.configure_mesh();
    mesh.x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215));
    if percentile {
        mesh.x_labels(0).disable_x_mesh();
    }
    mesh.draw().map_err(e)?;

    let busiest = chart.heat.iter().map(|c| c.count).max().unwrap_or(0);
    let cells = chart
        .heat
        .iter()
        .filter(|c| [c.x.0, c.x.1, c.y.0, c.y.1].iter().all(|v| v.is_finite()) && c.count > 0);
    context
        .draw_series(cells.map(|c| {
            Rectangle::new(
                [(c.x.0, c.y.0), (c.x.1, c.y.1)],
                heat_colour(c.count, busiest).filled(),
            )
        }))
        .map_err(e)?;
    for w in &chart.windows {
        let start = w.start.max(x_range.start);
        let end = w.end.min(x_range.end);
        if !(start.is_finite() && end.is_finite()) || start > end {
            continue;
        }
        let shade = if chart.heat.is_empty() { 0.13 } else { 0.07 };
        context
            .draw_series(std::iter::once(Rectangle::new(
                [(start, y_range.start), (end.max(start + 1e-6), y_range.end)],
                RGBColor(214, 39, 40).mix(shade).filled(),
            )))
            .map_err(e)?;
        if !chart.heat.is_empty() {
            // On a heatmap the window is outlined too: its shading alone is hidden
            // under the cells.
            context
                .draw_series(std::iter::once(Rectangle::new(
                    [(start, y_range.start), (end.max(start + 1e-6), y_range.end)],
                    RGBColor(214, 39, 40).stroke_width(1),
                )))
                .map_err(e)?;
        }
        if !w.label.is_empty() {
            let (px, py) = context.backend_coord(&(start, y_range.end));
            area.draw(&Text::new(
                w.label.clone(),
                (px + 4, py + 4),
                ("sans-serif", 12).into_font().color(&RGBColor(170, 30, 30)),
            ))
            .map_err(e)?;
        }
    }
    if percentile {
        for (x, label) in PERCENTILE_TICKS {
            context
                .draw_series(LineSeries::new(
                    [(x, y_range.start), (x, y_range.end)],
                    RGBColor(225, 225, 225),
                ))
                .map_err(e)?;
            let (px, py) = context.backend_coord(&(x, y_range.start));
            area.draw(&Text::new(
                label.to_string(),
                (px - 4 * label.len() as i32, py + 6),
                ("sans-serif", 12).into_font(),
            ))
            .map_err(e)?;
        }
    }

    let mut labelled = false;
    for (i, s) in chart.series.iter().enumerate() {
        let points: Vec<(f64, f64)> = finite(&s.points).collect();
        if points.is_empty() {
            continue;
        }
        let c = color(i);
        let style = if s.light {
            c.mix(0.55).stroke_width(1)
        } else {
            c.stroke_width(2)
        };
        let series = context
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(e)?;
        series
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], c.stroke_width(2)));
        labelled = true;
        if percentile || points.len() < 3 {
            context
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(e)?;
        }
    }
    if labelled {
        context
            .configure_series_labels()
            // Spectra rise to the right: their empty corner is the lower right.
            .position(if percentile {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperLeft
            })
            .label_font(("sans-serif", 12))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(e)?;
    } else if chart.heat.is_empty() {
        let mid_x = (x_range.start + x_range.end) / 2.0;
        let mid_y = (y_range.start + y_range.end) / 2.0;
        let (px, py) = context.backend_coord(&(mid_x, mid_y));
        area.draw(&Text::new(
            "no data".to_string(),
            (px - 25, py),
            ("sans-serif", 16)
                .into_font()
                .color(&RGBColor(120, 120, 120)),
        ))
        .map_err(e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
