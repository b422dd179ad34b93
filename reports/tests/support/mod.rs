//! Shared by the report tests: the committed example results, an offline check of a
//! page, and a PNG decoder that counts drawn pixels.

#![allow(dead_code)]

pub mod cdp;

use std::path::{Path, PathBuf};

/// A committed example results.json (recorded by real runs; see tests/data/README.md).
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn load(name: &str) -> reports::Results {
    reports::results::load(&data(name)).expect("example results load")
}

/// Fails when the page could make the browser fetch anything: a URL scheme, a
/// protocol-relative reference, an attribute that loads a resource, CSS imports or
/// `url(...)`, script or external elements.
pub fn assert_offline(page: &str, name: &str) {
    let lower = page.to_lowercase();
    for needle in [
        "http:",
        "https:",
        "ftp:",
        "ws:",
        "wss:",
        "\"//",
        "'//",
        "=//",
        "src=",
        "href=",
        "srcset=",
        "@import",
        "url(",
        "<script",
        "<link",
        "<iframe",
        "<img",
        "<object",
        "<embed",
        "<base",
        "xlink:",
        "@font-face",
    ] {
        assert!(
            !lower.contains(needle),
            "{name} contains {needle:?}: it must reference no network resource"
        );
    }
}

/// Width, height and RGB triples of a PNG (RGB or RGBA, 8 bit).
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// Pixels in a rectangle that are not near-white, and those that are clearly coloured
/// (series lines and fault shading, not the grey grid or black text).
pub fn drawn_pixels(
    (width, _, pixels): &(u32, u32, Vec<[u8; 3]>),
    (x0, y0, x1, y1): (u32, u32, u32, u32),
) -> (usize, usize) {
    let (mut ink, mut colour) = (0, 0);
    for y in y0..y1 {
        for x in x0..x1.min(*width) {
            let Some(&[r, g, b]) = pixels.get((y * width + x) as usize) else {
                continue;
            };
            let (hi, lo) = (r.max(g).max(b), r.min(g).min(b));
            if lo < 235 {
                ink += 1;
            }
            if hi - lo > 60 {
                colour += 1;
            }
        }
    }
    (ink, colour)
}
