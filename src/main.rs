//! `llgo-ld`: multicall dispatch on argv[0] (tool subcommands, compiler-driver shim, linker
//! shim) and the process's end; everything else lives in the library.

mod huge_alloc;

#[global_allocator]
static ALLOC: huge_alloc::HugeAlloc = huge_alloc::HugeAlloc;

fn main() {
    llgo_ld::driver::main(std::env::args_os().collect()).exit()
}
