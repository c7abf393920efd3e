//! `serverpush camsim`: a camera simulator that writes a moving test picture to an image file,
//! so a webcam page moves on a machine without a camera.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serverpush::source::camsim::{Writing, jpeg, picture, write_frame};

use crate::cli::CamsimArgs;

/// Writes frames until `--frames` or `--seconds` is reached.
pub fn run(args: &CamsimArgs) -> Result<()> {
    if !(0.01..=1000.0).contains(&args.fps) {
        bail!("--fps must be from 0.01 to 1000");
    }
    if !(1..=8192).contains(&args.width) || !(1..=8192).contains(&args.height) {
        bail!("--width and --height must be from 1 to 8192");
    }
    if !(1..=100).contains(&args.quality) {
        bail!("--quality must be from 1 to 100");
    }
    if !(0.0..=366.0 * 86400.0).contains(&args.seconds) {
        bail!("--seconds must be from 0 to a year");
    }
    let writing = match args.in_place_slowly {
        Some(ms) => Writing::InPlaceSlowly {
            pause: Duration::from_millis(ms),
        },
        None => Writing::Rename,
    };
    let period = Duration::from_secs_f64(1.0 / args.fps);
    let start = Instant::now();
    let stop = Duration::from_secs_f64(args.seconds);
    let mut number = 0u64;
    while args.frames.is_none_or(|n| number < n) && start.elapsed() < stop {
        number += 1;
        let bytes = jpeg(&picture(args.width, args.height, number), args.quality)?;
        write_frame(&args.out, &bytes, writing)
            .with_context(|| format!("writing {}", args.out.display()))?;
        // Frames keep to the schedule even when one is slow to write.
        let next = period.mul_f64(number as f64);
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}
