//! The test binary's one tracing subscriber (a process has one global
//! subscriber, and every test of this crate shares the process): JSON lines,
//! flattened as the Lambda writes them, `info` and every level of
//! pumpguard's own targets. Each line goes both to the writing thread's
//! buffer ([`thread_lines`]: a test's own lines) and to a process-wide one
//! ([`take_all`]: every line any test wrote, for the privacy checks).

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Mutex, Once};

thread_local! {
    static THREAD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}
static ALL: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Both;

impl Write for Both {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        THREAD.with(|l| l.borrow_mut().extend_from_slice(buf));
        if let Ok(mut all) = ALL.lock() {
            all.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the subscriber (once per process).
pub fn install() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,pumpguard=trace"))
            .with_writer(|| Both)
            .try_init();
    });
}

/// Runs `f` and returns the lines this thread wrote meanwhile.
pub fn thread_lines(f: impl FnOnce()) -> String {
    install();
    THREAD.with(|l| l.borrow_mut().clear());
    f();
    let bytes = THREAD.with(|l| std::mem::take(&mut *l.borrow_mut()));
    String::from_utf8(bytes).unwrap_or_default()
}

/// Every line written since the last call, by any test.
pub fn take_all() -> String {
    install();
    let bytes = ALL
        .lock()
        .map(|mut a| std::mem::take(&mut *a))
        .unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}
