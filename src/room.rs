//! Room for the table (SHIM.md section 6).

pub mod pad;
