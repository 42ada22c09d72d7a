//! The `gzbench` binary: see `gzbench --help`.

fn main() -> std::process::ExitCode {
    gzbench::engine::keep_freed_memory();
    gzbench::engine::candle_ops_on_caller();
    gzbench::cli::main()
}
