//! Second batch: corners (grouped chunks, shapes, stopping a hung call, drops mid-read).

use crate::{check_written, loops_in_chunk_2, R};
use std::ops::Range;
use std::time::{Duration, Instant};
use zeroproc::shared::{bytemuck, ArrayHandle, RowBand};
use zeroproc::{ForEachChunkError, JobError, Pool, SharedArray};

fn pool() -> Pool {
    Pool::builder().workers(2).build().unwrap()
}

fn grouped_panic(c: &mut [u8], r: Range<usize>) {
    if r.start == 7_777_000 {
        panic!("chunk at {}", r.start);
    }
    c.fill(1);
}

fn grouped_segv(c: &mut [u8], r: Range<usize>) {
    c.fill(1);
    if r.start == 7_777_000 {
        // SAFETY: none: the fault under test.
        unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
    }
}

/// 10 M elements in chunks of 1000: 10,000 chunks, more than the 4,096 claim words.
pub fn grouped_chunks() -> R {
    let p = pool();
    let mut y = SharedArray::<u8>::zeroed(10_000_000).map_err(|e| e.to_string())?;
    let e = p.for_each_chunk_mut(&mut y, 1000, grouped_panic).err().ok_or("no error")?;
    println!("   grouped panic: {e}");
    match &e {
        ForEachChunkError::Chunk {
            index: 7777,
            range,
            error: JobError::Panicked { .. },
            failed: 1,
        } if *range == (7_777_000..7_778_000) => {}
        _ => return Err(format!("{e:?}")),
    }
    let s = y.as_slice().map_err(|e| e.to_string())?;
    if s.iter().enumerate().any(|(i, &v)| (v == 1) == (7_777_000..7_778_000).contains(&i)) {
        return Err("grouped panic: other chunks not all written".into());
    }
    let e = p.for_each_chunk_mut(&mut y, 1000, grouped_segv).err().ok_or("no error")?;
    println!("   grouped segv: {e}");
    match &e {
        ForEachChunkError::Chunk { range, error: JobError::WorkerDied { .. }, .. }
            if range.contains(&7_777_000) =>
        {
            Ok(())
        }
        _ => Err(format!("{e:?}")),
    }
}

pub fn shapes() -> R {
    let p = pool();
    let mut notes = vec![];
    // empty grid, band taller than grid, band of 1 row, cols 0, ragged grid
    for (len, cols, band) in
        [(0usize, 5usize, 2usize), (35, 5, 100), (35, 5, 1), (35, 0, 1), (36, 5, 1), (35, 5, 0)]
    {
        let mut y = SharedArray::<u32>::zeroed(len).map_err(|e| e.to_string())?;
        let x = SharedArray::<u32>::zeroed(3).map_err(|e| e.to_string())?;
        let r = p.for_each_row_band_mut_with(
            &mut y,
            &x,
            cols,
            band,
            |c: &mut [u32], _: &[u32], b: RowBand| {
                for (row, cells) in b.rows.zip(c.chunks_exact_mut(b.cols)) {
                    cells.iter_mut().enumerate().for_each(|(j, v)| *v = (row * 100 + j) as u32);
                }
            },
        );
        match r {
            Ok(()) => {
                let s = y.as_slice().unwrap();
                if s.iter().enumerate().any(|(i, &v)| v as usize != (i / cols) * 100 + i % cols) {
                    return Err(format!("grid {len}/{cols}/{band} wrong"));
                }
            }
            Err(e) => notes.push(format!("{len}/{cols}/{band}: {e}")),
        }
    }
    let mut y = SharedArray::<f64>::zeroed(10).unwrap();
    let x = SharedArray::<f64>::zeroed(9).unwrap();
    if let Err(e) = p.for_each_chunk_mut_with(&mut y, &x, 3, |_: &mut [f64], _: &[f64]| ()) {
        notes.push(format!("zip 10 vs 9: {e}"));
    }
    let mut y0 = SharedArray::<f64>::zeroed(0).unwrap();
    let x0 = SharedArray::<f64>::zeroed(0).unwrap();
    p.for_each_chunk_mut_with(&mut y0, &x0, 3, |_: &mut [f64], _: &[f64]| ())
        .map_err(|e| format!("zip empty: {e}"))?;
    println!("   shape notes: {notes:#?}");
    if notes.len() != 4 {
        return Err(format!("expected 4 refusals: {notes:?}"));
    }
    Ok(())
}

/// A kernel looping forever with no limit: another thread stops the pool.
pub fn hung_call_terminated() -> R {
    let p = pool();
    let mut y = SharedArray::<u32>::zeroed(1000).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let r = std::thread::scope(|s| {
        let h = s.spawn(|| p.for_each_chunk_mut(&mut y, 100, loops_in_chunk_2));
        std::thread::sleep(Duration::from_millis(500));
        p.terminate();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !h.is_finished() {
            if Instant::now() > deadline {
                eprintln!("HANG: the in-place call did not return after terminate");
                std::process::exit(3);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        h.join().unwrap()
    });
    println!("   after terminate ({:?}): {r:?}", t.elapsed());
    let _ = r.err().ok_or("no error")?;
    match y.as_slice() {
        Ok(_) => check_written(&y, 200..300).or_else(|e| {
            println!("   (after terminate: {e})");
            Ok(())
        }),
        Err(e) => Err(format!("array unreadable after terminate: {e}")),
    }
}

fn read_then_sleep(h: ArrayHandle<u64>) -> Result<u64, String> {
    let g = h.read().map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(400));
    Ok(g.iter().sum())
}

/// The owner drops the array while a job holds a read guard on it.
pub fn dropped_mid_read() -> R {
    let p = pool();
    let a = SharedArray::from_slice(&(0..1_000_000u64).collect::<Vec<_>>())
        .map_err(|e| e.to_string())?;
    let f = p.submit(read_then_sleep, a.handle());
    std::thread::sleep(Duration::from_millis(150));
    drop(a);
    // a new array of the same shape may reuse the segment
    let b = SharedArray::from_slice(&vec![7u64; 1_000_000]).map_err(|e| e.to_string())?;
    let r = f.result_timeout(Duration::from_secs(20)).map_err(|_| "hung".to_string())?;
    println!("   mid-read drop: {r:?}");
    if b.as_slice().unwrap().iter().any(|&v| v != 7) {
        return Err("new array corrupted".into());
    }
    match r {
        Ok(Ok(499_999_500_000)) => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

/// Gauss-Seidel in place: a kernel reading the array it writes, through its handle.
pub fn read_own_output() -> R {
    let p = pool();
    let mut y = SharedArray::<f64>::zeroed(1000).unwrap();
    let h = y.handle();
    let e = p
        .in_place(&mut y)
        .args(h)
        .for_each_chunk_mut(100, |c: &mut [f64], _: Range<usize>, h: &ArrayHandle<f64>| {
            let all = h.read().unwrap();
            c[0] = all[0] + 1.0;
        })
        .err();
    println!("   reading own output: {e:?}");
    match e {
        Some(ForEachChunkError::Chunk { error: JobError::Panicked { message }, .. })
            if message.contains("SplitInProgress") =>
        {
            Ok(())
        }
        other => Err(format!("{other:?}")),
    }
}

pub fn zero_time_limit() -> R {
    let p = pool();
    let mut y = SharedArray::<u32>::zeroed(1000).unwrap();
    let r = p
        .in_place(&mut y)
        .time_limit(Duration::ZERO)
        .for_each_chunk_mut(100, |c: &mut [u32], _: Range<usize>, _: &()| c.fill(1));
    println!("   zero limit: {r:?}");
    y.as_slice().map_err(|e| format!("unreadable after zero limit: {e}"))?;
    let r = p.for_each_chunk_mut(&mut y, 100, |c: &mut [u32], _: Range<usize>| c.fill(2));
    r.map_err(|e| format!("after zero limit: {e}"))?;
    Ok(())
}

fn exits(c: &mut [u32], r: Range<usize>) {
    c.fill(1);
    if r.start == 400 {
        std::process::exit(0);
    }
}

pub fn kernel_exits() -> R {
    let p = pool();
    let mut y = SharedArray::<u32>::zeroed(1000).unwrap();
    let e = p
        .for_each_chunk_mut(&mut y, 100, exits)
        .err()
        .ok_or("no error: exit(0) in a kernel went unnoticed")?;
    println!("   exit(0): {e}");
    match e {
        ForEachChunkError::Chunk { index: 4, error: JobError::WorkerDied { .. }, .. } => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

pub fn huge_chunk_and_all_panic() -> R {
    let p = pool();
    let mut y = SharedArray::<u32>::zeroed(1000).unwrap();
    p.for_each_chunk_mut(&mut y, usize::MAX, |c: &mut [u32], _: Range<usize>| c.fill(4))
        .map_err(|e| format!("usize::MAX chunk: {e}"))?;
    p.for_each_row_band_mut(&mut y, 10, usize::MAX, |c: &mut [u32], _: RowBand| c.fill(5))
        .map_err(|e| format!("usize::MAX band: {e}"))?;
    if y.as_slice().unwrap().iter().any(|&v| v != 5) {
        return Err("huge chunk/band values".into());
    }
    let mut z = SharedArray::<u8>::zeroed(10_000_000).unwrap();
    let e = p
        .for_each_chunk_mut(&mut z, 1000, |_: &mut [u8], r: Range<usize>| panic!("all {}", r.start))
        .err()
        .ok_or("no error")?;
    println!("   all panic: {e}");
    match e {
        ForEachChunkError::Chunk { index: 0, failed: 10_000, .. } => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

fn slow_read(h: ArrayHandle<f64>) -> f64 {
    let g = h.read().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    g.iter().sum()
}

/// Submit a reader, then update the array in place without waiting for it.
pub fn update_while_read() -> R {
    let p = pool();
    let mut y = SharedArray::from_slice(&[1.0f64; 1000]).unwrap();
    let f = p.submit(slow_read, y.handle());
    std::thread::sleep(Duration::from_millis(150));
    let r = p.for_each_chunk_mut(&mut y, 100, |c: &mut [f64], _: Range<usize>| c.fill(2.0));
    println!(
        "   in place while a job reads: {r:?}\n   = {}",
        r.as_ref().map_or_else(|e| e.to_string(), |_| "ok".into())
    );
    let s = f.result().map_err(|e| e.to_string())?;
    if s != 1000.0 {
        return Err(format!("reader saw {s}: written under its read guard"));
    }
    Ok(())
}

#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[bytemuck(crate = "zeroproc::shared::bytemuck")]
pub struct Line {
    v: [f64; 8],
}

/// Over-aligned elements (a cache line, u128): the data must be aligned in every process.
pub fn over_aligned() -> R {
    let p = pool();
    let init: Vec<Line> = (0..1001).map(|i| Line { v: [i as f64; 8] }).collect();
    let mut y = SharedArray::from_slice(&init).map_err(|e| e.to_string())?;
    let s = y.as_slice().map_err(|e| e.to_string())?;
    if !(s.as_ptr() as usize).is_multiple_of(64) {
        return Err(format!("owner's slice at {:p} not 64-aligned", s.as_ptr()));
    }
    p.for_each_chunk_mut(&mut y, 7, |c: &mut [Line], _: Range<usize>| {
        assert!((c.as_ptr() as usize).is_multiple_of(64), "chunk misaligned");
        c.iter_mut().for_each(|l| l.v[3] += 1.0);
    })
    .map_err(|e| e.to_string())?;
    let got = y.as_slice().unwrap();
    for (i, l) in got.iter().enumerate() {
        if l.v[3] != i as f64 + 1.0 || l.v[2] != i as f64 {
            return Err(format!("line {i}: {:?}", l.v));
        }
    }
    let mut w = SharedArray::<u128>::zeroed(333).map_err(|e| e.to_string())?;
    p.for_each_chunk_mut(&mut w, 10, |c: &mut [u128], r: Range<usize>| {
        assert!(
            (c.as_ptr() as usize).is_multiple_of(std::mem::align_of::<u128>()),
            "u128 chunk misaligned"
        );
        c.iter_mut().zip(r).for_each(|(v, i)| *v = (i as u128) << 70);
    })
    .map_err(|e| e.to_string())?;
    if w.as_slice().unwrap().iter().enumerate().any(|(i, &v)| v != (i as u128) << 70) {
        return Err("u128".into());
    }
    Ok(())
}

/// Zero-sized elements (`[f64; 0]`): refused at creation, by name.
pub fn zero_sized_elements() -> R {
    match SharedArray::<[f64; 0]>::zeroed(10) {
        Err(e) if e.to_string().contains("zero-sized") => Ok(()),
        Err(e) => Err(format!("refused for another cause: {e}")),
        Ok(a) => Err(format!("a zero-sized array of {} was made", a.len())),
    }
}

fn slow_copy(y: &mut [f64], r: Range<usize>, x: &ArrayHandle<f64>) {
    let x = x.read().unwrap_or_else(|e| panic!("input: {e}"));
    y.copy_from_slice(&x[r]);
    std::thread::sleep(Duration::from_millis(50));
}

/// The input of an in-place call (a handle in `args`) is dropped by another thread
/// mid-call: the chunks after the drop fail naming it, the call returns.
pub fn input_dropped_mid_call() -> R {
    let p = pool();
    let x = SharedArray::from_slice(&vec![3.0f64; 2000]).map_err(|e| e.to_string())?;
    let h = x.handle();
    let mut y = SharedArray::<f64>::zeroed(2000).map_err(|e| e.to_string())?;
    let dropper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(120));
        drop(x);
    });
    let r = p.in_place(&mut y).args(h).for_each_chunk_mut(100, slow_copy);
    dropper.join().unwrap();
    println!(
        "   input dropped mid-call: {}",
        r.as_ref().map_or_else(|e| e.to_string(), |_| "ok".into())
    );
    let e = r.err().ok_or("every chunk ran though the input was dropped at 120 ms of ~500")?;
    match &e {
        ForEachChunkError::Chunk { error: JobError::Panicked { message }, index, .. }
            if message.contains("dropped") && *index > 0 =>
        {
            let s = y.as_slice().map_err(|e| e.to_string())?;
            if s[..100].iter().any(|&v| v != 3.0) {
                return Err("chunk 0 not written".into());
            }
            Ok(())
        }
        _ => Err(format!("{e:?}")),
    }
}
