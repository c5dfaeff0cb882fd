//! Tests that cannot run on this machine say so where it cannot be missed. A plain
//! `cargo test` without a CQL server, nats-server or another test tool passes those tests
//! without running them; each records itself here, and when the test binary exits the list
//! is printed past the harness's output capture. `scripts/test` sets up every tool and
//! requires them, so there nothing is ever skipped.

use std::io::Write;
use std::sync::{Mutex, Once};

static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static REPORT_AT_EXIT: Once = Once::new();

unsafe extern "C" {
    /// The C library's exit hook: the test harness returns from `main` normally.
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

/// Records that the running test skipped its body for `reason` (what is missing and how
/// to get it).
pub fn skipped(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let line = format!("{test}: {reason}");
    // Straight to the terminal: `eprintln!` would be captured with the passing test.
    let _ = writeln!(std::io::stderr(), "SKIPPED {line}");
    SKIPPED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(line);
    REPORT_AT_EXIT.call_once(|| {
        // SAFETY: registers a plain function with no preconditions; it runs once at exit.
        unsafe {
            atexit(report);
        }
    });
}

extern "C" fn report() {
    let skipped = SKIPPED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "\n==== {} test(s) passed WITHOUT running their body; run scripts/test for all ====",
        skipped.len()
    );
    for line in skipped.iter() {
        let _ = writeln!(stderr, "  skipped {line}");
    }
}
