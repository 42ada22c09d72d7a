//! `engine::keep_freed_memory`: after it, a large buffer freed and allocated again is served
//! from memory the process already holds, so writing it costs no page faults (without it glibc
//! unmaps the buffer on free and the kernel zeroes fresh pages for the next one). Its own test
//! binary, so no other test's thread takes the freed buffer in between.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// Minor page faults of the calling thread so far.
fn faults() -> i64 {
    // SAFETY: getrusage writes one `rusage` into the zeroed value it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    usage.ru_minflt
}

/// Faults taken while allocating and writing `bytes` bytes.
fn faults_of_fresh_buffer(bytes: usize) -> i64 {
    let before = faults();
    let buffer = std::hint::black_box(vec![1u8; bytes]);
    let after = faults();
    drop(buffer);
    after - before
}

#[test]
fn a_freed_large_buffer_is_reused_without_page_faults() {
    gzbench::engine::keep_freed_memory();
    let bytes = 48 << 20;
    let pages = (bytes / 4096) as i64;
    // Fresh memory faults once per page, or once per 2 MiB with transparent huge pages: at
    // least 24 times for 48 MiB either way.
    let first = faults_of_fresh_buffer(bytes);
    assert!(
        first >= 24,
        "the first buffer took only {first} faults for {pages} pages"
    );
    for round in 0..3 {
        let again = faults_of_fresh_buffer(bytes);
        assert!(
            again <= 4,
            "round {round}: {again} page faults for a {pages}-page buffer freed just before"
        );
    }
}
