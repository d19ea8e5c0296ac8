//! `llgo-ld`: multicall dispatch on argv[0] (tool subcommands, compiler-driver shim, linker
//! shim) and the process's end; everything else lives in the library.

fn main() {
    llgo_ld::driver::main(std::env::args_os().collect()).exit()
}
