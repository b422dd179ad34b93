//! report.html in headless Chromium (Debian's `chromium`, installed by `lab/install`):
//! the page renders, every chart is visibly drawn in the screenshot, the console has
//! no errors and the page makes no request beyond its own file. Chromium missing is a
//! failure that names the install step, never a skip.

mod support;

use serde_json::Value;
use support::cdp::Browser;
use support::{decode_png, drawn_pixels, load};

const WIDTH: u32 = 1100;

#[test]
fn the_report_renders_in_chromium_offline_with_visible_charts() {
    let dir = tempfile::tempdir().expect("tempdir");
    reports::write_run(dir.path(), &load("gateway-outage.results.json")).expect("render");
    reports::write_compare(
        &dir.path().join("compare"),
        &[
            load("redis-consumer-kill-alo.results.json"),
            load("redis-consumer-kill-eos.results.json"),
        ],
    )
    .expect("compare");

    let mut browser = Browser::start();
    for (page, charts) in [
        (dir.path().join("report.html"), 6),
        (dir.path().join("compare/compare.html"), 5),
    ] {
        let session = browser.page(WIDTH);
        let url = browser.open(&session, &page);
        let name = page.display().to_string();

        // Lay the whole page out in one viewport, then find the charts.
        let height = browser
            .eval(&session, "document.documentElement.scrollHeight")
            .as_u64()
            .expect("page height") as u32;
        assert!(height > 1000, "{name}: page is only {height} px high");
        browser.resize(&session, WIDTH, height);
        let rects = browser.eval(
            &session,
            "JSON.stringify([...document.querySelectorAll('svg.chart')].map(s => { const r = s.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }))",
        );
        let rects: Vec<[f64; 4]> =
            serde_json::from_str(rects.as_str().expect("rects as JSON")).expect("rects");
        assert_eq!(rects.len(), charts, "{name}: charts in the page");
        let title = browser.eval(&session, "document.title");
        assert!(
            title.as_str().is_some_and(|t| !t.is_empty()),
            "{name}: no title"
        );

        let shot = decode_png(&browser.screenshot(&session));
        assert_eq!(shot.0, WIDTH, "{name}: screenshot width");
        for [left, top, right, bottom] in rects {
            assert!(
                right - left > 400.0 && bottom - top > 150.0,
                "{name}: chart too small: {left},{top},{right},{bottom}"
            );
            let area = (
                left as u32,
                top as u32,
                right as u32,
                (bottom as u32).min(shot.1),
            );
            let (ink, colour) = drawn_pixels(&shot, area);
            let pixels = ((area.2 - area.0) * (area.3 - area.1)) as usize;
            assert!(
                ink * 50 > pixels && colour > 300,
                "{name}: the chart at {area:?} looks blank ({ink} drawn and {colour} coloured of {pixels} pixels)"
            );
        }

        let errors: Vec<&Value> = browser
            .events_of("Runtime.consoleAPICalled", &session)
            .filter(|e| {
                matches!(
                    e["params"]["type"].as_str(),
                    Some("error" | "assert" | "warning")
                )
            })
            .chain(browser.events_of("Runtime.exceptionThrown", &session))
            .chain(browser.events_of("Log.entryAdded", &session).filter(|e| {
                matches!(
                    e["params"]["entry"]["level"].as_str(),
                    Some("error" | "warning")
                )
            }))
            .collect();
        assert!(errors.is_empty(), "{name}: console errors: {errors:#?}");
        let requests: Vec<&str> = browser
            .events_of("Network.requestWillBeSent", &session)
            .filter_map(|e| e["params"]["request"]["url"].as_str())
            .collect();
        assert_eq!(
            requests,
            [url.as_str()],
            "{name}: the page requested more than itself"
        );
    }
}
