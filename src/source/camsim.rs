//! The *camera simulator* writes a moving test picture to an image file the way cameras do, so
//! the webcam can be demonstrated and tested without a camera.
//!
//! A frame is written to a temporary file in the same directory and renamed over the target, the
//! way cameras should write; [`Writing::InPlaceSlowly`] instead rewrites the target in three
//! pieces with pauses, the way careless writers do, to exercise the torn-frame guard.

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use image::{Rgb, RgbImage};

use crate::source::clockface::draw_digits;

/// How a frame reaches the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writing {
    /// A temporary file renamed into place: readers never see a partial file.
    Rename,
    /// The file itself, truncated and written in three pieces with `pause` between them.
    InPlaceSlowly {
        /// The pause between pieces.
        pause: Duration,
    },
}

/// Draws test frame `number`: diagonal colour bands that move, a sweeping bar, and the frame
/// number in large digits.
pub fn picture(width: u32, height: u32, number: u64) -> RgbImage {
    let shift = (number * 4) as u32;
    let bar = (number as u32 * 8) % width.max(1);
    let mut image = RgbImage::from_fn(width, height, |x, y| {
        let band = ((x + y + shift) / 16) % 6;
        let base = [
            [200, 60, 60],
            [220, 160, 50],
            [80, 170, 80],
            [60, 150, 200],
            [90, 80, 190],
            [180, 80, 170],
        ][band as usize];
        // The bar darkens the bands: a white bar across the whole height looked like a gap
        // between two pictures, the part right of it like a strip outside the frame.
        if x.abs_diff(bar) < 6 {
            Rgb(base.map(|c| c / 3))
        } else {
            Rgb(base)
        }
    });
    let scale = (width / 48).max(1);
    draw_digits(
        &mut image,
        &format!("{number:06}"),
        (height / 2).saturating_sub(2 * scale),
        scale,
        Rgb([20, 20, 20]),
    );
    image
}

/// Encodes `image` as JPEG.
pub fn jpeg(image: &RgbImage, quality: u8) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .map_err(io::Error::other)?;
    Ok(out)
}

/// Writes `bytes` to `path` as `writing` says.
pub fn write_frame(path: &Path, bytes: &[u8], writing: Writing) -> io::Result<()> {
    match writing {
        Writing::Rename => {
            let name = path
                .file_name()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
            let mut tmp_name = std::ffi::OsString::from(".");
            tmp_name.push(name);
            tmp_name.push(".tmp");
            let tmp = path.with_file_name(tmp_name);
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, path)
        }
        Writing::InPlaceSlowly { pause } => {
            let mut file = std::fs::File::create(path)?;
            let third = bytes.len().div_ceil(3).max(1);
            for (i, piece) in bytes.chunks(third).enumerate() {
                if i > 0 {
                    std::thread::sleep(pause);
                }
                file.write_all(piece)?;
                file.flush()?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_differ_and_decode() {
        let a = picture(64, 48, 1);
        let b = picture(64, 48, 2);
        assert_ne!(a.as_raw(), b.as_raw());
        let bytes = jpeg(&a, 80).unwrap();
        let f = crate::source::frame::frame_from_bytes(
            bytes,
            std::time::SystemTime::UNIX_EPOCH,
            crate::source::frame::Transform::default(),
        );
        assert!(f.is_ok_and(|f| (f.width, f.height) == (64, 48)));
    }

    #[test]
    fn both_ways_of_writing_leave_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cam.jpg");
        for writing in [
            Writing::Rename,
            Writing::InPlaceSlowly {
                pause: Duration::from_millis(1),
            },
        ] {
            assert!(write_frame(&path, b"0123456789", writing).is_ok());
            assert_eq!(std::fs::read(&path).unwrap(), b"0123456789");
        }
    }
}
