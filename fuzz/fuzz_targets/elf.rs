//! Fuzz target `elf`: the whole pipeline (plan, apply, self-check) on the input; it refuses, or
//! its output passes `verify` and the independent checker (shim-tests/indep).
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(d) = common::props::with_magic(data, common::props::ELF_MAGIC) {
        common::check(&d);
    }
});

libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    common::mutate::mutate(data, size, max_size, seed)
});
