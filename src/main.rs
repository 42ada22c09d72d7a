//! The `gzbench` binary: see `gzbench --help`.

fn main() -> std::process::ExitCode {
    gzbench::cli::main()
}
