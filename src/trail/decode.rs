//! Reads one input into memory as plain bytes: gzip is recognised by its magic bytes and
//! inflated in one call where the trailer gives the size (the fast path), as a stream
//! otherwise; a truncated stream keeps what could be inflated.

use std::io::Read;

use sha2::{Digest, Sha256};

use crate::trail::discover::SourceFile;
use crate::trail::problem::{Problem, ProblemKind};

/// The largest input read, uncompressed. CloudTrail's own files are a few MB; a larger file
/// (a huge export) is reported rather than allowed to exhaust memory.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// One input, decoded.
#[derive(Debug)]
pub struct Decoded {
    /// The uncompressed bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes as stored (compressed if gzip), lowercase hex.
    pub sha256: String,
    /// Bytes as stored.
    pub stored_size: u64,
    /// Whether the input was gzip.
    pub gzip: bool,
    /// A gzip stream that ended early or was corrupt: `bytes` holds what came before.
    pub damage: Option<Problem>,
}

/// Reads `source` (a file, or standard input) and inflates it if it is gzip.
pub fn read_source(source: &SourceFile) -> Result<Decoded, Problem> {
    if source.size > MAX_INPUT_BYTES {
        return Err(too_large(&source.display));
    }
    let stored = match &source.path {
        Some(path) => std::fs::read(path),
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .lock()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut buf)
                .map(|_| buf)
        }
    }
    .map_err(|err| {
        Problem::file(
            &source.display,
            ProblemKind::Unreadable,
            format!("cannot be read: {err}"),
        )
    })?;
    decode_bytes(&source.display, stored)
}

/// Decodes bytes already in memory; `name` is used in problems.
pub fn decode_bytes(name: &str, stored: Vec<u8>) -> Result<Decoded, Problem> {
    decode_with_limit(name, stored, MAX_INPUT_BYTES)
}

/// [`decode_bytes`] with `limit` in place of [`MAX_INPUT_BYTES`].
fn decode_with_limit(name: &str, stored: Vec<u8>, limit: u64) -> Result<Decoded, Problem> {
    if stored.len() as u64 > limit {
        return Err(too_large(name));
    }
    if stored.is_empty() {
        return Err(Problem::file(name, ProblemKind::Empty, "empty file"));
    }
    let sha256 = hex(&Sha256::digest(&stored));
    let stored_size = stored.len() as u64;
    if !is_gzip(&stored) {
        return Ok(Decoded {
            bytes: stored,
            sha256,
            stored_size,
            gzip: false,
            damage: None,
        });
    }
    let (bytes, damage) = match inflate_whole(&stored, limit) {
        Some(bytes) => (bytes, None),
        None => inflate_stream(name, &stored, limit)?,
    };
    if bytes.is_empty() {
        if let Some(damage) = damage {
            return Err(damage);
        }
        return Err(Problem::file(
            name,
            ProblemKind::Empty,
            "gzip file holds no data",
        ));
    }
    Ok(Decoded {
        bytes,
        sha256,
        stored_size,
        gzip: true,
        damage,
    })
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// One-call inflate of a single-member gzip file whose trailer gives the output size.
/// Returns `None` when that does not apply (multi-member, damaged, too large): the caller
/// then inflates as a stream, which handles every case.
fn inflate_whole(stored: &[u8], limit: u64) -> Option<Vec<u8>> {
    let trailer = stored.len().checked_sub(4).map(|at| &stored[at..])?;
    let size = u32::from_le_bytes(trailer.try_into().ok()?);
    // ISIZE is the size modulo 2^32: a ratio over 1032:1 (deflate's maximum) means it wrapped.
    if u64::from(size) > limit || u64::from(size) < stored.len() as u64 / 1100 {
        return None;
    }
    let mut out = vec![0u8; size as usize];
    let (read, written) = gzip_member(stored, &mut out)?;
    // libdeflate inflates one member: it must span the whole input and fill the buffer.
    (read == stored.len() && written == out.len()).then_some(out)
}

/// Inflates the first gzip member of `input` into `out`; returns (bytes read, bytes written).
fn gzip_member(input: &[u8], out: &mut [u8]) -> Option<(usize, usize)> {
    use libdeflate_sys as ffi;
    // SAFETY: the decompressor is checked for null, used only here and freed once; the
    // pointer/length pairs describe live slices that outlive the call; libdeflate writes at
    // most `out.len()` bytes and only through `out`, `read` and `written`.
    unsafe {
        let decompressor = ffi::libdeflate_alloc_decompressor();
        if decompressor.is_null() {
            return None;
        }
        let (mut read, mut written) = (0usize, 0usize);
        let result = ffi::libdeflate_gzip_decompress_ex(
            decompressor,
            input.as_ptr().cast(),
            input.len(),
            out.as_mut_ptr().cast(),
            out.len(),
            &mut read,
            &mut written,
        );
        ffi::libdeflate_free_decompressor(decompressor);
        (result == ffi::libdeflate_result_LIBDEFLATE_SUCCESS).then_some((read, written))
    }
}

/// Streaming inflate of any gzip file, multi-member included; on damage, keeps the bytes
/// inflated before it and describes the damage.
fn inflate_stream(
    name: &str,
    stored: &[u8],
    limit: u64,
) -> Result<(Vec<u8>, Option<Problem>), Problem> {
    let mut decoder = flate2::read::MultiGzDecoder::new(stored);
    let mut out = Vec::with_capacity(stored.len().saturating_mul(8));
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match decoder.read(&mut chunk) {
            Ok(0) => return Ok((out, None)),
            Ok(n) if (out.len() + n) as u64 > limit => return Err(too_large(name)),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(err) => {
                let problem = Problem::file(
                    name,
                    ProblemKind::Gzip,
                    format!(
                        "corrupt or truncated gzip after {} bytes of output ({err}); reading what came before",
                        out.len()
                    ),
                );
                return Ok((out, Some(problem)));
            }
        }
    }
}

fn too_large(name: &str) -> Problem {
    Problem::file(
        name,
        ProblemKind::TooLarge,
        format!(
            "larger than {} GiB uncompressed, which is not read (CloudTrail delivers files of a few MB: split exports into smaller files)",
            MAX_INPUT_BYTES >> 30
        ),
    )
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).expect("write");
        enc.finish().expect("finish")
    }

    #[test]
    fn plain_and_gzip_inputs() {
        let plain = decode_bytes("a.json", b"{\"Records\":[]}".to_vec()).expect("plain");
        assert!(!plain.gzip);
        assert_eq!(plain.bytes, b"{\"Records\":[]}");
        let gz = decode_bytes("a.json.gz", gzip(b"{\"Records\":[]}")).expect("gzip");
        assert!(gz.gzip);
        assert_eq!(gz.bytes, b"{\"Records\":[]}");
        assert!(gz.damage.is_none());
        assert_eq!(gz.sha256.len(), 64);
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let mut both = gzip(b"{\"a\":1}\n");
        both.extend(gzip(b"{\"b\":2}\n"));
        let decoded = decode_bytes("two.gz", both).expect("decode");
        assert_eq!(decoded.bytes, b"{\"a\":1}\n{\"b\":2}\n");
        // Two equal members: the trailer matches the first member alone.
        let mut same = gzip(b"{\"a\":1}\n");
        same.extend(gzip(b"{\"a\":1}\n"));
        assert_eq!(
            decode_bytes("same.gz", same).expect("decode").bytes,
            b"{\"a\":1}\n{\"a\":1}\n"
        );
    }

    #[test]
    fn truncated_gzip_keeps_the_prefix_and_reports() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{i},").into_bytes())
            .collect();
        let gz = gzip(&data);
        let cut = gz[..gz.len() / 2].to_vec();
        let decoded = decode_bytes("cut.gz", cut).expect("partial");
        let damage = decoded.damage.expect("damage reported");
        assert_eq!(damage.kind, ProblemKind::Gzip);
        assert!(
            damage
                .to_string()
                .starts_with("cut.gz: corrupt or truncated gzip"),
            "{damage}"
        );
        assert!(!decoded.bytes.is_empty() && data.starts_with(&decoded.bytes));
    }

    #[test]
    fn inputs_over_the_limit_are_refused_not_read() {
        let data = vec![b' '; 10_000];
        let plain = decode_with_limit("big.json", data.clone(), 1000).expect_err("plain");
        assert_eq!(plain.kind, ProblemKind::TooLarge);
        // Small when compressed, large when inflated: the whole-buffer and stream paths both stop.
        let gz = decode_with_limit("big.json.gz", gzip(&data), 1000).expect_err("gzip");
        assert_eq!(gz.kind, ProblemKind::TooLarge);
        let mut two = gzip(&data);
        two.extend(gzip(&data));
        let err = decode_with_limit("two.gz", two, 15_000).expect_err("multi-member");
        assert!(err.to_string().starts_with("two.gz: larger than"), "{err}");
        assert!(decode_with_limit("ok.gz", gzip(&data), 10_000).is_ok());
    }

    #[test]
    fn empty_and_garbage_gzip() {
        assert_eq!(
            decode_bytes("e", Vec::new()).expect_err("empty").kind,
            ProblemKind::Empty
        );
        let err = decode_bytes("g.gz", vec![0x1f, 0x8b, 0, 1, 2, 3]).expect_err("garbage");
        assert_eq!(err.kind, ProblemKind::Gzip);
    }
}
