//! `vox`: see `vox --help`. Everything lives in the library.

fn main() -> std::process::ExitCode {
    vox::cli::main()
}
