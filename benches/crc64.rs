//! CRC-64/XZ throughput, side by side: the library's implementation (crc-fast) and the
//! `crc` crate's default table and slice-by-16 table. Run with
//! `cargo bench --bench crc64`; it prints GB/s and ratios against the library's.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crc::{CRC_64_XZ, Crc, NoTable, Table};

/// Best of `rounds` runs of `f` over `data`, in GB/s.
fn throughput(data: &[u8], rounds: u32, f: &dyn Fn(&[u8]) -> u64) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let started = Instant::now();
        black_box(f(black_box(data)));
        best = best.min(started.elapsed());
    }
    data.len() as f64 / best.as_secs_f64() / 1e9
}

fn main() {
    let bitwise: Crc<u64, NoTable> = Crc::<u64, NoTable>::new(&CRC_64_XZ);
    let table1: Crc<u64, Table<1>> = Crc::<u64, Table<1>>::new(&CRC_64_XZ);
    let table16: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_XZ);

    for (label, size, rounds) in [("64 MiB", 64 << 20, 10u32), ("64 KiB", 64 << 10, 2000)] {
        let data: Vec<u8> = (0..size)
            .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let ours = oss_resume::crc64::checksum(&data);
        assert_eq!(ours, table16.checksum(&data), "implementations disagree");
        assert_eq!(ours, table1.checksum(&data), "implementations disagree");

        let lib = throughput(&data, rounds, &oss_resume::crc64::checksum);
        let rows: [(&str, f64); 4] = [
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
                throughput(&data[..data.len().min(4 << 20)], rounds.min(3), &|d| {
                    bitwise.checksum(d)
                }),
            ),
        ];
        println!("CRC-64/XZ over {label}, best of {rounds} runs:");
        for (name, gbps) in rows {
            println!(
                "  {name:<32} {gbps:>8.2} GB/s   library/this = {:>7.2}x",
                lib / gbps
            );
        }
    }

    // combine() is called once per part; it must be negligible next to a part's bytes.
    let calls = 100_000u64;
    let started = Instant::now();
    let mut acc = 0u64;
    for i in 0..calls {
        acc = oss_resume::crc64::combine(black_box(acc), black_box(i), black_box(8 << 20));
    }
    black_box(acc);
    let per_call = started.elapsed() / calls as u32;
    println!("combine (len2 = 8 MiB): {per_call:?} per call");
}
