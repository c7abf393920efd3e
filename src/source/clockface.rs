//! The *clock face*: an analogue dial with a digital readout, drawn into an image for the
//! clock's image transport, so a plain `<img>` shows a live clock in every browser.
//!
//! Drawing is a handful of shapes tested per pixel; at the sizes served that is well under a
//! millisecond, and it needs no font file and no drawing crate.

use image::{Rgb, RgbImage};

const BACKGROUND: Rgb<u8> = Rgb([250, 250, 246]);
const INK: Rgb<u8> = Rgb([30, 34, 40]);
const ACCENT: Rgb<u8> = Rgb([200, 40, 40]);

/// Glyphs 3 pixels wide and 5 high, one row per 3 bits, for `0`–`9` and `:`.
const GLYPHS: [[u8; 5]; 11] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
    [0b000, 0b010, 0b000, 0b010, 0b000],
];

/// A line segment with a thickness, in pixel coordinates.
struct Stroke {
    from: (f32, f32),
    to: (f32, f32),
    half_width: f32,
    colour: Rgb<u8>,
}

impl Stroke {
    fn covers(&self, x: f32, y: f32) -> bool {
        let (dx, dy) = (self.to.0 - self.from.0, self.to.1 - self.from.1);
        let len2 = dx * dx + dy * dy;
        let t = if len2 == 0.0 {
            0.0
        } else {
            (((x - self.from.0) * dx + (y - self.from.1) * dy) / len2).clamp(0.0, 1.0)
        };
        let (px, py) = (self.from.0 + t * dx - x, self.from.1 + t * dy - y);
        px * px + py * py <= self.half_width * self.half_width
    }
}

/// Draws a `size`×`size` clock face showing `hour`:`minute`:`second` (24-hour).
pub fn draw(size: u32, hour: u32, minute: u32, second: u32) -> RgbImage {
    let s = size as f32;
    let centre = (s / 2.0, s / 2.0);
    let radius = s * 0.46;
    let ring = (s * 0.015).max(1.0);
    let point = |fraction: f32, length: f32| {
        let angle = fraction * std::f32::consts::TAU;
        (
            centre.0 + angle.sin() * length,
            centre.1 - angle.cos() * length,
        )
    };

    let mut strokes = Vec::with_capacity(16);
    for mark in 0..12 {
        let f = mark as f32 / 12.0;
        let inner = if mark % 3 == 0 { 0.80 } else { 0.87 };
        strokes.push(Stroke {
            from: point(f, radius * inner),
            to: point(f, radius * 0.95),
            half_width: ring,
            colour: INK,
        });
    }
    let minutes = minute as f32 + second as f32 / 60.0;
    let hours = (hour % 12) as f32 + minutes / 60.0;
    for (fraction, length, width, colour) in [
        (hours / 12.0, 0.50, 2.5, INK),
        (minutes / 60.0, 0.75, 1.8, INK),
        (second as f32 / 60.0, 0.85, 0.8, ACCENT),
    ] {
        strokes.push(Stroke {
            from: centre,
            to: point(fraction, radius * length),
            half_width: ring * width,
            colour,
        });
    }

    let mut image = RgbImage::from_pixel(size, size, BACKGROUND);
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let d = ((fx - centre.0).powi(2) + (fy - centre.1).powi(2)).sqrt();
        if (d - radius).abs() <= ring {
            *pixel = INK;
        }
        if let Some(stroke) = strokes.iter().rev().find(|st| st.covers(fx, fy)) {
            *pixel = stroke.colour;
        }
    }
    let top = image.height() * 62 / 100;
    let scale = (image.width() / 64).max(1);
    draw_digits(
        &mut image,
        &format!("{hour:02}:{minute:02}:{second:02}"),
        top,
        scale,
        INK,
    );
    image
}

/// Writes `text` (digits and colons; other characters leave a gap) centred at row `top`, each
/// font pixel `scale` pixels wide.
pub fn draw_digits(image: &mut RgbImage, text: &str, top: u32, scale: u32, colour: Rgb<u8>) {
    let advance = 4 * scale;
    let width = advance * text.len() as u32;
    let left = image.width().saturating_sub(width) / 2;
    for (i, c) in text.chars().enumerate() {
        let glyph = match c {
            '0'..='9' => GLYPHS[(c as u8 - b'0') as usize],
            ':' => GLYPHS[10],
            _ => continue,
        };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3u32 {
                if bits & (0b100 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let x = left + i as u32 * advance + col * scale + dx;
                        let y = top + row as u32 * scale + dy;
                        if x < image.width() && y < image.height() {
                            image.put_pixel(x, y, colour);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_differ_by_second_and_have_the_size() {
        let a = draw(120, 10, 8, 0);
        let b = draw(120, 10, 8, 1);
        assert_eq!(a.dimensions(), (120, 120));
        assert_ne!(a.as_raw(), b.as_raw());
        assert_eq!(a.as_raw(), draw(120, 10, 8, 0).as_raw());
    }

    #[test]
    fn tiny_sizes_do_not_panic() {
        for size in [1, 2, 3, 16] {
            assert_eq!(draw(size, 23, 59, 59).width(), size);
        }
    }
}
