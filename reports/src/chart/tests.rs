//! Unit tests of the chart drawing.

use super::*;

fn chart(series: Vec<Series>, windows: Vec<Window>, x: XAxis) -> Chart {
    Chart {
        slug: "t".into(),
        title: "a <title> & more".into(),
        x,
        x_label: "s".into(),
        y_label: "ms".into(),
        y_log: false,
        series,
        windows,
        heat: Vec::new(),
    }
}

/// Every edge input renders to both backends without an error or a panic.
#[test]
fn edge_inputs_render() {
    let cases = [
        chart(vec![], vec![], XAxis::Seconds),
        chart(vec![Series::new("empty", vec![])], vec![], XAxis::Seconds),
        chart(
            vec![Series::new("one", vec![(3.0, 7.0)])],
            vec![],
            XAxis::Seconds,
        ),
        chart(
            vec![Series::new(
                "zeros",
                vec![(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)],
            )],
            vec![Window {
                start: 0.5,
                end: 1.5,
                label: "down gateway".into(),
            }],
            XAxis::Seconds,
        ),
        chart(
            vec![Series::new(
                "odd",
                vec![
                    (f64::NAN, 1.0),
                    (1.0, f64::INFINITY),
                    (2.0, -5.0),
                    (2.0, 3.0),
                ],
            )],
            vec![
                Window {
                    start: 9.0,
                    end: 1.0,
                    label: String::new(),
                },
                Window {
                    start: f64::NAN,
                    end: 2.0,
                    label: "x".into(),
                },
            ],
            XAxis::Seconds,
        ),
        chart(
            vec![],
            vec![Window {
                start: 2.0,
                end: 4.0,
                label: String::new(),
            }],
            XAxis::Seconds,
        ),
        chart(
            vec![Series::new("p", vec![(0.301, 10.0), (4.0, 12.0)])],
            vec![],
            XAxis::LogPercentile,
        ),
        chart(vec![], vec![], XAxis::LogPercentile),
        Chart {
            heat: vec![
                HeatCell {
                    x: (0.0, 1.0),
                    y: (1.0, 2.0),
                    count: 5,
                },
                HeatCell {
                    x: (1.0, 2.0),
                    y: (f64::NAN, 2.0),
                    count: 1,
                },
                HeatCell {
                    x: (2.0, 3.0),
                    y: (0.0, 0.0),
                    count: 0,
                },
            ],
            ..chart(vec![], vec![], XAxis::Seconds)
        },
    ];
    let log = cases.iter().map(|c| Chart {
        y_log: true,
        ..c.clone()
    });
    let cases: Vec<Chart> = cases.iter().cloned().chain(log).collect();
    for c in &cases {
        let mut png_bytes = Vec::new();
        png(c, &mut png_bytes).expect("png");
        assert!(png_bytes.starts_with(b"\x89PNG"), "{c:?}");
        let svg = svg(c).expect("svg");
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(!svg.contains("http"), "{svg}");
        assert!(
            svg.contains("a &lt;title&gt; &amp; more"),
            "title is escaped"
        );
    }
}

#[test]
fn an_empty_chart_says_no_data() {
    let svg = svg(&chart(vec![], vec![], XAxis::Seconds)).expect("svg");
    assert!(svg.contains("no data"));
    let svg = svg_of_one_point();
    assert!(!svg.contains("no data"));
    assert!(
        svg.contains("<circle"),
        "a single point is drawn as a marker"
    );
}

fn svg_of_one_point() -> String {
    svg(&chart(
        vec![Series::new("one", vec![(3.0, 7.0)])],
        vec![],
        XAxis::Seconds,
    ))
    .expect("svg")
}

#[test]
fn percentiles_are_spaced_logarithmically() {
    assert!((percentile_x(0.5) - std::f64::consts::LOG10_2).abs() < 1e-12);
    assert!((percentile_x(0.99) - 2.0).abs() < 1e-9);
    assert!((percentile_x(0.999) - 3.0).abs() < 1e-9);
}

#[test]
fn axis_numbers_are_short() {
    assert_eq!(number(9000.0), "9000");
    assert_eq!(number(0.0), "0");
    assert_eq!(number(2.5), "2.5");
    assert_eq!(number(0.125), "0.12");
}

#[test]
fn ranges_are_padded() {
    assert_eq!(padded(2.0, 2.0), 1.0..3.0);
    assert_eq!(padded(f64::NAN, 2.0), 0.0..1.0);
    assert_eq!(padded(3.0, 1.0), 0.0..1.0);
}
