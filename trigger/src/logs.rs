//! The Lambda's log setup: JSON lines, filtered by `RUST_LOG` (default
//! `info`), with two things kept off whatever `RUST_LOG` says:
//!
//! - the runtime's own line for every error the handler returns
//!   (`lambda_runtime::layers::panic`): a block is a returned error by
//!   design and pumpguard already logs it once, so "one line per event"
//!   holds as deployed. The runtime's line for a *panic* stays on.
//! - every trace-level event outside pumpguard's own targets: at that
//!   level `lambda_runtime` logs the raw event (phone number included) and
//!   the AWS SDK logs request and response bodies (the published policy,
//!   whose `allow-numbers` are phone numbers).
//!
//! The filter is a second filter beside the `EnvFilter`, so no directive in
//! `RUST_LOG` (a target, a span or a field filter) can turn these back on.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::Layer as _;

/// Whether an event or span is never logged, whatever the filter.
pub fn never_logged(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    if target.starts_with("pumpguard") {
        return false;
    }
    if *meta.level() == Level::TRACE {
        return true;
    }
    // The returned-error line has no `error` field; the panic line has one.
    meta.is_event()
        && target.starts_with("lambda_runtime::layers::panic")
        && meta.fields().field("error").is_none()
}

/// The subscriber the Lambda installs: `rust_log` is `RUST_LOG`'s value.
pub fn subscriber<W>(rust_log: Option<&str>, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let env = rust_log
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .with_writer(writer)
        .with_filter(env)
        .with_filter(FilterFn::new(|meta| !never_logged(meta)));
    tracing_subscriber::registry().with(layer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'w> MakeWriter<'w> for Buf {
        type Writer = Buf;
        fn make_writer(&'w self) -> Buf {
            self.clone()
        }
    }

    fn logged(rust_log: Option<&str>) -> String {
        let buf = Buf::default();
        let sub = subscriber(rust_log, buf.clone());
        tracing::subscriber::with_default(sub, || {
            tracing::trace!(
                target: "lambda_runtime::layers::api_response",
                body = "{\"phone_number\":\"+14155550123\"}",
                "raw JSON event received from Lambda"
            );
            tracing::error!(target: "lambda_runtime::layers::panic", "SmsBlocked returned");
            let error = "boom";
            tracing::error!(target: "lambda_runtime::layers::panic", ?error, "user handler panicked");
            tracing::info!(target: "pumpguard::decision", "decision");
            tracing::trace!(target: "pumpguard::decision", "detail");
        });
        let out = buf.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn the_raw_event_and_the_duplicate_error_stay_off_at_any_level() {
        for rust_log in [
            None,
            Some("info"),
            Some("trace"),
            Some("lambda_runtime=trace"),
            Some("lambda_runtime::layers::api_response=trace,lambda_runtime::layers::panic=trace"),
            Some("[Lambda runtime invoke]=trace"),
        ] {
            let out = logged(rust_log);
            assert!(!out.contains("+14155550123"), "{rust_log:?}: {out}");
            assert!(!out.contains("SmsBlocked returned"), "{rust_log:?}: {out}");
        }
        for rust_log in [None, Some("trace"), Some("lambda_runtime=trace")] {
            let out = logged(rust_log);
            assert!(out.contains("user handler panicked"), "{rust_log:?}: {out}");
        }
        assert!(logged(None).contains("\"decision\""));
        assert!(!logged(None).contains("detail"));
        assert!(logged(Some("trace")).contains("detail"));
    }
}
