//! The committed C header must be exactly what the pinned cbindgen generates from
//! `src/ffi/` with `cbindgen.toml`. Set `OSSR_UPDATE_HEADER=1` to rewrite it.

use std::path::Path;

#[test]
fn header_matches_a_fresh_generation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = root.join("include/oss_resume.h");
    if std::env::var_os("OSSR_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write include/oss_resume.h");
        return;
    }
    let committed = std::fs::read(&path).expect("include/oss_resume.h exists");
    if committed != fresh {
        let old = String::from_utf8_lossy(&committed);
        let new = String::from_utf8_lossy(&fresh);
        let first = old
            .lines()
            .zip(new.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(old.lines().count().min(new.lines().count()));
        panic!(
            "include/oss_resume.h differs from a fresh generation from line {}:\n  committed: {:?}\n  generated: {:?}\nregenerate with OSSR_UPDATE_HEADER=1 cargo test --test header",
            first + 1,
            old.lines().nth(first),
            new.lines().nth(first)
        );
    }
}
