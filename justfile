# gzbench tasks. Without `just`, run the cargo commands shown.

# every experiment at the cpu profile, then every report
reproduce profile="cpu":
    cargo run --release -- reproduce --profile {{profile}}

# the test suite (what CI runs)
test:
    cargo test --release

# criterion benchmarks
bench:
    cargo bench

# formatting and lints, as CI expects them
lint:
    cargo fmt --check
    cargo clippy --release --all-targets -- -D warnings
