//! Fuzz target `args`: the argument classifier (every syntax) and the response-file expander
//! and tokenizer on arbitrary command lines. The input is NUL-separated arguments; `@name`
//! reads the in-memory file `name` (the argument after the one that names it), so nested and
//! recursive response files are reachable without a file system.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::props::args_property(data));
