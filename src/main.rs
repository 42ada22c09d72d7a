//! The `gzbench` binary: see `gzbench --help`.
//!
//! Uses mimalloc as the allocator: candle allocates a fresh buffer for every tensor op, and the
//! system allocator returns large buffers to the OS on free, so every op paid page faults to zero
//! new pages (a third of a CPU training step on cnn-small).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gzbench::cli::main()
}
