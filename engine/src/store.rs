//! The state the stateful guards share across Lambda instances.
//!
//! The engine describes what it needs as [`Op`]s; a [`Store`] carries them
//! out. Every op is one atomic step on one item (or one read), so the ops of
//! a wave can all run at once: a decision costs at most two round trips of
//! wall time (see [`crate::stateful`]).
//! Two stores implement the same contract (`trigger/tests/it/store_contract.rs`):
//! [`MemoryStore`] here, for `pumpguard check` and replays, and
//! `pumpguard_trigger::dynamo::DynamoStore` for the Lambda.
//!
//! Every item carries `expires_at` (Unix seconds) for DynamoDB's TTL, so
//! nothing grows without bound.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

pub use crate::guards::cohort::HistoryMemo;

/// The key of one item in the single table: its partition key `pk` and
/// sort key `sk`, held in one allocation (a decision makes some forty
/// keys, and the in-memory store hashes and compares each as one run of
/// bytes). Ordered by `pk`, then `sk`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ItemKey {
    /// `pk` then `sk`.
    text: String,
    /// Where `sk` starts in `text`.
    split: usize,
}

impl ItemKey {
    pub fn new(pk: impl AsRef<str>, sk: impl AsRef<str>) -> Self {
        let (pk, sk) = (pk.as_ref(), sk.as_ref());
        let mut text = String::with_capacity(pk.len() + sk.len());
        text.push_str(pk);
        text.push_str(sk);
        Self::joined(text, pk.len())
    }

    /// A key from `text`, whose first `split` bytes are `pk` (all of it
    /// when `split` is past its end or inside a character).
    pub(crate) fn joined(text: String, split: usize) -> Self {
        let split = if text.is_char_boundary(split) {
            split
        } else {
            text.len()
        };
        Self { text, split }
    }

    /// The partition key.
    pub fn pk(&self) -> &str {
        self.text.get(..self.split).unwrap_or_default()
    }

    /// The sort key.
    pub fn sk(&self) -> &str {
        self.text.get(self.split..).unwrap_or_default()
    }
}

impl std::fmt::Debug for ItemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemKey")
            .field("pk", &self.pk())
            .field("sk", &self.sk())
            .finish()
    }
}

impl PartialOrd for ItemKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ItemKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.pk(), self.sk()).cmp(&(other.pk(), other.sk()))
    }
}

/// An attribute's name in an [`Op`]: nearly always a fixed name, which is
/// then not copied for every op (a decision makes some thirty names).
pub type Attr = std::borrow::Cow<'static, str>;

/// One atomic step on the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Per-phone progressive cooldown: take the send if the phone is out of
    /// cooldown. State: `last_at` (last send) and `level` (sends in the streak).
    /// Allowed when there is no state, when `now - last_at >= reset_after`
    /// (a new streak, level 1), or when `now - last_at >= ladder[level-1]`
    /// (the last step repeats; level + 1). Otherwise blocked, unchanged.
    Cooldown {
        key: ItemKey,
        now: i64,
        /// Cooldown after the k-th send of a streak, seconds (≥ 1 each).
        ladder: Vec<i64>,
        reset_after: i64,
        expires_at: i64,
        /// This attempt's token, kept in the item as `attempt`, so that a
        /// [`Op::Release`] can undo this send whichever lands first.
        attempt: i64,
    },
    /// Undoes the cooldown step of `attempt` (a decision refused because the
    /// store failed, `on-store-error = "fail-closed"`): sets `released =
    /// attempt`. A cooldown whose `attempt` equals `released` counts as no
    /// send, so the user's next try starts a new streak. Order-independent:
    /// it may land before or after the cooldown update it undoes.
    Release {
        key: ItemKey,
        attempt: i64,
        expires_at: i64,
    },
    /// Atomically add `amount` to numeric attribute `attr`; returns every
    /// numeric attribute of the item afterwards.
    Add {
        key: ItemKey,
        attr: Attr,
        amount: i64,
        expires_at: i64,
    },
    /// Atomically add `member` to the string set `attr`; returns its size.
    AddMember {
        key: ItemKey,
        attr: Attr,
        member: String,
        expires_at: i64,
    },
    /// Read the numeric attributes of several items (missing items read empty).
    Read { keys: Vec<ItemKey> },
    /// Record a send to a phone without a cooldown (`[cooldown]` off), so
    /// that a later verification can find it: `last_at = now`.
    MarkSent {
        key: ItemKey,
        now: i64,
        expires_at: i64,
    },
    /// A code sent to this phone was used: if a send happened since the last
    /// verification, record `verified_at = now` and reset the ladder to its
    /// first step (`level = 1`). Returns whether it counted.
    Verify { key: ItemKey, now: i64 },
    /// Set `attr` to `value` if it is missing or lower.
    RaiseTo {
        key: ItemKey,
        attr: Attr,
        value: i64,
        expires_at: i64,
    },
    /// Atomically, and only if every `below` attribute is missing or less
    /// than its bound: add each `adds` amount to its attribute and set
    /// `set`'s attributes. Nothing changes otherwise. With `below` empty it
    /// always applies (how an admitted count is given back). Returns
    /// [`OpResult::Admitted`]. This is how shared limits count only the
    /// SMS that go out: a refused attempt adds nothing, and with a bound of
    /// K exactly K concurrent attempts are admitted.
    AddIf {
        key: ItemKey,
        adds: Vec<(Attr, i64)>,
        below: Vec<(Attr, i64)>,
        set: Vec<(Attr, i64)>,
        expires_at: i64,
    },
    /// A completion (PostConfirmation / PostAuthentication) for the phone
    /// item `key`: it counts only if a send is pending (`sent_at` exists
    /// and is after `verified_at`, if any), was for the same user
    /// (`sent_user == user`), of a kind this completion verifies
    /// (`sent_kind` in `kinds`) and still within that code's lifetime
    /// (`sent_at >= sent_after`). Then, atomically: `verified_at =
    /// last_verified = now`, `first_verified` set if missing, `vcount` + 1,
    /// `unused = 0`. Returns [`OpResult::Confirmed`] with the item as it was
    /// before (so the caller knows the send it verified), or `None`.
    Confirm {
        key: ItemKey,
        now: i64,
        user: i64,
        kinds: Vec<i64>,
        sent_after: i64,
        expires_at: i64,
    },
    /// Set the text attribute `attr` to `text` (the sender keeps a sent
    /// message's id here until the code is used).
    PutText {
        key: ItemKey,
        attr: Attr,
        text: String,
        expires_at: i64,
    },
    /// Atomically remove the text attribute `attr` and return what it held:
    /// of two concurrent takes, one gets the text. Returns
    /// [`OpResult::Text`].
    TakeText { key: ItemKey, attr: Attr },
}

impl Op {
    /// The item this op may change, if any.
    pub fn written(&self) -> Option<&ItemKey> {
        match self {
            Op::Read { .. } => None,
            Op::Cooldown { key, .. }
            | Op::Release { key, .. }
            | Op::Add { key, .. }
            | Op::AddMember { key, .. }
            | Op::MarkSent { key, .. }
            | Op::Verify { key, .. }
            | Op::RaiseTo { key, .. }
            | Op::AddIf { key, .. }
            | Op::Confirm { key, .. }
            | Op::PutText { key, .. }
            | Op::TakeText { key, .. } => Some(key),
        }
    }
}

/// An item's numeric attributes as a store returns them. Shared: the
/// in-memory store hands out the item it holds without copying it (a
/// decision reads a fortnight of cohort days), and copies only on a later
/// write while an answer still holds it.
pub type Numbers = Arc<NumberMap>;

/// An item's numeric attributes by name, kept sorted by name in one
/// vector: a cohort's day holds some seventy and a decision looks up a few
/// dozen, copies an item it writes while an answer still holds it, and
/// drops the answers, each cheaper on one allocation than on a tree's
/// nodes. Names are [`Attr`]s: the fixed names the guards write are
/// neither copied into each item nor freed with it, and a lookup by the
/// very name stored (the same `&'static str`) is recognised without
/// comparing its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberMap {
    entries: Vec<(Attr, i64)>,
}

impl NumberMap {
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| {
            if std::ptr::eq(k.as_ptr(), name.as_ptr()) && k.len() == name.len() {
                std::cmp::Ordering::Equal
            } else {
                (**k).cmp(name)
            }
        })
    }

    pub fn get(&self, name: &str) -> Option<&i64> {
        self.find(name)
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut i64> {
        let i = self.find(name).ok()?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets `name` to `value`; returns what it held.
    pub fn insert(&mut self, name: impl Into<Attr>, value: i64) -> Option<i64> {
        let name = name.into();
        match self.find(&name) {
            Ok(i) => self
                .entries
                .get_mut(i)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(i) => {
                self.entries.insert(i, (name, value));
                None
            }
        }
    }

    /// The value of `name`, inserted as `value` if missing.
    pub fn get_or_insert(&mut self, name: Attr, value: i64) -> &mut i64 {
        let i = match self.find(&name) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (name, value));
                i
            }
        };
        &mut self.entries[i].1
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every attribute, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> + '_ {
        self.entries.iter().map(|(k, v)| (&**k, *v))
    }
}

impl std::ops::Index<&str> for NumberMap {
    type Output = i64;

    /// Panics when `name` is missing, as a map's index does (for tests).
    fn index(&self, name: &str) -> &i64 {
        #[allow(clippy::panic)]
        self.get(name)
            .unwrap_or_else(|| panic!("no attribute {name:?}"))
    }
}

impl FromIterator<(Attr, i64)> for NumberMap {
    /// A later value of a name replaces an earlier one, as in a map.
    fn from_iter<I: IntoIterator<Item = (Attr, i64)>>(iter: I) -> Self {
        let mut m = Self::new();
        m.extend(iter);
        m
    }
}

impl Extend<(Attr, i64)> for NumberMap {
    fn extend<I: IntoIterator<Item = (Attr, i64)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

/// What an op returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// Cooldown: allowed, or blocked with the seconds until it would be.
    Cooldown { allowed: bool, retry_after: i64 },
    /// Add: the item's numeric attributes afterwards.
    Numbers(Numbers),
    /// AddMember: the set's size afterwards.
    SetSize(u64),
    /// Read: per key, in order.
    Items(Vec<Numbers>),
    /// Verify: whether a pending send was verified.
    Verified(bool),
    /// MarkSent, RaiseTo, Release.
    Done,
    /// AddIf: whether it applied, and the item's numeric attributes after
    /// (when it applied) or as they were (when it did not).
    Admitted { admitted: bool, numbers: Numbers },
    /// Confirm: the item's numeric attributes before the completion, if it
    /// counted.
    Confirmed(Option<Numbers>),
    /// TakeText: the text it removed, if there was one.
    Text(Option<String>),
}

/// A store call that failed; the guard then follows `state.on-store-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the store did not answer within {0} ms")]
    Timeout(u64),
    #[error("store request failed: {0}")]
    Request(String),
    #[error("store returned an unexpected item: {0}")]
    Data(String),
}

/// Carries out ops. Implementations must make each op atomic.
pub trait Store: Send + Sync {
    fn execute(&self, op: Op) -> impl Future<Output = Result<OpResult, StoreError>> + Send;

    /// Completes after `d` on the runtime the store's calls run on. The
    /// engine has no runtime or clock of its own: it holds a decision's
    /// store calls to `state.timeout-ms` with this timer. A store whose
    /// calls cannot block (the in-memory one) may never complete it.
    fn sleep(&self, d: std::time::Duration) -> impl Future<Output = ()> + Send;

    /// Where this store keeps its cohorts' closed days, if it does
    /// ([`HistoryMemo`]). A store that keeps them must tell the memo of
    /// every write or removal of an item ([`HistoryMemo::written`]).
    /// Without one, every decision reads each cohort's whole baseline.
    fn memo(&self) -> Option<&HistoryMemo> {
        None
    }
}

/// `work`, or `None` if `store`'s timer for `d` ends first.
pub async fn within<S: Store + ?Sized, T>(
    store: &S,
    d: std::time::Duration,
    work: impl Future<Output = T>,
) -> Option<T> {
    before(work, store.sleep(d)).await
}

/// `work`, or `None` if `timer` completes first: how the engine, which has
/// no clock of its own, holds work to a budget with a timer it is given.
pub async fn before<T>(
    work: impl Future<Output = T>,
    timer: impl Future<Output = ()>,
) -> Option<T> {
    let work = std::pin::pin!(work);
    let timer = std::pin::pin!(timer);
    match futures_util::future::select(work, timer).await {
        futures_util::future::Either::Left((r, _)) => Some(r),
        futures_util::future::Either::Right(((), _)) => None,
    }
}

/// Cooldown arithmetic shared by every store: given the item's state, the
/// outcome and the new state.
pub fn cooldown_step(
    last_at: Option<i64>,
    level: Option<i64>,
    now: i64,
    ladder: &[i64],
    reset_after: i64,
) -> (bool, i64, Option<(i64, i64)>) {
    let Some(last) = last_at else {
        return (true, 0, Some((now, 1)));
    };
    // Saturating: `last` and `level` come from the store, which may hold
    // anything (an item another writer or clock produced).
    let since = now.saturating_sub(last);
    if since >= reset_after {
        return (true, 0, Some((now, 1)));
    }
    let level = level.unwrap_or(1).max(1);
    let step = usize::try_from(level - 1)
        .unwrap_or(0)
        .min(ladder.len().saturating_sub(1));
    let cooldown = ladder.get(step).copied().unwrap_or(0);
    if since >= cooldown {
        (true, 0, Some((now, level.saturating_add(1))))
    } else {
        (false, cooldown.saturating_sub(since), None)
    }
}

#[derive(Debug, Clone, Default)]
struct MemItem {
    numbers: Numbers,
    /// String sets and texts, which few items hold: boxed, so that every
    /// other item's slot in the table is smaller (the table holds millions
    /// in a long replay, and grows by copying them).
    extras: Option<Box<Extras>>,
    /// `numbers["expires_at"]` again, so that [`MemoryStore::expire`]'s
    /// sweep over every item reads a field instead of searching a map.
    expires_at: Option<i64>,
}

/// An item's string sets and texts.
#[derive(Debug, Clone, Default)]
struct Extras {
    sets: BTreeMap<String, BTreeSet<String>>,
    texts: BTreeMap<String, String>,
}

impl MemItem {
    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Sets the fixed attribute `attr` to `value`.
    fn put(&mut self, attr: &'static str, value: i64) {
        self.put_attr(&Attr::Borrowed(attr), value);
    }

    /// Sets `attr` to `value`.
    fn put_attr(&mut self, attr: &Attr, value: i64) {
        Arc::make_mut(&mut self.numbers).insert(attr.clone(), value);
    }

    /// Adds `amount` to `attr` (missing reads 0), saturating.
    fn add(&mut self, attr: &Attr, amount: i64) {
        let n = Arc::make_mut(&mut self.numbers).get_or_insert(attr.clone(), 0);
        *n = n.saturating_add(amount);
    }

    fn set_expiry(&mut self, expires_at: i64) {
        self.put("expires_at", expires_at);
        self.expires_at = Some(expires_at);
    }
}

/// The embedded in-memory store: one process, no persistence.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Hashed with foldhash: SipHash over the keys was a tenth of the
    /// store's time in a long replay (the keys are keyed hashes already).
    items: Mutex<HashMap<ItemKey, MemItem, foldhash::fast::FixedState>>,
    /// The next `now` at which [`MemoryStore::expire`] sweeps.
    next_sweep: AtomicI64,
    /// Its cohorts' closed days, told of every write and removal.
    memo: HistoryMemo,
    /// What a missing item reads as, shared instead of allocated per key.
    empty: Numbers,
}

/// How often (in the store's time) [`MemoryStore::expire`] sweeps. Items
/// live a day or more, so a sweep every few hours holds little more than
/// an hourly one would; each sweep visits every item (millions in a long
/// replay), and hourly sweeps were a twentieth of a replay's time.
const SWEEP_EVERY_SECONDS: i64 = 6 * 3600;

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops the items whose `expires_at` is before `now`, as DynamoDB's TTL
    /// does, at most once per six hours of `now`, so a long replay holds only live
    /// state. Every guard already treats an expired item as absent (its keys
    /// are per window, and the cooldown's `reset-after` is shorter than the
    /// item's life), so this changes no decision.
    pub fn expire(&self, now: i64) {
        if now < self.next_sweep.load(AtomicOrdering::Relaxed) {
            return;
        }
        self.next_sweep.store(
            now.saturating_add(SWEEP_EVERY_SECONDS),
            AtomicOrdering::Relaxed,
        );
        if let Ok(mut items) = self.items.lock() {
            items.retain(|key, item| {
                let keep = item.expires_at.is_none_or(|e| e >= now);
                if !keep {
                    self.memo.written(key);
                }
                keep
            });
        }
    }

    /// Number of items held (for tests of TTL coverage).
    pub fn len(&self) -> usize {
        self.items.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the store holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every item's `expires_at` (for tests: every item must have one).
    pub fn expiries(&self) -> Vec<(ItemKey, Option<i64>)> {
        self.items
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.numbers.get("expires_at").copied()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn apply(&self, op: Op) -> Result<OpResult, StoreError> {
        let mut items = self
            .items
            .lock()
            .map_err(|_| StoreError::Request("memory store lock poisoned".into()))?;
        if let Some(key) = op.written() {
            self.memo.written(key);
        }
        Ok(match op {
            Op::Cooldown {
                key,
                now,
                ladder,
                reset_after,
                expires_at,
                attempt,
            } => {
                let item = items.get(&key);
                let n = item.map(|i| &i.numbers);
                let get = |attr: &str| n.and_then(|n| n.get(attr)).copied();
                let released = get("attempt").is_some() && get("attempt") == get("released");
                let (allowed, retry_after, new) = cooldown_step(
                    get("last_at").filter(|_| !released),
                    get("level"),
                    now,
                    &ladder,
                    reset_after,
                );
                // A refused attempt changes nothing, and makes no item.
                if let Some((last, level)) = new {
                    let item = items.entry(key).or_default();
                    item.put("last_at", last);
                    item.put("level", level);
                    item.set_expiry(expires_at);
                    item.put("attempt", attempt);
                }
                OpResult::Cooldown {
                    allowed,
                    retry_after,
                }
            }
            Op::Release {
                key,
                attempt,
                expires_at,
            } => {
                let item = items.entry(key).or_default();
                item.put("released", attempt);
                let e = item.expires_at.map_or(expires_at, |e| e.max(expires_at));
                item.set_expiry(e);
                OpResult::Done
            }
            Op::Add {
                key,
                attr,
                amount,
                expires_at,
            } => {
                let item = items.entry(key).or_default();
                item.add(&attr, amount);
                item.set_expiry(expires_at);
                OpResult::Numbers(Arc::clone(&item.numbers))
            }
            Op::AddMember {
                key,
                attr,
                member,
                expires_at,
            } => {
                let item = items.entry(key).or_default();
                let set = item.extras().sets.entry(attr.into_owned()).or_default();
                set.insert(member);
                let size = set.len() as u64;
                item.set_expiry(expires_at);
                OpResult::SetSize(size)
            }
            Op::PutText {
                key,
                attr,
                text,
                expires_at,
            } => {
                let item = items.entry(key).or_default();
                item.extras().texts.insert(attr.into_owned(), text);
                item.set_expiry(expires_at);
                OpResult::Done
            }
            Op::TakeText { key, attr } => OpResult::Text(
                items
                    .get_mut(&key)
                    .and_then(|i| i.extras.as_mut())
                    .and_then(|e| e.texts.remove(&*attr)),
            ),
            Op::Read { keys } => OpResult::Items(
                keys.iter()
                    .map(|k| {
                        items
                            .get(k)
                            .map_or_else(|| self.empty.clone(), |i| i.numbers.clone())
                    })
                    .collect(),
            ),
            Op::MarkSent {
                key,
                now,
                expires_at,
            } => {
                let item = items.entry(key).or_default();
                item.put("last_at", now);
                item.set_expiry(expires_at);
                OpResult::Done
            }
            Op::Verify { key, now } => {
                let Some(item) = items.get_mut(&key) else {
                    return Ok(OpResult::Verified(false));
                };
                let last = item.numbers.get("last_at").copied();
                let verified = item.numbers.get("verified_at").copied();
                let pending = match (last, verified) {
                    (Some(l), Some(v)) => l > v,
                    (Some(_), None) => true,
                    _ => false,
                };
                if pending {
                    item.put("verified_at", now);
                    item.put("level", 1);
                }
                OpResult::Verified(pending)
            }
            Op::RaiseTo {
                key,
                attr,
                value,
                expires_at,
            } => {
                let item = items.entry(key).or_default();
                let cur = Arc::make_mut(&mut item.numbers).get_or_insert(attr, i64::MIN);
                if *cur < value {
                    *cur = value;
                }
                item.set_expiry(expires_at);
                OpResult::Done
            }
            Op::AddIf {
                key,
                adds,
                below,
                set,
                expires_at,
            } => {
                let numbers = items.get(&key).map(|i| &i.numbers);
                let fits = below.iter().all(|(attr, bound)| {
                    numbers.and_then(|n| n.get(attr)).is_none_or(|v| v < bound)
                });
                if fits {
                    let item = items.entry(key).or_default();
                    for (attr, amount) in &adds {
                        item.add(attr, *amount);
                    }
                    for (attr, value) in &set {
                        item.put_attr(attr, *value);
                    }
                    item.set_expiry(expires_at);
                    OpResult::Admitted {
                        admitted: true,
                        numbers: Arc::clone(&item.numbers),
                    }
                } else {
                    // Nothing changes, and no item is made.
                    OpResult::Admitted {
                        admitted: false,
                        numbers: numbers.cloned().unwrap_or_default(),
                    }
                }
            }
            Op::Confirm {
                key,
                now,
                user,
                kinds,
                sent_after,
                expires_at,
            } => {
                let Some(item) = items.get_mut(&key) else {
                    return Ok(OpResult::Confirmed(None));
                };
                let n = &item.numbers;
                let pending = match (n.get("sent_at"), n.get("verified_at")) {
                    (Some(s), Some(v)) => s > v,
                    (Some(_), None) => true,
                    _ => false,
                };
                let same_user = n.get("sent_user") == Some(&user);
                let kind = n.get("sent_kind").is_some_and(|k| kinds.contains(k));
                let live = n.get("sent_at").is_some_and(|s| *s >= sent_after);
                if !(pending && same_user && kind && live) {
                    return Ok(OpResult::Confirmed(None));
                }
                let before = Arc::clone(&item.numbers);
                item.put("verified_at", now);
                item.put("last_verified", now);
                if !item.numbers.contains_key("first_verified") {
                    item.put("first_verified", now);
                }
                item.add(&Attr::Borrowed("vcount"), 1);
                item.put("unused", 0);
                item.set_expiry(expires_at);
                OpResult::Confirmed(Some(before))
            }
        })
    }
}

impl Store for MemoryStore {
    async fn execute(&self, op: Op) -> Result<OpResult, StoreError> {
        self.apply(op)
    }

    /// Never: every op completes at once.
    async fn sleep(&self, _: std::time::Duration) {
        std::future::pending::<()>().await;
    }

    fn memo(&self) -> Option<&HistoryMemo> {
        Some(&self.memo)
    }
}

impl<S: Store> Store for std::sync::Arc<S> {
    fn execute(&self, op: Op) -> impl Future<Output = Result<OpResult, StoreError>> + Send {
        (**self).execute(op)
    }

    fn sleep(&self, d: std::time::Duration) -> impl Future<Output = ()> + Send {
        (**self).sleep(d)
    }

    fn memo(&self) -> Option<&HistoryMemo> {
        (**self).memo()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_ladder_arithmetic() {
        let ladder = [60, 60, 300];
        assert_eq!(
            cooldown_step(None, None, 0, &ladder, 600),
            (true, 0, Some((0, 1)))
        );
        assert_eq!(
            cooldown_step(Some(0), Some(1), 59, &ladder, 600),
            (false, 1, None)
        );
        assert_eq!(
            cooldown_step(Some(0), Some(1), 60, &ladder, 600),
            (true, 0, Some((60, 2)))
        );
        assert_eq!(
            cooldown_step(Some(60), Some(2), 120, &ladder, 600),
            (true, 0, Some((120, 3)))
        );
        assert_eq!(
            cooldown_step(Some(120), Some(3), 180, &ladder, 600),
            (false, 240, None)
        );
        assert_eq!(
            cooldown_step(Some(120), Some(9), 420, &ladder, 600),
            (true, 0, Some((420, 10)))
        );
        // A quiet pause starts a new streak.
        assert_eq!(
            cooldown_step(Some(120), Some(9), 720, &ladder, 600),
            (true, 0, Some((720, 1)))
        );
    }

    #[test]
    fn cooldown_arithmetic_survives_any_stored_state() {
        // `last_at` and `level` come from the table, which may hold anything.
        let ladder = [60, 60, 300];
        assert_eq!(
            cooldown_step(Some(i64::MIN), Some(1), 0, &ladder, 600),
            (true, 0, Some((0, 1)))
        );
        assert_eq!(
            cooldown_step(Some(i64::MAX), Some(i64::MAX), 0, &ladder, 600),
            (false, i64::MAX, None)
        );
        assert_eq!(
            cooldown_step(Some(0), Some(i64::MAX), 300, &ladder, 600),
            (true, 0, Some((300, i64::MAX)))
        );
        assert_eq!(
            cooldown_step(Some(-5), Some(i64::MIN), 0, &ladder, 600),
            (false, 55, None)
        );
    }

    #[test]
    fn a_number_map_finds_a_name_however_it_was_made() {
        let mut m: NumberMap = [("sent_h05", 1), ("expires_at", 9), ("sent", 3)]
            .into_iter()
            .map(|(k, v)| (Attr::Borrowed(k), v))
            .collect();
        // A name made at run time finds the fixed one, and the other way round.
        let owned = Attr::Owned(format!("sent_h{:02}", 5));
        assert_eq!(m.get(&owned), Some(&1));
        assert_eq!(m.insert(Attr::Owned("level".to_string()), 2), None);
        assert_eq!(m.get("level"), Some(&2));
        assert_eq!(m.insert("sent", 4), Some(3));
        *m.get_or_insert("verified".into(), 0) += 5;
        *m.get_or_insert("sent".into(), 0) += 1;
        assert!(!m.contains_key("sent_h06"));
        assert_eq!(m.get_mut("sent_h06"), None);
        let all: Vec<(&str, i64)> = m.iter().collect();
        assert_eq!(
            all,
            [
                ("expires_at", 9),
                ("level", 2),
                ("sent", 5),
                ("sent_h05", 1),
                ("verified", 5)
            ]
        );
        // As in a map, a later value of a name replaces the earlier one.
        let twice: NumberMap = [("a".into(), 1), ("a".into(), 2)].into_iter().collect();
        assert_eq!((twice.len(), twice["a"]), (1, 2));
    }

    #[tokio::test]
    async fn a_counter_at_the_top_of_its_range_saturates() {
        let store = MemoryStore::new();
        let add = |amount| Op::Add {
            key: ItemKey::new("pool", "m1"),
            attr: "sends".into(),
            amount,
            expires_at: 1,
        };
        store.execute(add(i64::MAX)).await.unwrap();
        let Ok(OpResult::Numbers(m)) = store.execute(add(1)).await else {
            panic!("not numbers");
        };
        assert_eq!(m.get("sends"), Some(&i64::MAX));
    }
}
