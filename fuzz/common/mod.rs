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

/// `data` with its first bytes replaced by `magic` (the format a target is about), or `None`
/// when it is too short.
pub fn with_magic(data: &[u8], magic: &[u8]) -> Option<Vec<u8>> {
    if data.len() < magic.len() {
        return None;
    }
    let mut v = data.to_vec();
    v[..magic.len()].copy_from_slice(magic);
    Some(v)
}

pub const ELF_MAGIC: &[u8] = &[0x7f, b'E', b'L', b'F', 2, 1];
pub const MACHO_MAGIC: &[u8] = &[0xcf, 0xfa, 0xed, 0xfe];
pub const FAT_MAGIC: &[u8] = &[0xca, 0xfe, 0xba, 0xbe];
