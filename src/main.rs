//! `llgo-ld`: argv[0] dispatch and exit-status mapping; everything else lives in the library.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(llgo_ld::cli::run(&args));
}
