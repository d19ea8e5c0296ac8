//! Shared by the fuzz targets: the property (from the test suite's independent checker) and the
//! structure-aware mutator.

#![allow(dead_code)]

#[path = "../../shim-tests/indep/mod.rs"]
pub mod indep;
pub mod mutate;

/// Runs the property and turns a violation into a panic (a libFuzzer finding).
pub fn check(data: &[u8]) {
    if let Err(e) = indep::property(data).map(|_| ()) {
        panic!("property violated: {e}");
    }
}

#[path = "../../shim-tests/fuzz_props.rs"]
pub mod props;
