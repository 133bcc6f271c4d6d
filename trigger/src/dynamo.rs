//! The DynamoDB [`Store`]: one table, single-table design.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | phone cooldown | `phone#<hash>` | `cooldown` | `last_at`, `level`, `verified_at`, `attempt`, `released` |
//! | known number | `phone#<hash>` | `known` | `sent_at`, `sent_user`, `sent_kind`, `sent_cohort`, `unused`, `verified_at`, `first_verified`, `last_verified`, `vcount` |
//! | phone sends per day | `phone#<hash>` | `d<day>` | `sends` |
//! | user phones / sends | `user#<hash>` | `phones#d<day>` / `sends#h<hour>` | `phones` (string set), `sends` |
//! | number prefix | `prefix#<hash>` | `w<window>#<bucket>` | `sends` |
//! | country | `country#<CC>` | `h<hour>` / `d<day>` | `sent`, `verified`, `peak_hour` |
//! | cohort day | `cohort#<CC>` / `cohort#<CC>#p<hidden>#<hash of prefix>` | `d<day>` | `sent`, `verified`, `sent_hHH`, `verified_hHH` |
//! | cohort state | `cohort#<CC>` / `cohort#<CC>#p<hidden>#<hash of prefix>` | `state` | `trips`, `recoveries`, `since` |
//! | pool | `pool` | `m<minute>` / `h<hour>` | `sends` |
//! | spend | `spend` | `d<day>` / `m<yyyymm>` / `d<day>#<CC>` / `m<yyyymm>#<CC>` | `micro_usd` |
//! | published policy | `policy` | `current` | `body`, `digest`, `published_at` |
//!
//! Phone numbers, users and prefixes appear only as keyed hashes. Every
//! counter item has `expires_at` for the table's TTL; the one policy item
//! does not (it is a single item that is replaced, never accumulated).
//!
//! Each [`Op`] is one request except `Cooldown`, which sends two conditional
//! updates at once (a new streak, or the next step of one): at most one can
//! succeed, and together they are still one round trip. `AddIf` is one
//! `UpdateItem` with a `ConditionExpression` (each bound as
//! `attribute_not_exists(a) OR a < bound`, none when there is no bound); a
//! refusal returns the item as it was (`ReturnValuesOnConditionCheckFailure`).
//! `Confirm` is one conditional `UpdateItem` returning `ALL_OLD`, the item as
//! it was before the completion.
//!
//! An item this code did not write is a [`StoreError::Data`], so that the
//! decision follows `on-store-error`: a counter that does not read back as a
//! whole number within `i64` (DynamoDB itself refuses to `ADD` to a string),
//! or a cooldown item whose `last_at` or `level` is not one (DynamoDB
//! evaluates a comparison between a string and a number as false, so such an
//! item refuses both updates and would otherwise block the phone until it
//! expires). Missing fields are read as absent; history items read by
//! [`Op::Read`] keep only their whole-number attributes.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure,
};
use aws_sdk_dynamodb::Client;

use pumpguard_engine::store::{
    cooldown_step, Attr, ItemKey, Numbers, Op, OpResult, Store, StoreError,
};

/// The trigger's table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn numbers(item: Option<&Item>) -> Numbers {
    Numbers::new(
        item.map(|i| {
            i.iter()
                .filter_map(|(k, v)| match v {
                    AttributeValue::N(x) => x.parse().ok().map(|x| (Attr::from(k.clone()), x)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default(),
    )
}

/// The attribute as a whole number, `None` when it is missing; an error when
/// it is there but not a number that fits an `i64` (an item this code did not
/// write: a string, a fraction, or a number past 2^63).
fn whole(item: &Item, attr: &str) -> Result<Option<i64>, StoreError> {
    match item.get(attr) {
        None => Ok(None),
        Some(AttributeValue::N(x)) => x
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Data(format!("{attr} is not a whole number"))),
        Some(_) => Err(StoreError::Data(format!("{attr} is not a number"))),
    }
}

fn request_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Request(format!("{}", DisplayErrorContext(&e)))
}

/// `Ok(Some(old item))` when the condition failed, `Ok(None)` when the update applied.
fn conditional<R: std::fmt::Debug>(
    r: Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        SdkError<UpdateItemError, R>,
    >,
) -> Result<Option<Item>, StoreError> {
    match r {
        Ok(_) => Ok(None),
        Err(SdkError::ServiceError(e)) => match e.into_err() {
            UpdateItemError::ConditionalCheckFailedException(c) => {
                Ok(Some(c.item.unwrap_or_default()))
            }
            other => Err(StoreError::Request(format!(
                "{}",
                DisplayErrorContext(&other)
            ))),
        },
        Err(e) => Err(request_error(e)),
    }
}

/// How many requests one decision sends at once at most (the shared
/// counters' wave), so how many connections [`DynamoStore::warm`] opens.
pub const CONNECTIONS_PER_DECISION: usize = 12;

/// The SDK settings of the trigger's table client, on top of the shared
/// config:
/// - **no SDK retries.** The decision's own budget (`state.timeout-ms`)
///   rarely leaves room for a backoff, and a retried conditional write or
///   `ADD` whose first attempt did land would count twice (a first SMS
///   refused by its own cooldown, a counter at 3 after 2 sends). A lost
///   answer is a store error and follows `on-store-error`; the HTTP client
///   still re-sends a request that a closed pooled connection refused
///   before any byte of it was written, which cannot count twice.
/// - **generous connect and request timeouts** (2 s, 3 s). The decision
///   stops waiting at `state.timeout-ms`; the request itself goes on in its
///   own task (see [`DynamoStore`]'s `execute`), so a slow TLS handshake
///   completes once and its connection serves the next decisions instead
///   of being cut at every attempt.
pub fn tune(builder: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    builder
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(2))
                .operation_attempt_timeout(std::time::Duration::from_secs(3))
                .operation_timeout(std::time::Duration::from_secs(3))
                .build(),
        )
}

impl DynamoStore {
    /// The store as the Lambda builds it: the shared SDK config with the
    /// trigger's settings ([`tune`]).
    pub fn for_lambda(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let client =
            Client::from_conf(tune(aws_sdk_dynamodb::config::Builder::from(config)).build());
        Self::new(client, table)
    }

    /// The table's client (shared with the published-policy reader).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `connections` connections to the table (a small read each, at
    /// once) within `budget`: the Lambda's init phase does it, with the
    /// whole CPU, so the first decisions do not pay the TLS handshakes.
    /// `Ok` when every read answered.
    pub async fn warm(
        &self,
        connections: usize,
        budget: std::time::Duration,
    ) -> Result<(), StoreError> {
        let reads = (0..connections.max(1)).map(|_| {
            let this = self.clone();
            tokio::spawn(async move {
                this.client
                    .get_item()
                    .table_name(&this.table)
                    .key("pk", s("policy"))
                    .key("sk", s("current"))
                    .projection_expression("pk")
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(request_error)
            })
        });
        match tokio::time::timeout(budget, futures_util::future::join_all(reads)).await {
            Err(_) => Err(StoreError::Timeout(
                u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
            )),
            Ok(done) => done
                .into_iter()
                .map(|r| {
                    r.unwrap_or_else(|_| Err(StoreError::Request("warm-up task ended".into())))
                })
                .collect::<Result<Vec<()>, StoreError>>()
                .map(|_| ()),
        }
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn update(
        &self,
        key: &ItemKey,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key.pk()))
            .key("sk", s(key.sk()))
    }

    async fn cooldown(
        &self,
        key: &ItemKey,
        now: i64,
        ladder: &[i64],
        reset_after: i64,
        expires_at: i64,
        attempt: i64,
    ) -> Result<OpResult, StoreError> {
        let reset_cut = now - reset_after;
        // A step whose attempt was released (refused after a store failure)
        // counts as no send: a new streak.
        let fresh = self
            .update(key)
            .condition_expression(
                "attribute_not_exists(last_at) OR last_at <= :reset_cut \
                 OR (attribute_exists(released) AND attempt = released)",
            )
            .update_expression("SET last_at = :now, #lv = :one, expires_at = :exp, attempt = :att")
            .expression_attribute_values(":att", n(attempt))
            .expression_attribute_names("#lv", "level")
            .expression_attribute_values(":reset_cut", n(reset_cut))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(expires_at))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();

        // The next step of a streak: one clause per ladder step.
        let last = ladder.len();
        let mut clauses = Vec::with_capacity(last);
        let mut streak = self
            .update(key)
            .update_expression("SET last_at = :now, expires_at = :exp, attempt = :att ADD #lv :one")
            .expression_attribute_values(":att", n(attempt))
            .expression_attribute_names("#lv", "level")
            .expression_attribute_values(":reset_cut", n(reset_cut))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(expires_at))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (i, cooldown) in ladder.iter().enumerate() {
            let k = i + 1;
            let level = if last == 1 {
                String::new()
            } else if k == 1 {
                "(attribute_not_exists(#lv) OR #lv <= :l1) AND ".to_string()
            } else if k == last {
                format!("#lv >= :l{k} AND ")
            } else {
                format!("#lv = :l{k} AND ")
            };
            clauses.push(format!("({level}last_at <= :c{k})"));
            streak = streak.expression_attribute_values(format!(":c{k}"), n(now - cooldown));
            if last > 1 {
                streak = streak.expression_attribute_values(
                    format!(":l{k}"),
                    n(i64::try_from(k).unwrap_or(i64::MAX)),
                );
            }
        }
        let streak = streak
            .condition_expression(format!(
                "attribute_exists(last_at) AND last_at > :reset_cut \
                 AND NOT (attribute_exists(released) AND attempt = released) AND ({})",
                clauses.join(" OR ")
            ))
            .send();

        let (fresh, streak) = futures_util::future::join(fresh, streak).await;
        let (fresh, streak) = (conditional(fresh)?, conditional(streak)?);
        match (fresh, streak) {
            (None, _) | (_, None) => Ok(OpResult::Cooldown {
                allowed: true,
                retry_after: 0,
            }),
            (Some(a), Some(b)) => {
                // Both saw a phone in cooldown. The fresh update fails only on
                // an item with a `last_at` past the reset cut, so its item has
                // a numeric `last_at`; the streak update may have run before
                // another request created the item, and then saw none. Any
                // other shape is an item this code did not write, which must
                // not block the phone for good: it is a store error, and
                // `on-store-error` decides.
                let state = |item: &Item| -> Result<Option<(i64, Option<i64>)>, StoreError> {
                    match whole(item, "last_at")? {
                        Some(last) => Ok(Some((last, whole(item, "level")?))),
                        None => Ok(None),
                    }
                };
                let fresh_state = state(&a)?.ok_or_else(|| {
                    StoreError::Data("cooldown item refused a new streak without last_at".into())
                })?;
                // Take the later state.
                let (last, level) = match state(&b)? {
                    Some(sb) if sb.0 > fresh_state.0 => sb,
                    _ => fresh_state,
                };
                let (_, retry, _) = cooldown_step(Some(last), level, now, ladder, reset_after);
                Ok(OpResult::Cooldown {
                    allowed: false,
                    retry_after: retry.max(1),
                })
            }
        }
    }
}

impl Store for DynamoStore {
    /// Each op runs as a task of its own: a decision that stops waiting (its
    /// `state.timeout-ms` passed) does not cancel the request, so a slow
    /// connection setup still completes and the connection is kept for the
    /// next decision, instead of being thrown away and restarted each time.
    async fn execute(&self, op: Op) -> Result<OpResult, StoreError> {
        let this = self.clone();
        match tokio::spawn(async move { this.run(op).await }).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Request("the store task ended early".into())),
        }
    }

    async fn sleep(&self, d: std::time::Duration) {
        tokio::time::sleep(d).await;
    }
}

impl DynamoStore {
    async fn run(&self, op: Op) -> Result<OpResult, StoreError> {
        match op {
            Op::Cooldown {
                key,
                now,
                ladder,
                reset_after,
                expires_at,
                attempt,
            } => {
                self.cooldown(&key, now, &ladder, reset_after, expires_at, attempt)
                    .await
            }
            Op::Release {
                key,
                attempt,
                expires_at,
            } => {
                self.update(&key)
                    .update_expression(
                        "SET released = :att, expires_at = if_not_exists(expires_at, :exp)",
                    )
                    .expression_attribute_values(":att", n(attempt))
                    .expression_attribute_values(":exp", n(expires_at))
                    .send()
                    .await
                    .map_err(request_error)?;
                Ok(OpResult::Done)
            }
            Op::Add {
                key,
                attr,
                amount,
                expires_at,
            } => {
                let out = self
                    .update(&key)
                    .update_expression("ADD #a :n SET expires_at = :exp")
                    .expression_attribute_names("#a", attr.clone())
                    .expression_attribute_values(":n", n(amount))
                    .expression_attribute_values(":exp", n(expires_at))
                    .return_values(ReturnValue::AllNew)
                    .send()
                    .await
                    .map_err(request_error)?;
                // The counter itself must read back as a whole number: a
                // counter past 2^63 (or a fraction) would otherwise read as 0.
                let item = out.attributes.unwrap_or_default();
                if whole(&item, &attr)?.is_none() {
                    return Err(StoreError::Data(format!("{attr} is missing after ADD")));
                }
                Ok(OpResult::Numbers(numbers(Some(&item))))
            }
            Op::AddMember {
                key,
                attr,
                member,
                expires_at,
            } => {
                let out = self
                    .update(&key)
                    .update_expression("ADD #a :m SET expires_at = :exp")
                    .expression_attribute_names("#a", attr.clone())
                    .expression_attribute_values(":m", AttributeValue::Ss(vec![member]))
                    .expression_attribute_values(":exp", n(expires_at))
                    .return_values(ReturnValue::AllNew)
                    .send()
                    .await
                    .map_err(request_error)?;
                match out.attributes.as_ref().and_then(|a| a.get(&*attr)) {
                    Some(AttributeValue::Ss(set)) => Ok(OpResult::SetSize(set.len() as u64)),
                    _ => Err(StoreError::Data(format!("{attr} is not a string set"))),
                }
            }
            Op::Read { keys } => {
                if keys.is_empty() {
                    return Ok(OpResult::Items(Vec::new()));
                }
                let mut request = KeysAndAttributes::builder();
                for k in &keys {
                    request = request.keys(HashMap::from([
                        ("pk".to_string(), s(k.pk())),
                        ("sk".to_string(), s(k.sk())),
                    ]));
                }
                let request = request
                    .build()
                    .map_err(|e| StoreError::Request(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(request_error)?;
                if out
                    .unprocessed_keys
                    .as_ref()
                    .is_some_and(|u| u.values().any(|k| !k.keys.is_empty()))
                {
                    return Err(StoreError::Request(
                        "BatchGetItem left keys unprocessed (throttled)".into(),
                    ));
                }
                let found: HashMap<ItemKey, Item> = out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|item| {
                        let pk = item.get("pk")?.as_s().ok()?;
                        let sk = item.get("sk")?.as_s().ok()?;
                        Some((ItemKey::new(pk, sk), item))
                    })
                    .collect();
                Ok(OpResult::Items(
                    keys.iter().map(|k| numbers(found.get(k))).collect(),
                ))
            }
            Op::MarkSent {
                key,
                now,
                expires_at,
            } => {
                self.update(&key)
                    .update_expression("SET last_at = :now, expires_at = :exp")
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":exp", n(expires_at))
                    .send()
                    .await
                    .map_err(request_error)?;
                Ok(OpResult::Done)
            }
            Op::Verify { key, now } => {
                let r = self
                    .update(&key)
                    .condition_expression(
                        "attribute_exists(last_at) AND \
                         (attribute_not_exists(verified_at) OR last_at > verified_at)",
                    )
                    .update_expression("SET verified_at = :now, #lv = :one")
                    .expression_attribute_names("#lv", "level")
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":one", n(1))
                    .send()
                    .await;
                Ok(OpResult::Verified(conditional(r)?.is_none()))
            }
            Op::AddIf {
                key,
                adds,
                below,
                set,
                expires_at,
            } => {
                let mut names = HashMap::new();
                let mut values = HashMap::from([(":exp".to_string(), n(expires_at))]);
                let mut add = Vec::new();
                let mut sets = vec!["expires_at = :exp".to_string()];
                let mut conditions = Vec::new();
                for (i, (attr, amount)) in adds.iter().enumerate() {
                    names.insert(format!("#a{i}"), attr.to_string());
                    values.insert(format!(":a{i}"), n(*amount));
                    add.push(format!("#a{i} :a{i}"));
                }
                for (i, (attr, value)) in set.iter().enumerate() {
                    names.insert(format!("#s{i}"), attr.to_string());
                    values.insert(format!(":s{i}"), n(*value));
                    sets.push(format!("#s{i} = :s{i}"));
                }
                for (i, (attr, bound)) in below.iter().enumerate() {
                    names.insert(format!("#b{i}"), attr.to_string());
                    values.insert(format!(":b{i}"), n(*bound));
                    conditions.push(format!("(attribute_not_exists(#b{i}) OR #b{i} < :b{i})"));
                }
                let mut expression = format!("SET {}", sets.join(", "));
                if !add.is_empty() {
                    expression.push_str(&format!(" ADD {}", add.join(", ")));
                }
                let mut request = self
                    .update(&key)
                    .update_expression(expression)
                    .set_expression_attribute_values(Some(values))
                    .return_values(ReturnValue::AllNew)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    );
                if !names.is_empty() {
                    request = request.set_expression_attribute_names(Some(names));
                }
                if !conditions.is_empty() {
                    request = request.condition_expression(conditions.join(" AND "));
                }
                let item = match request.send().await {
                    Ok(out) => out.attributes.unwrap_or_default(),
                    Err(e) => {
                        // Refused: the item as it was comes with the error.
                        let old = conditional(Err(e))?;
                        return Ok(OpResult::Admitted {
                            admitted: false,
                            numbers: numbers(old.as_ref()),
                        });
                    }
                };
                for (attr, _) in &adds {
                    if whole(&item, attr)?.is_none() {
                        return Err(StoreError::Data(format!("{attr} is missing after ADD")));
                    }
                }
                Ok(OpResult::Admitted {
                    admitted: true,
                    numbers: numbers(Some(&item)),
                })
            }
            Op::Confirm {
                key,
                now,
                user,
                kinds,
                sent_after,
                expires_at,
            } => {
                let mut values = HashMap::from([
                    (":now".to_string(), n(now)),
                    (":after".to_string(), n(sent_after)),
                    (":user".to_string(), n(user)),
                    (":zero".to_string(), n(0)),
                    (":one".to_string(), n(1)),
                    (":exp".to_string(), n(expires_at)),
                ]);
                let mut kind_refs = Vec::new();
                for (i, k) in kinds.iter().enumerate() {
                    values.insert(format!(":k{i}"), n(*k));
                    kind_refs.push(format!(":k{i}"));
                }
                if kind_refs.is_empty() {
                    return Ok(OpResult::Confirmed(None));
                }
                let r = self
                    .update(&key)
                    .condition_expression(format!(
                        "attribute_exists(sent_at) AND \
                         (attribute_not_exists(verified_at) OR sent_at > verified_at) AND \
                         sent_at >= :after AND sent_user = :user AND sent_kind IN ({})",
                        kind_refs.join(", ")
                    ))
                    .update_expression(
                        "SET verified_at = :now, last_verified = :now, \
                         first_verified = if_not_exists(first_verified, :now), \
                         unused = :zero, expires_at = :exp ADD vcount :one",
                    )
                    .set_expression_attribute_values(Some(values))
                    .return_values(ReturnValue::AllOld)
                    .send()
                    .await;
                match r {
                    Ok(out) => Ok(OpResult::Confirmed(Some(numbers(out.attributes.as_ref())))),
                    Err(e) => {
                        conditional(Err(e))?;
                        Ok(OpResult::Confirmed(None))
                    }
                }
            }
            Op::PutText {
                key,
                attr,
                text,
                expires_at,
            } => {
                self.update(&key)
                    .update_expression("SET #a = :t, expires_at = :exp")
                    .expression_attribute_names("#a", attr)
                    .expression_attribute_values(":t", s(&text))
                    .expression_attribute_values(":exp", n(expires_at))
                    .send()
                    .await
                    .map_err(request_error)?;
                Ok(OpResult::Done)
            }
            // Conditional, so that a take of nothing creates no item and, of
            // two concurrent takes, exactly one reads the text.
            Op::TakeText { key, attr } => {
                let r = self
                    .update(&key)
                    .condition_expression("attribute_exists(#a)")
                    .update_expression("REMOVE #a")
                    .expression_attribute_names("#a", attr.clone())
                    .return_values(ReturnValue::UpdatedOld)
                    .send()
                    .await;
                match r {
                    Ok(out) => match out.attributes.as_ref().and_then(|a| a.get(&*attr)) {
                        Some(AttributeValue::S(t)) => Ok(OpResult::Text(Some(t.clone()))),
                        _ => Err(StoreError::Data(format!("{attr} is not a string"))),
                    },
                    Err(e) => {
                        conditional(Err(e))?;
                        Ok(OpResult::Text(None))
                    }
                }
            }
            Op::RaiseTo {
                key,
                attr,
                value,
                expires_at,
            } => {
                let r = self
                    .update(&key)
                    .condition_expression("attribute_not_exists(#a) OR #a < :v")
                    .update_expression("SET #a = :v, expires_at = :exp")
                    .expression_attribute_names("#a", attr)
                    .expression_attribute_values(":v", n(value))
                    .expression_attribute_values(":exp", n(expires_at))
                    .send()
                    .await;
                conditional(r)?;
                Ok(OpResult::Done)
            }
        }
    }
}
