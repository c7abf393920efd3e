//! `serverpush-camsim`: a camera simulator that writes a moving test picture to an image file.
//!
//! ```text
//! serverpush-camsim --out PATH [--fps 10] [--width 640] [--height 480] [--quality 80]
//!                   [--frames N] [--seconds S] [--in-place-slowly MS]
//! ```
//! It stops by itself after `--frames` frames or `--seconds` seconds (default 3600).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serverpush::source::camsim::{Writing, jpeg, picture, write_frame};

struct Args {
    out: PathBuf,
    fps: f64,
    width: u32,
    height: u32,
    quality: u8,
    frames: Option<u64>,
    seconds: f64,
    writing: Writing,
}

fn parse() -> Result<Args> {
    use lexopt::prelude::*;
    let mut out = None;
    let mut args = Args {
        out: PathBuf::new(),
        fps: 10.0,
        width: 640,
        height: 480,
        quality: 80,
        frames: None,
        seconds: 3600.0,
        writing: Writing::Rename,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("out") => out = Some(PathBuf::from(parser.value()?)),
            Long("fps") => args.fps = parser.value()?.parse()?,
            Long("width") => args.width = parser.value()?.parse()?,
            Long("height") => args.height = parser.value()?.parse()?,
            Long("quality") => args.quality = parser.value()?.parse()?,
            Long("frames") => args.frames = Some(parser.value()?.parse()?),
            Long("seconds") => args.seconds = parser.value()?.parse()?,
            Long("in-place-slowly") => {
                let ms: u64 = parser.value()?.parse()?;
                args.writing = Writing::InPlaceSlowly {
                    pause: Duration::from_millis(ms),
                };
            }
            Long("help") => {
                println!(
                    "serverpush-camsim --out PATH [--fps 10] [--width 640] [--height 480] \
                     [--quality 80] [--frames N] [--seconds 3600] [--in-place-slowly MS]"
                );
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    args.out = out.context("--out PATH is required")?;
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
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse()?;
    let period = Duration::from_secs_f64(1.0 / args.fps);
    let start = Instant::now();
    let stop = Duration::from_secs_f64(args.seconds);
    let mut number = 0u64;
    while args.frames.is_none_or(|n| number < n) && start.elapsed() < stop {
        number += 1;
        let bytes = jpeg(&picture(args.width, args.height, number), args.quality)?;
        write_frame(&args.out, &bytes, args.writing)
            .with_context(|| format!("writing {}", args.out.display()))?;
        // Frames keep to the schedule even when one is slow to write.
        let next = period.mul_f64(number as f64);
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}
