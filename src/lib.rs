//! llgo-ld: a linker driver shim that writes LLGo's prebuilt function table into the linked
//! executable. See `docs/design.md` for the phases and their invariants.

pub mod binary;
pub mod bytes;
pub mod cli;
pub mod codesign;
pub mod compact;
pub mod driver;
pub mod edit;
pub mod error;
pub mod extract;
pub mod fnv;
pub mod image;
pub mod inspect;
pub mod loader;
pub mod log;
pub mod output;
mod parallel;
pub mod plan;
pub mod postlink;
pub mod room;
pub mod table;
pub mod verify;
