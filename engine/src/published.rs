//! How the running trigger gets its policy, and how a new one reaches it.
//!
//! * The **bootstrap policy** ships with the function (`PUMPGUARD_POLICY`,
//!   `PUMPGUARD_POLICY_FILE`, or `policy.toml` beside `bootstrap`).
//! * `pumpguard publish` checks a policy and writes it as one item of the
//!   trigger's DynamoDB table. Each instance re-reads that item at most every
//!   `PUMPGUARD_POLICY_REFRESH_SECONDS` (30 s by default), so a change reaches
//!   every running instance within about a minute, without a redeploy.
//! * Nothing at run time can make a broken policy block every user: a
//!   published policy that does not parse is logged and ignored (the last good
//!   one stays), a read that fails or times out keeps the current one, and a
//!   bootstrap policy that does not parse is replaced by the built-in
//!   [`BASELINE_POLICY`], which enforces number types and form but only
//!   monitors countries. The baseline is also what runs when no policy is
//!   configured at all.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use crate::policy::Policy;

/// Partition key of the published-policy item.
pub const POLICY_PK: &str = "policy";
/// Sort key of the published-policy item.
pub const POLICY_SK: &str = "current";

/// The fallback when the bootstrap policy is unusable: blocks premium-rate,
/// VoIP and invalid numbers everywhere, blocks no country.
pub const BASELINE_POLICY: &str = r#"
# Built-in baseline: used only when the bootstrap policy cannot be read.
[countries]
mode = "monitor"
unlisted = "monitor"
crown-dependencies = "separate"
"#;

/// A policy as stored in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPolicy {
    pub body: String,
    pub digest: String,
    pub published_at: i64,
}

/// Reads the published policy. The DynamoDB implementation is the
/// trigger's `DynamoPolicyStore`.
pub trait PolicyFetch {
    /// `Ok(None)` when nothing is published.
    fn fetch(&self) -> impl Future<Output = Result<Option<PublishedPolicy>, String>> + Send;

    /// Completes after `d` on the runtime the reads run on: the engine
    /// has no clock or runtime of its own, so the fetcher times its reads.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;
}

/// How soon a failed read of the published policy is tried again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3);

/// What the last refresh did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// Not due yet, or no table configured.
    Skipped,
    /// The published policy is the one in use.
    Unchanged,
    /// A new published policy is now in use.
    Loaded { digest: String },
    /// Nothing is published: the bootstrap policy is in use.
    Bootstrap,
    /// The published policy does not parse; the previous one stays.
    Rejected { problems: usize },
    /// The read failed or timed out; the previous policy stays.
    Failed { error: String },
}

/// The trigger's current engine, refreshed from the published policy.
#[derive(Debug)]
pub struct PolicyCache<F> {
    fetcher: Option<F>,
    bootstrap: Arc<Engine>,
    current: Arc<Engine>,
    /// Digest of the published item last seen (valid or not).
    seen: Option<String>,
    refresh_every: Duration,
    fetch_timeout: Duration,
    next_refresh: Option<Duration>,
}

impl<F: PolicyFetch> PolicyCache<F> {
    pub fn new(
        bootstrap: Policy,
        fetcher: Option<F>,
        refresh_every: Duration,
        fetch_timeout: Duration,
    ) -> Self {
        let engine = Arc::new(Engine::new(Arc::new(bootstrap)));
        Self {
            fetcher,
            current: engine.clone(),
            bootstrap: engine,
            seen: None,
            refresh_every,
            fetch_timeout,
            next_refresh: None,
        }
    }

    /// The engine in use now.
    pub fn current(&self) -> Arc<Engine> {
        self.current.clone()
    }

    /// Re-reads the published policy if `now` (time since the Unix epoch,
    /// from the caller's clock) is past the refresh interval, or past
    /// [`RETRY_AFTER_FAILURE`] since a read that failed.
    pub async fn refresh(&mut self, now: Duration) -> Refresh {
        self.refresh_within(now, self.fetch_timeout).await
    }

    /// Reads the published policy now, with a budget of its own: the
    /// Lambda's init phase, before the first decision, gives it seconds
    /// rather than a decision's milliseconds.
    pub async fn load_now(&mut self, now: Duration, budget: Duration) -> Refresh {
        self.next_refresh = None;
        self.refresh_within(now, budget).await
    }

    async fn refresh_within(&mut self, now: Duration, budget: Duration) -> Refresh {
        let Some(fetcher) = &self.fetcher else {
            return Refresh::Skipped;
        };
        if self.next_refresh.is_some_and(|due| now < due) {
            return Refresh::Skipped;
        }
        self.next_refresh = Some(now + self.refresh_every);
        let fetched = crate::store::before(fetcher.fetch(), fetcher.sleep(budget))
            .await
            .unwrap_or_else(|| Err(format!("timed out after {} ms", budget.as_millis())));
        if fetched.is_err() {
            // Soon again, not a whole interval later: until it succeeds, a
            // policy published since this instance started is not in force.
            self.next_refresh = Some(now + RETRY_AFTER_FAILURE.min(self.refresh_every));
        }
        let outcome = match fetched {
            Err(error) => Refresh::Failed { error },
            Ok(None) => {
                self.seen = None;
                if Arc::ptr_eq(&self.current, &self.bootstrap) {
                    Refresh::Unchanged
                } else {
                    self.current = self.bootstrap.clone();
                    Refresh::Bootstrap
                }
            }
            Ok(Some(p)) if self.seen.as_deref() == Some(p.digest.as_str()) => Refresh::Unchanged,
            Ok(Some(p)) => {
                self.seen = Some(p.digest.clone());
                match Policy::parse(&p.body, "published policy") {
                    Ok(policy) => {
                        let digest = policy.digest.clone();
                        self.current = Arc::new(Engine::new(Arc::new(policy)));
                        Refresh::Loaded { digest }
                    }
                    Err(e) => {
                        tracing::error!(
                            target: "pumpguard::policy",
                            error = %e,
                            "published policy rejected; keeping the policy in use"
                        );
                        Refresh::Rejected {
                            problems: e.problems.len(),
                        }
                    }
                }
            }
        };
        match &outcome {
            Refresh::Loaded { digest } => tracing::info!(
                target: "pumpguard::policy",
                digest = %digest,
                "published policy loaded"
            ),
            Refresh::Bootstrap => tracing::info!(
                target: "pumpguard::policy",
                "no published policy; using the bootstrap policy"
            ),
            Refresh::Failed { error } => tracing::warn!(
                target: "pumpguard::policy",
                error = %error,
                "could not read the published policy; keeping the policy in use"
            ),
            Refresh::Skipped | Refresh::Unchanged | Refresh::Rejected { .. } => {}
        }
        outcome
    }
}

/// Where the bootstrap policy came from, and what went wrong with it.
#[derive(Debug)]
pub struct Bootstrap {
    pub policy: Policy,
    pub origin: String,
    /// Set when the configured policy was unusable and the baseline is in use.
    pub error: Option<String>,
}

/// Picks the bootstrap policy from the environment (passed in as a lookup
/// function so tests need not touch the process environment).
pub fn bootstrap_policy(
    env: impl Fn(&str) -> Option<String>,
    exe_dir: Option<&std::path::Path>,
) -> Bootstrap {
    let loaded = if let Some(text) = env("PUMPGUARD_POLICY") {
        Some((
            "PUMPGUARD_POLICY".to_string(),
            Policy::parse(&text, "PUMPGUARD_POLICY"),
        ))
    } else if let Some(path) = env("PUMPGUARD_POLICY_FILE") {
        Some((path.clone(), Policy::load(std::path::Path::new(&path))))
    } else {
        exe_dir
            .map(|d| d.join("policy.toml"))
            .filter(|p| p.is_file())
            .map(|p| (p.display().to_string(), Policy::load(&p)))
    };
    match loaded {
        Some((origin, Ok(policy))) => Bootstrap {
            policy,
            origin,
            error: None,
        },
        Some((origin, Err(e))) => Bootstrap {
            policy: baseline(),
            origin: "built-in baseline".into(),
            error: Some(format!("{origin}: {e}")),
        },
        None => Bootstrap {
            policy: baseline(),
            origin: "built-in baseline (no policy configured)".into(),
            error: None,
        },
    }
}

/// The built-in baseline policy.
pub fn baseline() -> Policy {
    match Policy::parse(BASELINE_POLICY, "built-in baseline") {
        Ok(p) => p,
        Err(_) => Policy::example(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Scripted answers for the cache logic; the DynamoDB store itself is
    /// tested against moto in `trigger/tests/it/dynamo_policy.rs`.
    struct Script(Mutex<Vec<Result<Option<PublishedPolicy>, String>>>);

    impl PolicyFetch for Script {
        async fn fetch(&self) -> Result<Option<PublishedPolicy>, String> {
            self.0.lock().map_err(|e| e.to_string())?.remove(0)
        }
        async fn sleep(&self, d: Duration) {
            tokio::time::sleep(d).await;
        }
    }

    fn published(text: &str) -> Result<Option<PublishedPolicy>, String> {
        Ok(Some(PublishedPolicy {
            body: text.into(),
            digest: format!("{:x}", text.len()) + text,
            published_at: 0,
        }))
    }

    const STOP_JM: &str = "[countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n";

    #[tokio::test]
    async fn refreshes_on_schedule_and_never_takes_a_broken_policy() {
        let script = Script(Mutex::new(vec![
            published(STOP_JM),
            published("[countries]\nallow = [\"UK\"]\n"),
            Err("connection refused".into()),
            Ok(None),
        ]));
        let mut cache = PolicyCache::new(
            baseline(),
            Some(script),
            Duration::from_secs(30),
            Duration::from_millis(500),
        );
        let s = |n| Duration::from_secs(n);
        let jm = "+18762101234";
        let src = crate::TriggerSource::SignUp;
        assert_eq!(
            cache.current().decide(src, jm).verdict,
            crate::Verdict::Monitor
        );
        assert!(matches!(
            cache.refresh(s(1000)).await,
            Refresh::Loaded { .. }
        ));
        assert_eq!(
            cache.current().decide(src, jm).verdict,
            crate::Verdict::Block
        );
        assert_eq!(cache.refresh(s(1029)).await, Refresh::Skipped);
        assert_eq!(
            cache.refresh(s(1030)).await,
            Refresh::Rejected { problems: 2 }
        );
        assert_eq!(
            cache.current().decide(src, jm).verdict,
            crate::Verdict::Block
        );
        assert!(matches!(
            cache.refresh(s(1060)).await,
            Refresh::Failed { .. }
        ));
        assert_eq!(
            cache.current().decide(src, jm).verdict,
            crate::Verdict::Block
        );
        // A failed read is tried again within seconds, not an interval.
        assert_eq!(cache.refresh(s(1062)).await, Refresh::Skipped);
        assert_eq!(cache.refresh(s(1063)).await, Refresh::Bootstrap);
        assert_eq!(
            cache.current().decide(src, jm).verdict,
            crate::Verdict::Monitor
        );
    }

    #[tokio::test]
    async fn a_hung_read_times_out() {
        struct Hang;
        impl PolicyFetch for Hang {
            async fn fetch(&self) -> Result<Option<PublishedPolicy>, String> {
                std::future::pending().await
            }
            async fn sleep(&self, d: Duration) {
                tokio::time::sleep(d).await;
            }
        }
        let mut cache = PolicyCache::new(
            baseline(),
            Some(Hang),
            Duration::from_secs(30),
            Duration::from_millis(50),
        );
        tokio::time::pause();
        let r = cache.refresh(Duration::from_secs(1)).await;
        assert_eq!(
            r,
            Refresh::Failed {
                error: "timed out after 50 ms".into()
            }
        );
    }

    #[tokio::test]
    async fn init_reads_the_published_policy_with_its_own_budget() {
        struct Slow;
        impl PolicyFetch for Slow {
            async fn fetch(&self) -> Result<Option<PublishedPolicy>, String> {
                // Virtual time (the test pauses the clock): no real wait.
                tokio::time::sleep(Duration::from_millis(900)).await;
                published(STOP_JM)
            }
            async fn sleep(&self, d: Duration) {
                tokio::time::sleep(d).await;
            }
        }
        tokio::time::pause();
        let mut cache = PolicyCache::new(
            baseline(),
            Some(Slow),
            Duration::from_secs(30),
            Duration::from_millis(200),
        );
        // A decision's budget would time out; init's does not.
        let r = cache
            .load_now(Duration::from_secs(1), Duration::from_secs(3))
            .await;
        assert!(matches!(r, Refresh::Loaded { .. }), "{r:?}");
        let jm = "+18762101234";
        assert_eq!(
            cache
                .current()
                .decide(crate::TriggerSource::SignUp, jm)
                .verdict,
            crate::Verdict::Block
        );
        // The next scheduled refresh is a whole interval later.
        assert_eq!(
            cache.refresh(Duration::from_secs(30)).await,
            Refresh::Skipped
        );
    }

    #[test]
    fn bootstrap_sources() {
        let none = bootstrap_policy(|_| None, None);
        assert!(none.origin.starts_with("built-in baseline"));
        assert!(none.error.is_none());
        let inline = bootstrap_policy(
            |k| (k == "PUMPGUARD_POLICY").then(|| STOP_JM.to_string()),
            None,
        );
        assert_eq!(inline.origin, "PUMPGUARD_POLICY");
        let broken = bootstrap_policy(
            |k| (k == "PUMPGUARD_POLICY").then(|| "[countries".to_string()),
            None,
        );
        assert_eq!(broken.origin, "built-in baseline");
        assert!(broken.error.is_some_and(|e| e.contains("not valid TOML")));
        let missing = bootstrap_policy(
            |k| (k == "PUMPGUARD_POLICY_FILE").then(|| "/nonexistent/p.toml".to_string()),
            None,
        );
        assert!(missing
            .error
            .is_some_and(|e| e.contains("cannot read the file")));
    }
}
