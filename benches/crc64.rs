//! CRC-64/XZ throughput, side by side: the library's implementation (crc-fast) and the
//! `crc` crate's default table, slice-by-16 table and bitwise loop; then the cost of
//! `combine` per call. Run with `cargo bench --bench crc64`; it prints GB/s and each
//! implementation's speed relative to the library's.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crc::{CRC_64_XZ, Crc, NoTable, Table};
use oss_resume::crc64;

/// Best and median of `rounds` runs of `f` over `data`, in GB/s.
fn throughput(data: &[u8], rounds: u32, f: &dyn Fn(&[u8]) -> u64) -> (f64, f64) {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            black_box(f(black_box(data)));
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    let gbps = |t: Duration| data.len() as f64 / t.as_secs_f64() / 1e9;
    (gbps(times[0]), gbps(times[times.len() / 2]))
}

/// Mean time of one call of `f(acc, i)`, folded so the calls cannot be elided.
fn per_call(calls: u64, f: &dyn Fn(u64, u64) -> u64) -> Duration {
    let started = Instant::now();
    let mut acc = 0u64;
    for i in 0..calls {
        acc = f(black_box(acc), black_box(i));
    }
    black_box(acc);
    started.elapsed() / calls as u32
}

fn main() {
    let bitwise = Crc::<u64, NoTable>::new(&CRC_64_XZ);
    let table1 = Crc::<u64, Table<1>>::new(&CRC_64_XZ);
    let table16 = Crc::<u64, Table<16>>::new(&CRC_64_XZ);

    println!(
        "crc-fast tier picked at run time: {}",
        crc_fast::get_calculator_target(crc_fast::CrcAlgorithm::Crc64Xz)
    );

    for (label, size, rounds) in [("64 MiB", 64 << 20, 15u32), ("64 KiB", 64 << 10, 3001)] {
        let data: Vec<u8> = (0..size)
            .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let ours = crc64::checksum(&data);
        assert_eq!(ours, table16.checksum(&data), "implementations disagree");
        assert_eq!(ours, table1.checksum(&data), "implementations disagree");

        let lib = throughput(&data, rounds, &crc64::checksum);
        // The bitwise loop is too slow for 64 MiB many times over; 4 MiB says enough.
        let bitwise_data = &data[..data.len().min(4 << 20)];
        let rows = [
            ("oss_resume::crc64 (crc-fast)", lib),
            (
                "crc Table<16> (slice-by-16)",
                throughput(&data, rounds, &|d| table16.checksum(d)),
            ),
            (
                "crc Table<1> (default)",
                throughput(&data, rounds, &|d| table1.checksum(d)),
            ),
            (
                "crc NoTable (bitwise)",
                throughput(bitwise_data, rounds.min(5), &|d| bitwise.checksum(d)),
            ),
        ];
        println!("CRC-64/XZ over {label}, {rounds} runs (bitwise: fewer):");
        println!(
            "  {:<30} {:>10} {:>12} {:>16}",
            "implementation", "best GB/s", "median GB/s", "library is (x)"
        );
        for (name, (best, median)) in rows {
            println!(
                "  {name:<30} {best:>10.2} {median:>12.2} {:>16.2}",
                lib.0 / best
            );
        }
    }

    // combine() runs once per part; it must be negligible next to hashing the part.
    println!("combine per call (ours: precomputed operators; crc-fast: squares per call):");
    for (label, len2) in [
        ("len2 = 8 MiB (1 bit set)", 8u64 << 20),
        ("len2 = 5 GiB + 1 (3 bits)", (5u64 << 30) + 1),
        ("len2 = 2^48 - 1 (48 bits)", (1u64 << 48) - 1),
        ("len2 = u64::MAX (64 bits, worst)", u64::MAX),
    ] {
        let ours = per_call(1_000_000, &|acc, i| crc64::combine(acc, i, black_box(len2)));
        let theirs = per_call(2_000, &|acc, i| {
            crc_fast::checksum_combine(crc_fast::CrcAlgorithm::Crc64Xz, acc, i, black_box(len2))
        });
        println!("  {label:<34} ours {ours:>9.1?}   crc-fast {theirs:>9.1?}");
    }
}
