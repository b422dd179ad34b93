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
        // 6 charts and the flow diagram; 6 charts and one flow diagram per run
        (dir.path().join("report.html"), 7),
        (dir.path().join("compare/compare.html"), 8),
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

        assert_quiet_and_offline(&browser, &session, &url, &name);
    }
}

/// No console errors or warnings, no exception, and no request but the page itself.
fn assert_quiet_and_offline(browser: &Browser, session: &str, url: &str, name: &str) {
    {
        let errors: Vec<&Value> = browser
            .events_of("Runtime.consoleAPICalled", session)
            .filter(|e| {
                matches!(
                    e["params"]["type"].as_str(),
                    Some("error" | "assert" | "warning")
                )
            })
            .chain(browser.events_of("Runtime.exceptionThrown", session))
            .chain(browser.events_of("Log.entryAdded", session).filter(|e| {
                matches!(
                    e["params"]["entry"]["level"].as_str(),
                    Some("error" | "warning")
                )
            }))
            .collect();
        assert!(errors.is_empty(), "{name}: console errors: {errors:#?}");
        let requests: Vec<&str> = browser
            .events_of("Network.requestWillBeSent", session)
            .filter_map(|e| e["params"]["request"]["url"].as_str())
            .collect();
        assert_eq!(
            requests,
            [url],
            "{name}: the page requested more than itself"
        );
    }
}

/// The first screen of a report with histograms, at 1280×800: the verdict, the
/// generated sentence and every key number are visible without scrolling; the
/// screenshot (kept in cargo's target tmp dir, `report16/first-screen.png`, to look
/// at) is not blank.
#[test]
fn the_first_screen_shows_the_verdict_and_key_numbers_without_scrolling() {
    let results = load("quickstart.results.json");
    let dir = tempfile::tempdir().expect("tempdir");
    reports::write_run(dir.path(), &results).expect("render");
    let keep = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("report16");
    std::fs::create_dir_all(&keep).expect("screenshot dir");

    let mut browser = Browser::start();
    let session = browser.page(1280);
    let url = browser.open(&session, &dir.path().join("report.html"));
    let visible = browser.eval(
        &session,
        "JSON.stringify([...document.querySelectorAll('.banner, .banner .said, .key')].map(e => { const r = e.getBoundingClientRect(); return [e.className, e.innerText, r.top, r.bottom, r.left, r.right]; }))",
    );
    let visible: Vec<(String, String, f64, f64, f64, f64)> =
        serde_json::from_str(visible.as_str().expect("JSON")).expect("boxes");
    let keys = reports::headline::key_numbers(&results);
    assert_eq!(
        visible.iter().filter(|v| v.0.starts_with("key")).count(),
        keys.len(),
        "{visible:?}"
    );
    for (class, text, top, bottom, left, right) in &visible {
        assert!(
            *top >= 0.0 && *bottom <= 800.0 && *left >= 0.0 && *right <= 1280.0,
            "{class} ({text:?}) is not on the first screen: {top}..{bottom}, {left}..{right}"
        );
    }
    let page_text: String = visible.iter().map(|v| v.1.clone()).collect();
    assert!(page_text.contains("PASS"), "{page_text}");
    for k in &keys {
        assert!(
            page_text.contains(&k.value),
            "{} missing: {page_text}",
            k.value
        );
    }
    for sentence in reports::headline::sentences(&results) {
        assert!(
            page_text.contains(&sentence),
            "{sentence:?} missing: {page_text}"
        );
    }

    let bytes = browser.screenshot(&session);
    std::fs::write(keep.join("first-screen.png"), &bytes).expect("keep screenshot");
    let shot = decode_png(&bytes);
    assert_eq!((shot.0, shot.1), (1280, 800));
    let (ink, colour) = drawn_pixels(&shot, (0, 0, shot.0, shot.1));
    assert!(
        ink > 20_000 && colour > 5_000,
        "the first screen looks blank: {ink} drawn and {colour} coloured pixels"
    );

    // The whole page too, to look at.
    keep_whole_page(&mut browser, &session, &keep.join("report.png"));
    assert_quiet_and_offline(&browser, &session, &url, "report.html");

    // And the comparison's first screen.
    let compare = dir.path().join("compare");
    reports::write_compare(
        &compare,
        &[
            load("redis-consumer-kill-alo.results.json"),
            load("redis-consumer-kill-eos.results.json"),
        ],
    )
    .expect("compare");
    let session = browser.page(1280);
    let url = browser.open(&session, &compare.join("compare.html"));
    let widest = browser.eval(
        &session,
        "Math.max(...[...document.querySelectorAll('table')].map(t => t.scrollWidth - t.clientWidth))",
    );
    assert!(
        widest.as_f64().is_some_and(|w| w <= 0.0),
        "a table of compare.html scrolls sideways by {widest} px"
    );
    keep_whole_page(&mut browser, &session, &keep.join("compare.png"));
    assert_quiet_and_offline(&browser, &session, &url, "compare.html");
}

/// Lays the whole page out in one 1280 px wide viewport and keeps its screenshot.
fn keep_whole_page(browser: &mut Browser, session: &str, path: &std::path::Path) {
    let height = browser
        .eval(session, "document.documentElement.scrollHeight")
        .as_u64()
        .expect("page height") as u32;
    browser.resize(session, 1280, height);
    std::fs::write(path, browser.screenshot(session)).expect("keep the screenshot");
}
