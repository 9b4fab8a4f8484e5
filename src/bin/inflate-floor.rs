//! `inflate-floor` — the gzip floor of the ingest benchmark.
//!
//! Why it exists: every ingest of a CloudTrail trail has to inflate every `.json.gz` file at
//! least once, so the time to do only that, with the fastest whole-buffer inflater we have
//! (libdeflate) on all cores, is the floor any parser is measured against (`bench/run.py`). It
//! is deliberately independent of the `kms_audit` library so that the floor never changes with
//! the code under test.
//!
//! It walks a directory, skips `CloudTrail-Digest/` folders (they are not log data), and
//! inflates every `*.json.gz` into a reused buffer sized from the gzip trailer (ISIZE), falling
//! back to a streaming decoder for multi-member files or files whose ISIZE is wrong. It prints
//! one line: `files=… uncompressed_bytes=… compressed_bytes=… seconds=…`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use libdeflater::{DecompressionError, Decompressor};
use rayon::prelude::*;

/// Command-line options of `inflate-floor`.
#[derive(Parser, Debug)]
#[command(
    name = "inflate-floor",
    version,
    about = "Inflate every .json.gz under a directory (CloudTrail-Digest skipped) and report the bytes"
)]
pub struct Args {
    /// Directory to walk.
    pub dir: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Also inflate files under CloudTrail-Digest/ folders.
    #[arg(long)]
    pub include_digests: bool,
}

fn collect(dir: &Path, include_digests: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        let ty = entry
            .file_type()
            .with_context(|| format!("stat {}", path.display()))?;
        if ty.is_dir() {
            if !include_digests && entry.file_name() == "CloudTrail-Digest" {
                continue;
            }
            collect(&path, include_digests, out)?;
        } else if ty.is_file() && path.to_string_lossy().ends_with(".json.gz") {
            out.push(path);
        }
    }
    Ok(())
}

/// Per-thread state: the inflater and two reused buffers.
struct Worker {
    inflater: Decompressor,
    packed: Vec<u8>,
    plain: Vec<u8>,
}

impl Worker {
    fn new() -> Self {
        Worker {
            inflater: Decompressor::new(),
            packed: Vec::new(),
            plain: Vec::new(),
        }
    }

    /// Inflates one file; returns (uncompressed, compressed) sizes.
    fn inflate(&mut self, path: &Path) -> Result<(u64, u64)> {
        self.packed.clear();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut self.packed))
            .with_context(|| format!("reading {}", path.display()))?;
        let n = self.packed.len();
        if n < 18 {
            bail!("{}: too short to be gzip", path.display());
        }
        let isize = u32::from_le_bytes([
            self.packed[n - 4],
            self.packed[n - 3],
            self.packed[n - 2],
            self.packed[n - 1],
        ]) as usize;
        if self.plain.len() < isize {
            self.plain.resize(isize, 0);
        }
        match self
            .inflater
            .gzip_decompress(&self.packed, &mut self.plain[..isize])
        {
            Ok(out) if out == isize => Ok((out as u64, n as u64)),
            Ok(_)
            | Err(DecompressionError::InsufficientSpace)
            | Err(DecompressionError::BadData) => {
                // Multi-member gzip, or ISIZE wrong (> 4 GiB): stream it.
                let mut dec = flate2::read::MultiGzDecoder::new(&self.packed[..]);
                self.plain.clear();
                let out = dec
                    .read_to_end(&mut self.plain)
                    .map_err(|e| anyhow!("{}: not valid gzip: {e}", path.display()))?;
                Ok((out as u64, n as u64))
            }
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let t0 = Instant::now();
    let mut files = Vec::new();
    collect(&args.dir, args.include_digests, &mut files)?;
    files.sort();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .context("building the thread pool")?;
    let (plain, packed) = pool.install(|| {
        files
            .par_iter()
            .map_init(Worker::new, |w, path| w.inflate(path))
            .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))
    })?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "inflate-floor: files={} uncompressed_bytes={} compressed_bytes={} seconds={:.3} ({:.0} MB/s)",
        files.len(),
        plain,
        packed,
        secs,
        plain as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(())
}
