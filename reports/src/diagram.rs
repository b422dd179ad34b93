//! "Where the time went": the order flow drawn from the event catalog — each step an
//! event type in a box naming the service that emits it and the topic it travels on,
//! each hop an arrow carrying its p50 and p99, the slowest hop in red — and below it
//! one box per consuming service with its consumer group's highest lag, its retries
//! and its dead letters. One for the whole run, one per fault window.
//!
//! [`flow_diagram`] builds the diagram as data (tested without drawing); the
//! [`Drawable`] impl lays it out: columns are the steps' depth in the flow
//! ([`EventType::depth`]), the main path above, the compensation branch below.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use events::flow::{Branch, step_hops};
use events::{EventType, Service};

use crate::chart::Drawable;
use crate::results::{Latency, Results};

/// One step of the flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub event_type: EventType,
    pub service: &'static str,
    pub topic: &'static str,
    pub column: usize,
    pub branch: Branch,
    /// Position among the nodes of the same column and branch (catalog order).
    pub slot: usize,
}

/// One hop of the flow, `cause → effect`, with its latency when it was measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    pub cause: EventType,
    pub effect: EventType,
    /// `"Cause->Effect"`, as results.json names hops.
    pub hop: String,
    pub count: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    /// The hop with the highest p99: where the time went.
    pub slowest: bool,
}

/// A consuming service: its group's highest lag, its retries and dead letters.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceBox {
    pub service: &'static str,
    pub lag_max: Option<u64>,
    pub retries: Option<f64>,
    pub dead_letters: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagram {
    pub slug: String,
    pub title: String,
    pub nodes: Vec<Node>,
    pub arrows: Vec<Arrow>,
    pub services: Vec<ServiceBox>,
}

/// Latency as diagrams and the first screen print it: `0.9 ms`, `16 ms`, `7.9 s`.
pub fn short_duration(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// The change of a cumulative service series between `from_s` and `to_s` (whole
/// seconds), summed over the series whose name is `service.suffix`; `None` when the
/// run has no such series.
fn counter_delta(r: &Results, name: &str, from_s: f64, to_s: f64) -> Option<f64> {
    let points = r.services.timeline.get(name)?;
    let at = |t: f64| {
        points
            .iter()
            .take_while(|p| p.t_s as f64 <= t)
            .last()
            .map_or(0.0, |p| p.value)
    };
    Some(at(to_s) - at(from_s))
}

/// The flow diagram of `latency` (the whole run's, or a fault window's), with the
/// services' lag, retries and dead letters between `from_s` and `to_s`.
pub fn flow_diagram(
    r: &Results,
    latency: &Latency,
    (from_s, to_s): (f64, f64),
    slug: &str,
    title: &str,
) -> Diagram {
    let mut nodes: Vec<Node> = Vec::new();
    for t in EventType::ALL.into_iter().filter(|t| t.is_step()) {
        let (column, branch) = (t.depth(), t.branch());
        let slot = nodes
            .iter()
            .filter(|n| n.column == column && n.branch == branch)
            .count();
        nodes.push(Node {
            event_type: t,
            service: t.emitted_by(),
            topic: t.topic().as_str(),
            column,
            branch,
            slot,
        });
    }
    let mut arrows: Vec<Arrow> = step_hops()
        .into_iter()
        .map(|(cause, effect)| {
            let hop = format!("{}->{}", cause.as_str(), effect.as_str());
            let p = latency.hops.get(&hop);
            Arrow {
                cause,
                effect,
                count: p.map_or(0, |p| p.count),
                p50_us: p.and_then(|p| p.p50_us),
                p99_us: p.and_then(|p| p.p99_us),
                hop,
                slowest: false,
            }
        })
        .collect();
    if let Some(slowest) = arrows
        .iter_mut()
        .filter(|a| a.p99_us.is_some())
        .max_by_key(|a| a.p99_us)
    {
        slowest.slowest = true;
    }
    let services = Service::ALL
        .iter()
        .map(|s| {
            let name = s.name();
            let lag_max = r.lag.timeline.get(name).and_then(|points| {
                points
                    .iter()
                    .filter(|p| {
                        let t = p.t_us as f64 / 1e6;
                        t >= from_s && t <= to_s
                    })
                    .map(|p| p.lag)
                    .max()
            });
            ServiceBox {
                service: name,
                lag_max,
                retries: counter_delta(r, &format!("{name}.retries_total"), from_s, to_s),
                dead_letters: counter_delta(r, &format!("{name}.dead_letters_total"), from_s, to_s),
            }
        })
        .collect();
    Diagram {
        slug: slug.to_string(),
        title: title.to_string(),
        nodes,
        arrows,
        services,
    }
}

/// The run's diagrams: the whole run (after warm-up), then one per fault window that
/// has its own latency (results written before windows kept theirs have none).
pub fn run_diagrams(r: &Results) -> Vec<Diagram> {
    let warmup_s = r.phases.map_or(0.0, |p| p.warmup_end_us as f64 / 1e6);
    let mut out = vec![flow_diagram(
        r,
        &r.latency,
        (warmup_s, f64::INFINITY),
        "flow",
        "Where the time went: each hop's p50 and p99 (the slowest in red); lag, retries and dead letters per service",
    )];
    for f in &r.faults {
        if let Some(latency) = &f.latency {
            out.push(flow_diagram(
                r,
                latency,
                (f.start_s, f.end_s),
                &format!("flow-{}", f.id),
                &format!(
                    "During {} {} ({:.1}–{:.1} s): orders sent in the window; lag, retries and dead letters within it",
                    f.kind.name(),
                    f.target,
                    f.start_s,
                    f.end_s
                ),
            ));
        }
    }
    out
}

const WIDTH: u32 = 960;
const MARGIN: i32 = 12;
const TOP: i32 = 44;
const NODE_W: i32 = 124;
const NODE_H: i32 = 38;
const PITCH: i32 = 50;
/// Space between the main row and the compensation row, for the arrows' labels.
const ROW_GAP: i32 = 44;
const SERVICE_H: i32 = 50;

const INK: RGBColor = RGBColor(40, 40, 40);
const MUTED: RGBColor = RGBColor(110, 110, 110);
const ARROW: RGBColor = RGBColor(70, 110, 160);
const SLOW: RGBColor = RGBColor(200, 30, 30);
const NONE: RGBColor = RGBColor(190, 190, 190);

impl Diagram {
    fn columns(&self) -> usize {
        self.nodes.iter().map(|n| n.column + 1).max().unwrap_or(1)
    }

    fn slots(&self, branch: Branch) -> i32 {
        self.nodes
            .iter()
            .filter(|n| n.branch == branch)
            .map(|n| n.slot as i32 + 1)
            .max()
            .unwrap_or(0)
    }

    fn compensation_top(&self) -> i32 {
        TOP + self.slots(Branch::Main) * PITCH + ROW_GAP
    }

    /// Below the compensation row: where arrows skipping columns are routed.
    fn channel(&self) -> i32 {
        self.compensation_top() + self.slots(Branch::Compensation) * PITCH + 4
    }

    fn services_top(&self) -> i32 {
        self.channel() + 26
    }

    /// The node's box: left, top, right, bottom.
    fn place(&self, n: &Node) -> (i32, i32, i32, i32) {
        let column_w = (WIDTH as i32 - 2 * MARGIN) / self.columns() as i32;
        let left = MARGIN + n.column as i32 * column_w + (column_w - NODE_W) / 2;
        let row = match n.branch {
            Branch::Main => TOP,
            _ => self.compensation_top(),
        };
        let top = row + n.slot as i32 * PITCH;
        (left, top, left + NODE_W, top + NODE_H)
    }

    fn node(&self, t: EventType) -> Option<&Node> {
        self.nodes.iter().find(|n| n.event_type == t)
    }
}

fn font(size: f64, colour: RGBColor) -> TextStyle<'static> {
    ("sans-serif", size)
        .into_font()
        .color(&colour)
        .pos(Pos::new(HPos::Center, VPos::Center))
}

fn count_text(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v}"))
}

impl Drawable for Diagram {
    fn slug(&self) -> &str {
        &self.slug
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn size(&self) -> (u32, u32) {
        (WIDTH, (self.services_top() + SERVICE_H + MARGIN) as u32)
    }

    fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        area.fill(&WHITE).map_err(e)?;
        area.draw(&Text::new(
            self.title.clone(),
            (MARGIN, 10),
            ("sans-serif", 14).into_font().color(&INK),
        ))
        .map_err(e)?;

        // Arrows first, so the boxes and labels sit on top of them.
        let mut labels = Vec::new();
        for a in &self.arrows {
            let (Some(c), Some(t)) = (self.node(a.cause), self.node(a.effect)) else {
                continue;
            };
            let (cl, ct, cr, cb) = self.place(c);
            let (tl, tt, _, tb) = self.place(t);
            let (cy, ty) = ((ct + cb) / 2, (tt + tb) / 2);
            let skips = c.branch == t.branch && t.column > c.column + 1;
            let path: Vec<(i32, i32)> = if skips {
                let (cx, tx) = ((cl + cr) / 2, tl + NODE_W / 2);
                let channel = self.channel();
                vec![(cx, cb), (cx, channel), (tx, channel), (tx, tb)]
            } else {
                vec![(cr, cy), (tl, ty)]
            };
            let colour = match (a.slowest, a.p99_us.is_some()) {
                (true, _) => SLOW,
                (false, true) => ARROW,
                (false, false) => NONE,
            };
            let width = if a.slowest { 3 } else { 1 };
            area.draw(&PathElement::new(path.clone(), colour.stroke_width(width)))
                .map_err(e)?;
            // The arrowhead, along the last segment.
            let (from, to) = (path[path.len() - 2], path[path.len() - 1]);
            let (dx, dy) = ((to.0 - from.0) as f64, (to.1 - from.1) as f64);
            let len = (dx * dx + dy * dy).sqrt().max(1.0);
            let (ux, uy) = (dx / len, dy / len);
            let head = |along: f64, across: f64| {
                (
                    (to.0 as f64 - ux * along - uy * across).round() as i32,
                    (to.1 as f64 - uy * along + ux * across).round() as i32,
                )
            };
            area.draw(&Polygon::new(
                vec![to, head(9.0, 4.5), head(9.0, -4.5)],
                colour.filled(),
            ))
            .map_err(e)?;
            // A label sits on a routed arrow's long segment, above a level arrow (so
            // the arrow stays visible), or on a sloping arrow's middle.
            let level = !skips && from.1 == to.1;
            let (mx, my) = if skips {
                ((path[1].0 + path[2].0) / 2, path[1].1)
            } else if level {
                ((from.0 + to.0) / 2, from.1 - 14)
            } else {
                ((from.0 + to.0) / 2, (from.1 + to.1) / 2)
            };
            labels.push((a, mx, my, colour, !level));
        }
        for n in &self.nodes {
            let (l, t, r, b) = self.place(n);
            let border = match n.branch {
                Branch::Main => RGBColor(90, 90, 90),
                _ => RGBColor(190, 140, 60),
            };
            area.draw(&Rectangle::new(
                [(l, t), (r, b)],
                RGBColor(248, 248, 250).filled(),
            ))
            .map_err(e)?;
            area.draw(&Rectangle::new([(l, t), (r, b)], border.stroke_width(1)))
                .map_err(e)?;
            let cx = (l + r) / 2;
            area.draw(&Text::new(
                n.event_type.as_str().to_string(),
                (cx, t + 13),
                font(11.0, INK),
            ))
            .map_err(e)?;
            area.draw(&Text::new(
                format!("{} · {}", n.service, n.topic),
                (cx, t + 28),
                font(9.5, MUTED),
            ))
            .map_err(e)?;
        }
        for (a, x, y, colour, backed) in labels {
            let lines = match (a.p50_us, a.p99_us) {
                (Some(p50), Some(p99)) => vec![
                    format!("p50 {}", short_duration(p50)),
                    format!("p99 {}", short_duration(p99)),
                ],
                _ => vec!["no data".to_string()],
            };
            let h = 12 * lines.len() as i32;
            let w = 62;
            if backed {
                area.draw(&Rectangle::new(
                    [(x - w / 2, y - h / 2 - 1), (x + w / 2, y + h / 2 + 1)],
                    WHITE.mix(0.9).filled(),
                ))
                .map_err(e)?;
            }
            for (i, line) in lines.iter().enumerate() {
                let ly = y - h / 2 + 6 + 12 * i as i32;
                area.draw(&Text::new(line.clone(), (x, ly), font(10.0, colour)))
                    .map_err(e)?;
            }
        }

        // The consuming services: lag, retries, dead letters.
        let top = self.services_top();
        let n = self.services.len().max(1) as i32;
        let w = (WIDTH as i32 - 2 * MARGIN) / n;
        for (i, s) in self.services.iter().enumerate() {
            let l = MARGIN + i as i32 * w + 3;
            let r = l + w - 6;
            let hot = s.dead_letters.is_some_and(|d| d > 0.0);
            area.draw(&Rectangle::new(
                [(l, top), (r, top + SERVICE_H)],
                RGBColor(243, 246, 250).filled(),
            ))
            .map_err(e)?;
            area.draw(&Rectangle::new(
                [(l, top), (r, top + SERVICE_H)],
                if hot { SLOW } else { RGBColor(160, 170, 185) }.stroke_width(1),
            ))
            .map_err(e)?;
            let cx = (l + r) / 2;
            let lines = [
                (s.service.to_string(), 11.0, INK),
                (
                    format!(
                        "lag max {}",
                        s.lag_max.map_or("-".into(), |v| v.to_string())
                    ),
                    10.0,
                    MUTED,
                ),
                (
                    format!(
                        "retries {} · dead letters {}",
                        count_text(s.retries),
                        count_text(s.dead_letters)
                    ),
                    9.5,
                    if hot { SLOW } else { MUTED },
                ),
            ];
            for (j, (text, size, colour)) in lines.into_iter().enumerate() {
                area.draw(&Text::new(
                    text,
                    (cx, top + 10 + 15 * j as i32),
                    font(size, colour),
                ))
                .map_err(e)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(json: &str) -> Results {
        Results::parse(json).expect("parse")
    }

    #[test]
    fn every_step_hop_is_drawn_and_the_slowest_is_marked() {
        let r = results(
            r#"{"experiment":"x","verdict":"pass","latency":{"hops":{
                "OrderPlaced->StockReserved":{"count":3,"p50_us":2000,"p99_us":7900000},
                "StockReserved->PaymentCaptured":{"count":3,"p50_us":3000,"p99_us":9000},
                "NotificationSent->MetricUpdated":{"count":3,"p50_us":1,"p99_us":99000000}}},
                "lag":{"timeline":{"inventory":[{"t_us":1000000,"lag":40},{"t_us":9000000,"lag":7}]}},
                "services":{"timeline":{"payment.retries_total":[{"t_s":0,"value":1},{"t_s":5,"value":4}]}}}"#,
        );
        let d = flow_diagram(&r, &r.latency, (0.0, f64::INFINITY), "flow", "t");
        assert_eq!(d.arrows.len(), step_hops().len());
        let slowest: Vec<&str> = d
            .arrows
            .iter()
            .filter(|a| a.slowest)
            .map(|a| a.hop.as_str())
            .collect();
        assert_eq!(
            slowest,
            ["OrderPlaced->StockReserved"],
            "a by-product is no step"
        );
        let inventory = d.services.iter().find(|s| s.service == "inventory");
        assert_eq!(inventory.and_then(|s| s.lag_max), Some(40));
        let payment = d.services.iter().find(|s| s.service == "payment");
        assert_eq!(payment.and_then(|s| s.retries), Some(3.0));

        let svg = crate::chart::svg(&d).expect("svg");
        for a in &d.arrows {
            assert!(svg.contains(a.cause.as_str()) && svg.contains(a.effect.as_str()));
        }
        assert!(svg.contains("p99 7.9 s"), "{svg}");
        let mut png = Vec::new();
        crate::chart::png(&d, &mut png).expect("png");
        assert!(png.starts_with(b"\x89PNG"));
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(860), "0.9 ms");
        assert_eq!(short_duration(16_039), "16 ms");
        assert_eq!(short_duration(7_900_000), "7.9 s");
    }
}
