//! Fuzz target `inspect`: `inspect` on arbitrary bytes never panics or hangs.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(info) = llgo_ld::inspect::inspect(data) {
        let _ = format!("{info:?}");
    }
});

libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    common::mutate::mutate(data, size, max_size, seed)
});
