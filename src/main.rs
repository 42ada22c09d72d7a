//! The `gzbench` binary: see `gzbench --help`.

fn main() -> std::process::ExitCode {
    gzbench::engine::keep_freed_memory();
    gzbench::cli::main()
}
