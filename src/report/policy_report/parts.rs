//! Splitting a profile's results into parts: which part a result goes to, how many
//! parts, and the serialised sizes and hashes that decide both.

use std::io;

use serde::Serialize;

use crate::crd::status::ReportSummary;

use super::{Part, ReportResult, ReportSet, ResultTime};

/// The largest serialised report object the operator writes: a third of etcd's
/// 1.5 MiB request limit, leaving room for what the API server adds (managedFields,
/// resourceVersion, ...) and for objects that watchers such as Policy Reporter hold
/// in memory. With results of about 550 bytes, a part holds about 700 of them (the
/// parts are filled to about three quarters on average so that they all fit).
pub const PART_BUDGET_BYTES: usize = 512 * 1024;

/// Counts the bytes written to it.
#[derive(Default)]
struct ByteCount(usize);

impl io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes the bytes written to it (FNV-1a, 64 bits).
struct Fnv(u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl io::Write for Fnv {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for byte in buf {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(FNV_PRIME);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// FNV-1a: stable across builds and platforms (the hashes are stored in the cluster
/// and compared by later versions of the operator), and small.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = Fnv(FNV_OFFSET);
    let _ = io::Write::write(&mut hash, bytes);
    hash.0
}

fn serialized_size(value: &impl Serialize) -> usize {
    let mut count = ByteCount::default();
    // Writing to a counter cannot fail, and these types always serialise.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The hash of (control, resource ARN) that places a result in its part, mixed so
/// that its low bits are as good as its high ones.
pub(super) fn key_hash(control: &str, resource_arn: &str) -> u64 {
    let mut hash = Fnv(FNV_OFFSET);
    let _ = io::Write::write(&mut hash, control.as_bytes());
    let _ = io::Write::write(&mut hash, &[0]);
    let _ = io::Write::write(&mut hash, resource_arn.as_bytes());
    // splitmix64's finaliser.
    let mut z = hash.0;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The part of `count` a result with key hash `key` goes to.
pub(super) fn bucket(key: u64, count: usize) -> usize {
    // count >= 1 and fits in u64; the remainder is below count, so it fits in usize.
    (key % count.max(1) as u64) as usize
}

/// A result's serialised size once its time is set (the widest time until the year
/// 2286), so a part measured before it is stamped still fits after.
pub(super) fn stamped_size(result: &ReportResult<'_>) -> usize {
    let mut stamped = *result;
    stamped.timestamp = Some(ResultTime {
        seconds: 9_999_999_999,
        nanos: 0,
    });
    serialized_size(&stamped)
}

/// The serialised size of a part object with no results, at its largest for a profile
/// with `results` results: the widest index and counts, the content hash annotation.
pub(super) fn envelope_size(set: &ReportSet<'_>, results: usize) -> usize {
    let widest = u32::try_from(results).unwrap_or(u32::MAX);
    let empty = Part {
        index: results.max(1),
        name: super::part_name(set.profile_name, results.max(1)),
        summary: ReportSummary {
            pass: widest,
            fail: widest,
            warn: widest,
            error: widest,
            skip: widest,
        },
        results: Vec::new(),
        content_hash: format!("{:016x}", u64::MAX),
    };
    serialized_size(&set.object(&empty, true))
}

/// Whether every part fits under `budget` when the results are spread over `count`.
fn fits(keys: &[u64], sizes: &[usize], envelope: usize, budget: usize, count: usize) -> bool {
    // Each result adds its size and a comma (one comma too many per part: a byte of
    // slack).
    let mut filled = vec![envelope; count];
    for (key, size) in keys.iter().zip(sizes) {
        filled[bucket(*key, count)] += size + 1;
    }
    filled.iter().all(|bytes| *bytes <= budget)
}

/// How many parts: `previous` (the count in the cluster) while every part fits and
/// they are on average at least a quarter full, so that a small change to the estate
/// leaves the other parts alone; otherwise enough parts to fill each to about three
/// quarters of the room, and more while one does not fit (the spread by hash is
/// uneven by a few percent for large parts).
pub(super) fn part_count(
    keys: &[u64],
    sizes: &[usize],
    envelope: usize,
    budget: usize,
    previous: usize,
) -> usize {
    let room = budget.saturating_sub(envelope).max(4);
    let total: usize = sizes.iter().map(|size| size + 1).sum();
    let fewest = total.div_ceil(room / 4 * 3).max(1);
    let sparsest = total.div_ceil(room / 4).max(1);
    let mut count = if (fewest..=sparsest).contains(&previous) {
        previous
    } else {
        fewest
    };
    if count == previous && !fits(keys, sizes, envelope, budget, count) {
        count = fewest.max(previous + 1);
    }
    // A result larger than the budget can never fit; stop at one part per result.
    while count < keys.len() && !fits(keys, sizes, envelope, budget, count) {
        count += 1;
    }
    count
}

/// A part's content hash: FNV-1a over its serialised object without result times and
/// without the hash annotation itself, as 16 hex digits.
pub(super) fn content_hash(object: &impl Serialize) -> String {
    let mut hash = Fnv(FNV_OFFSET);
    let _ = serde_json::to_writer(&mut hash, object);
    format!("{:016x}", hash.0)
}
