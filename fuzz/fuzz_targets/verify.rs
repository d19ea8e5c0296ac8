//! Fuzz target `verify`: `verify` on arbitrary bytes never panics or hangs, and a file it calls
//! fine is one the pipeline leaves alone or rewrites to a file that passes it again.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = llgo_ld::verify::verify(data);
    let _ = llgo_ld::verify::verify_with(data, llgo_ld::verify::Depth::SelfCheck);
});

libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    common::mutate::mutate(data, size, max_size, seed)
});
