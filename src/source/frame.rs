//! A *frame* is one complete camera picture, read from an image file and ready to send as JPEG.
//!
//! A file caught while a camera writes it is refused as [`FrameError::Incomplete`] rather than
//! sent torn: a JPEG must start with its SOI marker, end with its EOI marker and have a header
//! that decodes; other formats must decode whole. JPEG is checked without decoding the picture,
//! so a stream of camera JPEGs costs a read and a comparison per frame.

use std::io::{self, Cursor};
use std::path::Path;
use std::time::SystemTime;

use image::{ImageDecoder, ImageFormat};

/// The largest file read as a frame.
pub const MAX_FRAME_BYTES: u64 = 32 << 20;

/// The JPEG quality used when a frame is re-encoded and no quality was asked for.
pub const DEFAULT_QUALITY: u8 = 85;

/// Why a file is not a frame now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No file at the path.
    Missing,
    /// The path is a directory or another non-file.
    NotAFile,
    /// The file could not be read (permissions, I/O).
    Unreadable(String),
    /// The file is empty (a camera may have just truncated it).
    Empty,
    /// The file is larger than [`MAX_FRAME_BYTES`].
    TooLarge,
    /// The file looks like an image being written: it will be whole later.
    Incomplete,
    /// The file is not an image format served.
    NotAnImage,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Missing => f.write_str("the camera file does not exist"),
            FrameError::NotAFile => f.write_str("the camera path is not a file"),
            FrameError::Unreadable(e) => write!(f, "the camera file cannot be read: {e}"),
            FrameError::Empty => f.write_str("the camera file is empty"),
            FrameError::TooLarge => f.write_str("the camera file is too large"),
            FrameError::Incomplete => f.write_str("the camera file holds no complete image yet"),
            FrameError::NotAnImage => {
                f.write_str("the camera file is not a JPEG, PNG, GIF or BMP image")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// What a viewer asked to change in each frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transform {
    /// Scale down to this width, keeping the aspect ratio (never up).
    pub width: Option<u32>,
    /// Re-encode at this JPEG quality.
    pub quality: Option<u8>,
}

/// One frame, as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The JPEG bytes.
    pub jpeg: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The file's modification time.
    pub modified: SystemTime,
    /// A digest of the source file's bytes (not of `jpeg`), to skip identical frames.
    pub digest: u64,
}

/// Reads the file at `path` as a frame. A frame that must be re-encoded (scaled, another
/// quality, another format) is taken from `cache` when a viewer of the same variant already
/// encoded it, so each variant of each frame costs one encoding for all its viewers.
pub fn read_frame(
    path: &Path,
    transform: Transform,
    cache: Option<&Path>,
) -> Result<Frame, FrameError> {
    // Without blocking: a FIFO at the camera's path must not hang the program.
    let (mut file, meta) = crate::regular::open_with_metadata(path, crate::regular::Links::Follow)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => FrameError::Missing,
            io::ErrorKind::InvalidInput => FrameError::NotAFile,
            _ => FrameError::Unreadable(e.to_string()),
        })?;
    let bytes = crate::regular::read_to_limit(&mut file, meta.len(), MAX_FRAME_BYTES, path)
        .map_err(|e| match (e.kind(), e.raw_os_error()) {
            (io::ErrorKind::InvalidData, _) => FrameError::TooLarge,
            // EISDIR, for a directory opened on some systems.
            (_, Some(21)) => FrameError::NotAFile,
            _ => FrameError::Unreadable(e.to_string()),
        })?;
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    match cache {
        Some(dir) if needs_encoding(&bytes, transform)? => cached(dir, bytes, modified, transform),
        _ => frame_from_bytes(bytes, modified, transform),
    }
}

/// True when the frame cannot be sent as the camera wrote it.
fn needs_encoding(bytes: &[u8], transform: Transform) -> Result<bool, FrameError> {
    if bytes.is_empty() {
        return Err(FrameError::Empty);
    }
    if bytes.starts_with(&[0xff, 0xd8]) {
        let (width, _) = jpeg_dimensions(bytes)?;
        return Ok(transform.quality.is_some() || transform.width.is_some_and(|w| w < width));
    }
    match image::guess_format(bytes) {
        Ok(ImageFormat::Png | ImageFormat::Gif | ImageFormat::Bmp) => Ok(true),
        _ => Err(FrameError::NotAnImage),
    }
}

/// The variant from the shared cache, or encoded here (one viewer at a time per variant, the
/// others waiting for its result) and left in the cache for the others.
fn cached(
    dir: &Path,
    bytes: Vec<u8>,
    modified: SystemTime,
    transform: Transform,
) -> Result<Frame, FrameError> {
    let digest = digest(&bytes);
    let variant = format!(
        "w{}-q{}",
        transform.width.unwrap_or(0),
        transform.quality.unwrap_or(0)
    );
    let name = format!("{digest:016x}-{variant}.jpg");
    let from_cache = || -> Option<Frame> {
        let jpeg = crate::regular::read(
            &dir.join(&name),
            crate::regular::Links::Refuse,
            MAX_FRAME_BYTES,
        )
        .ok()??;
        let (width, height) = jpeg_dimensions(&jpeg).ok()?;
        Some(Frame {
            jpeg,
            width,
            height,
            modified,
            digest,
        })
    };
    if crate::regular::own_directory(dir).is_err() {
        // No usable cache: every viewer encodes for itself, as without one.
        return frame_from_bytes(bytes, modified, transform);
    }
    if let Some(frame) = from_cache() {
        return Ok(frame);
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{variant}.lock")));
    let _held = lock.and_then(|l| l.lock().map(|()| l));
    if let Some(frame) = from_cache() {
        return Ok(frame);
    }
    let frame = frame_from_bytes(bytes, modified, transform)?;
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    let stored =
        std::fs::write(&tmp, &frame.jpeg).and_then(|()| std::fs::rename(&tmp, dir.join(&name)));
    if stored.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    // Older frames of this variant: nobody needs them once a newer one is there.
    let suffix = format!("-{variant}.jpg");
    let stale = SystemTime::now()
        .checked_sub(std::time::Duration::from_secs(10))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let old = entry.file_name().to_string_lossy().ends_with(&suffix)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < stale);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(frame)
}

/// Makes a frame of a file's bytes.
pub fn frame_from_bytes(
    bytes: Vec<u8>,
    modified: SystemTime,
    transform: Transform,
) -> Result<Frame, FrameError> {
    if bytes.is_empty() {
        return Err(FrameError::Empty);
    }
    let digest = digest(&bytes);
    // A JPEG being written may hold only its SOI marker so far: still a JPEG, and incomplete.
    let format = if bytes.starts_with(&[0xff, 0xd8]) {
        ImageFormat::Jpeg
    } else {
        image::guess_format(&bytes).map_err(|_| FrameError::NotAnImage)?
    };
    match format {
        ImageFormat::Jpeg => {
            let (width, height) = jpeg_dimensions(&bytes)?;
            let wants_change =
                transform.quality.is_some() || transform.width.is_some_and(|w| w < width);
            if !wants_change {
                return Ok(Frame {
                    jpeg: bytes,
                    width,
                    height,
                    modified,
                    digest,
                });
            }
            let image = image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
                .map_err(|_| FrameError::Incomplete)?;
            encode(image, transform, modified, digest)
        }
        ImageFormat::Png | ImageFormat::Gif | ImageFormat::Bmp => {
            let image = image::load_from_memory_with_format(&bytes, format)
                .map_err(|_| FrameError::Incomplete)?;
            encode(image, transform, modified, digest)
        }
        _ => Err(FrameError::NotAnImage),
    }
}

/// Checks a JPEG's markers and header without decoding its picture.
fn jpeg_dimensions(bytes: &[u8]) -> Result<(u32, u32), FrameError> {
    // Some cameras pad files after EOI; allow trailing zero bytes.
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if !bytes.starts_with(&[0xff, 0xd8]) || end < 4 || bytes[end - 2..end] != [0xff, 0xd9] {
        return Err(FrameError::Incomplete);
    }
    let decoder = image::codecs::jpeg::JpegDecoder::new(Cursor::new(bytes))
        .map_err(|_| FrameError::Incomplete)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(FrameError::Incomplete);
    }
    Ok((w, h))
}

fn encode(
    image: image::DynamicImage,
    transform: Transform,
    modified: SystemTime,
    digest: u64,
) -> Result<Frame, FrameError> {
    let image = match transform.width {
        Some(w) if w < image.width() => {
            let h = ((u64::from(image.height()) * u64::from(w)) / u64::from(image.width()).max(1))
                .max(1);
            image.resize_exact(
                w,
                u32::try_from(h).unwrap_or(1),
                image::imageops::FilterType::Triangle,
            )
        }
        _ => image,
    };
    let rgb = image.to_rgb8();
    let mut jpeg = Vec::with_capacity(64 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(
        &mut jpeg,
        transform.quality.unwrap_or(DEFAULT_QUALITY),
    )
    .encode_image(&rgb)
    .map_err(|_| FrameError::NotAnImage)?;
    Ok(Frame {
        jpeg,
        width: rgb.width(),
        height: rgb.height(),
        modified,
        digest,
    })
}

/// A frame's digest, to tell frames apart and to name its variants in the shared cache: XXH3,
/// 64 bits. Not a security measure. Every viewer digests every frame, so the speed counts: a
/// 125 KB frame takes about 10 µs, where FNV-1a (a byte at a time) took 150.
pub fn digest(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, 90])
        });
        let mut out = Vec::new();
        let r =
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&image);
        assert!(r.is_ok());
        out
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([1, 2, 3]));
        let mut out = Cursor::new(Vec::new());
        assert!(image.write_to(&mut out, ImageFormat::Png).is_ok());
        out.into_inner()
    }

    fn frame(bytes: Vec<u8>, transform: Transform) -> Result<Frame, FrameError> {
        frame_from_bytes(bytes, SystemTime::UNIX_EPOCH, transform)
    }

    #[test]
    fn whole_jpeg_passes_through_unchanged() {
        let bytes = jpeg(64, 48);
        let f = frame(bytes.clone(), Transform::default());
        assert!(f.is_ok_and(|f| f.jpeg == bytes && (f.width, f.height) == (64, 48)));
    }

    #[test]
    fn torn_files_are_incomplete() {
        let bytes = jpeg(64, 48);
        for cut in [2, 10, bytes.len() / 3, bytes.len() * 2 / 3, bytes.len() - 1] {
            assert_eq!(
                frame(bytes[..cut].to_vec(), Transform::default()).err(),
                Some(FrameError::Incomplete),
                "cut at {cut}"
            );
        }
        let p = png(20, 20);
        assert_eq!(
            frame(p[..p.len() - 10].to_vec(), Transform::default()).err(),
            Some(FrameError::Incomplete)
        );
    }

    #[test]
    fn not_images() {
        assert_eq!(
            frame(Vec::new(), Transform::default()).err(),
            Some(FrameError::Empty)
        );
        assert_eq!(
            frame(b"hello, world".to_vec(), Transform::default()).err(),
            Some(FrameError::NotAnImage)
        );
    }

    #[test]
    fn png_becomes_jpeg_and_width_scales() {
        let f = frame(
            png(100, 50),
            Transform {
                width: Some(40),
                quality: None,
            },
        );
        assert!(
            f.is_ok_and(|f| f.jpeg.starts_with(&[0xff, 0xd8]) && (f.width, f.height) == (40, 20))
        );
        // Never scaled up.
        let f = frame(
            jpeg(32, 32),
            Transform {
                width: Some(64),
                quality: None,
            },
        );
        assert!(f.is_ok_and(|f| f.width == 32));
    }

    #[test]
    fn quality_changes_the_bytes() {
        let bytes = jpeg(64, 64);
        let low = frame(
            bytes.clone(),
            Transform {
                width: None,
                quality: Some(5),
            },
        );
        let high = frame(
            bytes,
            Transform {
                width: None,
                quality: Some(100),
            },
        );
        assert!(matches!((low, high), (Ok(l), Ok(h)) if l.jpeg.len() < h.jpeg.len()));
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_frame(&dir.path().join("none.jpg"), Transform::default(), None).err(),
            Some(FrameError::Missing)
        );
        assert_eq!(
            read_frame(dir.path(), Transform::default(), None).err(),
            Some(FrameError::NotAFile)
        );
    }
}
