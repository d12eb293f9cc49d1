//! Workload 1: a Mandelbrot image rendered **in place** into a `SharedArray<u32>`: each job
//! carries one `ChunkMut` handle (a band of rows) and writes its pixels straight into the
//! shared image; nothing but the handle and three numbers travels through the rings.

use super::{checksum, Run};
use indicatif::ProgressBar;
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;
use zeroproc_mp::shared::ChunkMut;
use zeroproc_mp::SharedArray;
use zeroproc_sched::Pool;

/// Rows per job.
const BAND_ROWS: usize = 8;

/// The image: `width × height` pixels, at most `max_iter` iterations per pixel.
#[derive(Debug, Clone, Copy)]
pub struct Image {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Iteration limit.
    pub max_iter: u32,
}

impl Image {
    /// The image for work scale `size` (1.0: about two seconds of one core here).
    pub fn for_size(size: f64) -> Image {
        let width = ((1800.0 * size.sqrt()) as usize).clamp(64, 20_000);
        Image { width, height: width * 2 / 3, max_iter: 1000 }
    }

    /// Number of jobs (row bands).
    pub fn jobs(&self) -> usize {
        self.height.div_ceil(BAND_ROWS)
    }

    fn band_len(&self) -> usize {
        BAND_ROWS * self.width
    }
}

/// Renders pixels `first .. first + out.len()` (row-major) of the image: x ∈ [-2.25, 0.75],
/// y ∈ [-1, 1], colour from the smoothed escape count. Pure function of its inputs (the
/// same bits on a worker process, a rayon thread or here).
#[inline]
pub fn render(out: &mut [u32], first: usize, img: Image) {
    let (w, h) = (img.width as f64, img.height as f64);
    for (k, px) in out.iter_mut().enumerate() {
        let i = first + k;
        let cx = -2.25 + 3.0 * (i % img.width) as f64 / w;
        let cy = -1.0 + 2.0 * (i / img.width) as f64 / h;
        let (mut x, mut y, mut n) = (0.0f64, 0.0f64, 0u32);
        while n < img.max_iter && x * x + y * y <= 256.0 {
            let t = x * x - y * y + cx;
            y = 2.0 * x * y + cy;
            x = t;
            n += 1;
        }
        *px = if n >= img.max_iter {
            0
        } else {
            // Smooth iteration count → palette.
            let mu = n as f64 + 1.0 - ((x * x + y * y).ln() * 0.5).ln() / std::f64::consts::LN_2;
            palette(mu / 64.0)
        };
    }
}

/// A cyclic palette (blue → white → orange → black), `t` in turns.
fn palette(t: f64) -> u32 {
    let t = t.fract();
    let c = |a: f64, b: f64, c: f64, d: f64| {
        let v = a + b * (std::f64::consts::TAU * (c * t + d)).cos();
        (v.clamp(0.0, 1.0) * 255.0) as u32
    };
    let (r, g, b) = (c(0.5, 0.5, 1.0, 0.0), c(0.5, 0.5, 1.0, 0.10), c(0.5, 0.5, 1.0, 0.20));
    (r << 16) | (g << 8) | b
}

/// The job: render one band in place. Returns the pixels it wrote.
fn band_job((chunk, (width, height, max_iter)): (ChunkMut<u32>, (u64, u64, u32))) -> u64 {
    let img = Image { width: width as usize, height: height as usize, max_iter };
    let mut out = chunk.write().expect("each band is written by one job only");
    let first = out.range().start;
    render(&mut out, first, img);
    out.len() as u64
}

/// Renders on `pool`; returns the run and the pixels.
pub fn on_pool(
    pool: &Pool,
    img: Image,
    bar: Option<&ProgressBar>,
) -> Result<(Run, Vec<u32>), String> {
    let mut arr = SharedArray::<u32>::zeroed(img.width * img.height).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let chunks = arr.chunks_mut(img.band_len()).map_err(|e| e.to_string())?;
    let dims = (img.width as u64, img.height as u64, img.max_iter);
    let jobs = chunks.into_iter().map(|c| (c, dims));
    let mut written = 0u64;
    for r in pool.map_unordered(band_job, jobs) {
        written += r.map_err(|e| format!("mandelbrot job: {e}"))?;
        if let Some(b) = bar {
            b.inc(1);
        }
    }
    let secs = t.elapsed().as_secs_f64();
    if written != (img.width * img.height) as u64 {
        return Err(format!("mandelbrot: {written} pixels written, expected {}", arr.len()));
    }
    let px = arr.as_slice().map_err(|e| e.to_string())?.to_vec();
    Ok((Run { secs, check: checksum(&px) }, px))
}

/// Renders on a rayon pool (same bands, same kernel).
pub fn on_rayon(rayon: &rayon::ThreadPool, img: Image) -> Run {
    let mut px = vec![0u32; img.width * img.height];
    let t = Instant::now();
    let band = img.band_len();
    rayon.install(|| {
        px.par_chunks_mut(band).enumerate().for_each(|(k, out)| render(out, k * band, img));
    });
    Run { secs: t.elapsed().as_secs_f64(), check: checksum(&px) }
}

/// Writes the pixels (0x00RRGGBB) as an 8-bit RGB PNG at `path` (directories created).
pub fn write_png(path: &Path, img: Image, px: &[u32]) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut enc =
        png::Encoder::new(std::io::BufWriter::new(f), img.width as u32, img.height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let rgb: Vec<u8> =
        px.iter().flat_map(|p| [(p >> 16) as u8, (p >> 8) as u8, *p as u8]).collect();
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&rgb).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_compose_the_whole_image() {
        let img = Image { width: 48, height: 32, max_iter: 100 };
        let mut whole = vec![0u32; 48 * 32];
        render(&mut whole, 0, img);
        let mut banded = vec![0u32; 48 * 32];
        for (k, out) in banded.chunks_mut(img.band_len()).enumerate() {
            render(out, k * img.band_len(), img);
        }
        assert_eq!(whole, banded);
        // The set's interior is black, the far corner escapes at once (not black).
        assert_eq!(whole[16 * 48 + 32], 0, "(-0.25, 0) is inside the set");
        assert_ne!(whole[0], 0, "(-2.25, -1) escapes");
    }
}
