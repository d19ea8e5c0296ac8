//! `llgo-ld`: multicall dispatch on argv[0] (tool subcommands, compiler-driver shim, linker
//! shim) and the process's end; everything else lives in the library.
//!
//! The entry point is the C `main`, not std's runtime start: on a link without LLGo sections
//! llgo-ld is pure overhead (one more process), and std's start spends about 0.2 ms of it
//! finding the main thread's stack guard (glibc reads and `sscanf`s `/proc/self/maps`) and
//! installing a stack-overflow handler llgo-ld does not need (no deep recursion anywhere).
//! [`process_start`] keeps the two things of std's start the program relies on (docs/design.md,
//! "Performance").
// The test harness (`cargo test` builds this crate too) brings its own `main`.
#![cfg_attr(not(test), no_main)]

mod huge_alloc;

#[cfg(not(test))]
use std::ffi::{CStr, OsString};
#[cfg(not(test))]
use std::os::unix::ffi::OsStrExt;

#[global_allocator]
static ALLOC: huge_alloc::HugeAlloc = huge_alloc::HugeAlloc;

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    process_start();
    // SAFETY: the C runtime passes `argc` valid NUL-terminated strings in `argv`.
    let args = unsafe { arguments(argc, argv) };
    llgo_ld::driver::main(args).exit()
}

/// The command line, as `std::env::args_os` would give it (which, without std's start, is only
/// filled on glibc; this works with any C runtime).
///
/// # Safety
/// `argv` holds `argc` pointers to NUL-terminated strings, as `main` receives them.
#[cfg(not(test))]
unsafe fn arguments(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    let n = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Vec::new();
    }
    (0..n)
        .map_while(|i| {
            // SAFETY: `i < argc`, so `argv.add(i)` is inside the array the caller vouches for.
            let p = unsafe { *argv.add(i) };
            // SAFETY: a non-null entry of argv is a NUL-terminated string.
            (!p.is_null()).then(|| {
                OsString::from(std::ffi::OsStr::from_bytes(unsafe { CStr::from_ptr(p) }.to_bytes()))
            })
        })
        .collect()
}

/// What std's start does that llgo-ld depends on:
/// - descriptors 0, 1 and 2 are open (on `/dev/null` if the parent closed them), so a file
///   llgo-ld opens (the output, its temporary copy) can never become stdout or stderr and
///   receive a message;
/// - SIGPIPE is ignored, so a reader that went away turns a message into an `EPIPE` error
///   instead of killing llgo-ld in the middle of a commit (the real tool is spawned with
///   SIGPIPE back at its default, as std always does).
#[cfg(not(test))]
fn process_start() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    // SAFETY: `fds` is a valid array of three pollfd; a zero timeout never blocks.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled != -1 {
        for pfd in fds {
            if pfd.revents & libc::POLLNVAL != 0 {
                // SAFETY: plain system call on a constant path; the lowest free descriptor is
                // the closed one being filled.
                unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            }
        }
    }
    // SAFETY: setting a signal's disposition to SIG_IGN has no other effect.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}
