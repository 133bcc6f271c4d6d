//! `pumpguard import`: replay input from the SMS delivery records a pool
//! already has, for `pumpguard replay`.
//!
//! - `sns-delivery-logs`: Amazon SNS SMS delivery status logs, one JSON
//!   object per SMS (`notification.timestamp`, `delivery.destination`,
//!   `delivery.priceInUSD`, `status`), in the log groups
//!   `sns/<region>/<account>/DirectPublishToPhoneNumber` and
//!   `…/DirectPublishToPhoneNumber/Failure`.
//! - `eum-events`: End User Messaging event destination events (`TEXT_*`,
//!   several per message: the first of each `messageId` is kept).
//! - `trigger-logs`: the trigger's own log lines, written with `[trigger]
//!   record = true`: each decision and verification line's `record`, already
//!   hashed, put in time order across the function's log streams.
//!
//! Either is read from CloudWatch Logs (`FilterLogEvents` over a time range)
//! or from exported files. Numbers are hashed into records
//! ([`pumpguard_engine::features::Record`]) before anything is written,
//! unless raw events are asked for on purpose.
//!
//! A delivery record says neither which flow sent the code nor whether it
//! was used. Without the pool's users every SMS is taken as a sign-up code
//! that was never used. With them (`ListUsers`), what is approximated is
//! said in the output ([`Approximated`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use pumpguard_engine::features::{Depths, Features, Record, RECORD_VERSION};
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::Policy;
use serde::{Deserialize as _, Serialize};
use serde_json::{json, Value};

/// Which delivery records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SnsDeliveryLogs,
    EumEvents,
    TriggerLogs,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::SnsDeliveryLogs => "sns-delivery-logs",
            Kind::EumEvents => "eum-events",
            Kind::TriggerLogs => "trigger-logs",
        }
    }
}

/// One item read: an SMS of a delivery record, or a record of the trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Sms(Sent),
    /// A trigger log line's record: its time (Unix seconds), when the line
    /// was logged (Unix microseconds, when known: it orders the records of
    /// one second) and the record as one line of JSON.
    Record {
        at: i64,
        logged: Option<i64>,
        /// The log event's id, when it came from one: an event read twice
        /// is written once.
        id: Option<String>,
        line: String,
    },
}

/// What a CloudWatch Logs event says of the line it holds, when the line
/// came in one: its time (Unix milliseconds) and id.
#[derive(Debug, Clone, Copy, Default)]
struct LogEvent<'a> {
    ms: Option<i64>,
    id: Option<&'a str>,
}

impl<'a> LogEvent<'a> {
    /// The fields of a log event as `filter-log-events` exports it.
    fn of(v: &'a Value) -> Self {
        Self {
            ms: v.get("timestamp").and_then(Value::as_i64),
            id: v.get("eventId").and_then(Value::as_str),
        }
    }
}

/// When a log line was written, in Unix microseconds: the trigger's own
/// `timestamp` (RFC 3339), else the log event's.
fn logged_at(line: &Value, event: LogEvent<'_>) -> Option<i64> {
    let own = line
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1000).ok());
    own.or_else(|| event.ms.map(|ms| ms.saturating_mul(1000)))
}

/// One SMS as a delivery record shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Unix milliseconds: when the SMS was asked for.
    pub at_ms: i64,
    /// The destination, as the record has it.
    pub phone: String,
    /// The provider's message id, to drop the further events of a message.
    pub message_id: Option<String>,
}

/// Why a record was not read (never quoting it: it holds a number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    /// Not a delivery record of this kind (another event type, another log).
    NotSms,
    Malformed(&'static str),
}

fn sns_time(text: &str) -> Option<i64> {
    // "2016-06-28 00:40:34.558", UTC.
    let fmt = time::format_description::parse_borrowed::<2>(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]",
    )
    .ok()?;
    let t = time::PrimitiveDateTime::parse(text, &fmt).ok()?;
    Some(i64::try_from(t.assume_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
}

/// Reads one SNS SMS delivery status log message.
pub fn parse_sns(v: &Value) -> Result<Sent, Unread> {
    let delivery = v.get("delivery").ok_or(Unread::NotSms)?;
    let phone = delivery
        .get("destination")
        .and_then(Value::as_str)
        .ok_or(Unread::Malformed("delivery.destination is missing"))?;
    let at_ms = v
        .pointer("/notification/timestamp")
        .and_then(Value::as_str)
        .and_then(sns_time)
        .ok_or(Unread::Malformed(
            "notification.timestamp is not \"YYYY-MM-DD hh:mm:ss.sss\"",
        ))?;
    Ok(Sent {
        at_ms,
        phone: phone.to_string(),
        message_id: v
            .pointer("/notification/messageId")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Reads one End User Messaging event (`TEXT_*`; other events are not SMS).
pub fn parse_eum(v: &Value) -> Result<Sent, Unread> {
    let kind = v
        .get("eventType")
        .and_then(Value::as_str)
        .ok_or(Unread::NotSms)?;
    if !kind.starts_with("TEXT_") {
        return Err(Unread::NotSms);
    }
    let phone = v
        .get("destinationPhoneNumber")
        .and_then(Value::as_str)
        .ok_or(Unread::Malformed("destinationPhoneNumber is missing"))?;
    let at_ms = v
        .get("messageRequestTimestamp")
        .or_else(|| v.get("eventTimestamp"))
        .and_then(Value::as_i64)
        .ok_or(Unread::Malformed(
            "messageRequestTimestamp (Unix milliseconds) is missing",
        ))?;
    Ok(Sent {
        at_ms,
        phone: phone.to_string(),
        message_id: v
            .get("messageId")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Reads one record of `kind`: the object itself, or a log event whose
/// `message` holds it (as `FilterLogEvents` and its CLI return them).
pub fn parse(kind: Kind, v: &Value) -> Result<Sent, Unread> {
    if let Some(message) = v.get("message").and_then(Value::as_str) {
        let inner: Value =
            serde_json::from_str(message).map_err(|_| Unread::Malformed("message is not JSON"))?;
        return parse(kind, &inner);
    }
    match kind {
        Kind::SnsDeliveryLogs => parse_sns(v),
        Kind::EumEvents => parse_eum(v),
        // A record is no SMS of a delivery record: see parse_trigger_line.
        Kind::TriggerLogs => Err(Unread::NotSms),
    }
}

/// Reads the record a trigger log line carries in its `record` field (or a
/// log event whose `message` is such a line, or a bare record). A log line
/// without one (a pass-through, the configuration line) is not a record.
pub fn parse_trigger_line(v: &Value) -> Result<Item, Unread> {
    trigger_line(v, LogEvent::default())
}

fn trigger_line(v: &Value, event: LogEvent<'_>) -> Result<Item, Unread> {
    // A log event whose message is the line. (The trigger's own lines have a
    // `message` too, the event's name: they carry the record beside it.)
    if v.get("record").is_none() {
        if let Some(message) = v.get("message").and_then(Value::as_str) {
            // Lambda's own lines (START, END, REPORT) are text.
            let inner: Value = serde_json::from_str(message).map_err(|_| Unread::NotSms)?;
            return trigger_line(&inner, LogEvent::of(v));
        }
    }
    let record: Record = match v.get("record") {
        Some(Value::String(text)) => serde_json::from_str(text)
            .map_err(|_| Unread::Malformed("a record field that does not parse as a record"))?,
        Some(_) => return Err(Unread::Malformed("a record field that is not a string")),
        None if v.get("v").is_some() && v.get("number").is_some() => {
            Record::deserialize(v).map_err(|_| Unread::Malformed("a record that does not parse"))?
        }
        None => return Err(Unread::NotSms),
    };
    if record.v != RECORD_VERSION {
        return Err(Unread::Malformed(
            "a record of a version this build does not read",
        ));
    }
    Ok(Item::Record {
        at: record.at,
        logged: logged_at(v, event),
        id: event.id.map(str::to_string),
        line: record.to_json(),
    })
}

/// Reads one item of `kind` (see [`parse`] and [`parse_trigger_line`]).
pub fn parse_item(kind: Kind, v: &Value) -> Result<Item, Unread> {
    match kind {
        Kind::TriggerLogs => parse_trigger_line(v),
        _ => parse(kind, v).map(Item::Sms),
    }
}

/// Reads one log message or line of text into `out`, counting what is not
/// read. `event`: the log event it came in, if any.
fn read_text(kind: Kind, text: &str, event: LogEvent<'_>, out: &mut Vec<Item>, tally: &mut Tally) {
    match serde_json::from_str::<Value>(text) {
        Ok(v) if kind == Kind::TriggerLogs => match trigger_line(&v, event) {
            Ok(i) => out.push(i),
            Err(e) => tally.unread(e),
        },
        Ok(v) => read_value(kind, &v, out, tally),
        // A function's log group holds Lambda's text lines beside the
        // trigger's JSON ones.
        Err(_) if kind == Kind::TriggerLogs => tally.not_sms += 1,
        Err(_) => {
            tally.malformed += 1;
            tally.first_problem.get_or_insert("a line is not JSON");
        }
    }
}

fn read_value(kind: Kind, v: &Value, out: &mut Vec<Item>, tally: &mut Tally) {
    match parse_item(kind, v) {
        Ok(i) => out.push(i),
        Err(e) => tally.unread(e),
    }
}

/// The items of an exported file: JSON lines, or one JSON document with
/// an `events` array (`aws logs filter-log-events` output).
pub fn read_file(kind: Kind, text: &str, tally: &mut Tally) -> Vec<Item> {
    let mut out = Vec::new();
    if let Ok(doc) = serde_json::from_str::<Value>(text) {
        if let Some(events) = doc.get("events").and_then(Value::as_array) {
            for e in events {
                read_value(kind, e, &mut out, tally);
            }
            return out;
        }
    }
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        read_text(kind, line, LogEvent::default(), &mut out, tally);
    }
    out
}

/// The trigger's records in time order: by `at`, then by when each line
/// was logged (the instances' streams interleave within a second), then in
/// the order they were read. A log event read twice (exported twice, or
/// read from a file and a log group both) is written once; lines without
/// an event id are all kept, as a duplicate delivery logs two lines.
pub fn records_in_order(items: Vec<Item>, tally: &mut Tally) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut records: Vec<(i64, i64, String)> = items
        .into_iter()
        .filter_map(|i| match i {
            Item::Record {
                at,
                logged,
                id,
                line,
            } => {
                if let Some(id) = id {
                    if !seen.insert(id) {
                        tally.duplicates += 1;
                        return None;
                    }
                }
                Some((at, logged.unwrap_or(i64::MIN), line))
            }
            Item::Sms(_) => None,
        })
        .collect();
    tally.read = records.len() as u64;
    records.sort_by_key(|(at, logged, _)| (*at, *logged));
    records.into_iter().map(|(_, _, line)| line).collect()
}

/// What was read.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    pub read: u64,
    pub duplicates: u64,
    pub not_sms: u64,
    pub malformed: u64,
    #[serde(skip)]
    pub first_problem: Option<&'static str>,
}

impl Tally {
    fn unread(&mut self, why: Unread) {
        match why {
            Unread::NotSms => self.not_sms += 1,
            Unread::Malformed(why) => {
                self.malformed += 1;
                self.first_problem.get_or_insert(why);
            }
        }
    }
}

/// A pool user, as `ListUsers` shows it.
#[derive(Debug, Clone)]
pub struct PoolUser {
    /// `sub`, else the username: the id the trigger hashes.
    pub id: String,
    pub phone: String,
    pub phone_verified: bool,
    /// Unix seconds.
    pub created: i64,
    pub modified: i64,
}

/// A code sent within this long of its user's creation is a sign-up code.
pub const SIGN_UP_WINDOW_SECS: i64 = 3_600;
/// Where an approximated completion is placed after its code.
const CONFIRM_AFTER_SECS: i64 = 60;
const SIGN_IN_AFTER_SECS: i64 = 30;

/// What the output approximates, to be said to the user.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Approximated {
    pub users: bool,
    pub sign_up_codes: u64,
    pub resent_codes: u64,
    pub sign_in_codes: u64,
    pub without_user: u64,
    pub confirmations: u64,
    pub sign_ins: u64,
}

impl Approximated {
    /// The lines that say what is approximated.
    pub fn notes(&self) -> Vec<String> {
        if !self.users {
            return vec![
                "every SMS is taken as a sign-up code (the delivery records do not say the flow)"
                    .into(),
                "no code is taken as used: the records carry no verification, so the guards that \
                 learn from used codes (known numbers, cohort conversion) see none and are \
                 stricter than in production; --user-pool reads them from Cognito"
                    .into(),
            ];
        }
        vec![
            format!(
                "sources, from the pool's users: {} sign-up codes (the first SMS within {} min of \
                 its user's creation), {} resent codes (later ones in that window), {} sign-in \
                 codes (MFA or reset, to an older user), {} to a number no user has now (taken \
                 as sign-up codes)",
                self.sign_up_codes,
                SIGN_UP_WINDOW_SECS / 60,
                self.resent_codes,
                self.sign_in_codes,
                self.without_user
            ),
            format!(
                "verification, from phone_number_verified: {} confirmations placed {} s after the \
                 first sign-up code of a user whose phone is verified now; {} sign-ins placed {} \
                 s after each sign-in code to a verified phone (every such code is taken as \
                 used); codes of unverified users are taken as unused",
                self.confirmations, CONFIRM_AFTER_SECS, self.sign_ins, SIGN_IN_AFTER_SECS
            ),
        ]
    }
}

/// One line of output, before it is written.
enum Out {
    Sms {
        source: &'static str,
        user: Option<usize>,
    },
    Completion {
        source: &'static str,
        user: usize,
    },
}

/// How the output is written.
#[derive(Debug)]
pub enum Writing<'a> {
    /// Records, numbers and users hashed under `keys`, with the prefix
    /// depths `policy` names.
    Records {
        keys: &'a PhoneHasher,
        policy: &'a Policy,
    },
    /// Raw Cognito events with the numbers in clear (asked for on purpose).
    Raw { pool_id: &'a str, region: &'a str },
}

/// Turns delivery records into replay input lines in time order.
pub fn build(
    mut sent: Vec<Sent>,
    users: Option<&[PoolUser]>,
    writing: &Writing<'_>,
    tally: &mut Tally,
) -> (Vec<String>, Approximated) {
    let mut seen = HashSet::new();
    sent.retain(|s| match &s.message_id {
        Some(id) => {
            let first = seen.insert(id.clone());
            if !first {
                tally.duplicates += 1;
            }
            first
        }
        None => true,
    });
    tally.read = sent.len() as u64;
    sent.sort_by_key(|s| s.at_ms);
    let mut approx = Approximated {
        users: users.is_some(),
        ..Approximated::default()
    };
    let by_phone: HashMap<String, Vec<usize>> = users.map_or_else(HashMap::new, |list| {
        let mut m: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, u) in list.iter().enumerate() {
            if let Ok(e164) = pumpguard_engine::phone::normalise(&u.phone) {
                m.entry(e164).or_default().push(i);
            }
        }
        m
    });
    // (time, order, phone index, line)
    let mut lines: Vec<(i64, u8, usize, Out)> = Vec::new();
    let mut first_code: HashSet<usize> = HashSet::new();
    for (i, s) in sent.iter().enumerate() {
        let at = s.at_ms.div_euclid(1000);
        // The newest user with this number created by then (a minute's slack).
        let user = users.and_then(|list| {
            let e164 = pumpguard_engine::phone::normalise(&s.phone).ok()?;
            by_phone
                .get(&e164)?
                .iter()
                .copied()
                .filter(|u| list[*u].created <= at + 60)
                .max_by_key(|u| list[*u].created)
                .map(|u| (list, u))
        });
        let Some((list, u)) = user else {
            if users.is_some() {
                approx.without_user += 1;
            }
            let source = "CustomMessage_SignUp";
            lines.push((at, 0, i, Out::Sms { source, user: None }));
            continue;
        };
        let pu = &list[u];
        if at - pu.created <= SIGN_UP_WINDOW_SECS {
            if first_code.insert(u) {
                approx.sign_up_codes += 1;
                lines.push((
                    at,
                    0,
                    i,
                    Out::Sms {
                        source: "CustomMessage_SignUp",
                        user: Some(u),
                    },
                ));
                if pu.phone_verified {
                    approx.confirmations += 1;
                    let when = (at + CONFIRM_AFTER_SECS).min(pu.modified.max(at));
                    lines.push((
                        when,
                        1,
                        i,
                        Out::Completion {
                            source: "PostConfirmation_ConfirmSignUp",
                            user: u,
                        },
                    ));
                }
            } else {
                approx.resent_codes += 1;
                lines.push((
                    at,
                    0,
                    i,
                    Out::Sms {
                        source: "CustomMessage_ResendCode",
                        user: Some(u),
                    },
                ));
            }
        } else {
            approx.sign_in_codes += 1;
            lines.push((
                at,
                0,
                i,
                Out::Sms {
                    source: "CustomMessage_Authentication",
                    user: Some(u),
                },
            ));
            if pu.phone_verified {
                approx.sign_ins += 1;
                lines.push((
                    at + SIGN_IN_AFTER_SECS,
                    1,
                    i,
                    Out::Completion {
                        source: "PostAuthentication_Authentication",
                        user: u,
                    },
                ));
            }
        }
    }
    lines.sort_by_key(|(at, order, i, _)| (*at, *order, *i));
    let depths = match writing {
        Writing::Records { policy, .. } => Depths::named(policy),
        Writing::Raw { .. } => Depths::default(),
    };
    let text = lines
        .into_iter()
        .map(|(at, _, i, out)| {
            let (source, user, verified) = match out {
                Out::Sms { source, user } => (source, user, false),
                Out::Completion { source, user } => (source, Some(user), true),
            };
            let user = user.and_then(|u| users.map(|l| &l[u]));
            let phone = &sent[i].phone;
            match writing {
                Writing::Records { keys, policy } => Record {
                    v: RECORD_VERSION,
                    at,
                    source: source.to_string(),
                    user: user.map(|u| keys.hash_text(&u.id)),
                    verified,
                    number: Features::of(phone, policy, Some((keys, &depths))),
                }
                .to_json(),
                Writing::Raw { pool_id, region } => {
                    raw_event(at, source, phone, user, verified, pool_id, region).to_string()
                }
            }
        })
        .collect();
    (text, approx)
}

fn raw_event(
    at: i64,
    source: &str,
    phone: &str,
    user: Option<&PoolUser>,
    verified: bool,
    pool_id: &str,
    region: &str,
) -> Value {
    let when = time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let mut attrs = BTreeMap::new();
    attrs.insert("phone_number", json!(phone));
    attrs.insert(
        "phone_number_verified",
        json!(if verified { "true" } else { "false" }),
    );
    if let Some(u) = user {
        attrs.insert("sub", json!(u.id));
    }
    let mut request = json!({ "userAttributes": attrs });
    if source.starts_with("CustomMessage_") {
        request["codeParameter"] = json!("{####}");
        request["usernameParameter"] = Value::Null;
        request["clientMetadata"] = json!({});
    }
    json!({
        "at": when,
        "event": {
            "version": "1",
            "region": region,
            "userPoolId": pool_id,
            // No user known: none, as the records have none (a shared
            // placeholder would put every SMS on one user's limits).
            "userName": user.map(|u| u.id.as_str()),
            "callerContext": { "awsSdkVersion": "pumpguard-import", "clientId": "pumpguard-import" },
            "triggerSource": source,
            "request": request,
            "response": {}
        }
    })
}

/// Reads every log event of `group` between `start_ms` and `end_ms` (Unix
/// milliseconds) with `FilterLogEvents`, page by page.
pub async fn read_log_group(
    client: &aws_sdk_cloudwatchlogs::Client,
    kind: Kind,
    group: &str,
    start_ms: i64,
    end_ms: i64,
    tally: &mut Tally,
) -> anyhow::Result<Vec<Item>> {
    use anyhow::Context as _;
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .end_time(end_ms)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(aws_sdk_cloudwatchlogs::Error::from)
            .with_context(|| {
                format!(
                    "cannot read log group {group} (FilterLogEvents; the caller needs \
                     logs:FilterLogEvents on it, and the group must exist in this region)"
                )
            })?;
        for e in page.events() {
            let Some(message) = e.message() else { continue };
            let event = LogEvent {
                ms: e.timestamp(),
                id: e.event_id(),
            };
            read_text(kind, message, event, &mut out, tally);
        }
        match page.next_token() {
            // The API may repeat the token it was given when nothing is left.
            Some(t) if Some(t) != token.as_deref() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

/// The users of `pool_id` that have a phone number (`ListUsers`, every page).
pub async fn read_users(
    client: &aws_sdk_cognitoidentityprovider::Client,
    pool_id: &str,
) -> anyhow::Result<Vec<PoolUser>> {
    use anyhow::Context as _;
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_users()
            .user_pool_id(pool_id)
            .set_pagination_token(token.clone())
            .send()
            .await
            .map_err(aws_sdk_cognitoidentityprovider::Error::from)
            .with_context(|| {
                format!("cannot list the users of {pool_id} (ListUsers; the caller needs cognito-idp:ListUsers on the pool)")
            })?;
        for u in page.users() {
            let attr = |name: &str| {
                u.attributes()
                    .iter()
                    .find(|a| a.name() == name)
                    .and_then(|a| a.value())
            };
            let Some(phone) = attr("phone_number") else {
                continue;
            };
            let id = attr("sub").or(u.username()).unwrap_or_default().to_string();
            out.push(PoolUser {
                id,
                phone: phone.to_string(),
                phone_verified: attr("phone_number_verified") == Some("true"),
                created: u.user_create_date().map_or(0, |d| d.secs()),
                modified: u.user_last_modified_date().map_or(0, |d| d.secs()),
            });
        }
        match page.pagination_token() {
            Some(t) if Some(t) != token.as_deref() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sns(ts: &str, phone: &str, id: &str) -> Value {
        json!({
            "notification": { "messageId": id, "timestamp": ts },
            "delivery": { "destination": phone, "priceInUSD": 0.00645, "smsType": "Transactional",
                          "numberOfMessageParts": 1, "mcc": 310, "mnc": 270 },
            "status": "SUCCESS"
        })
    }

    #[test]
    fn sns_and_eum_records_are_read() {
        let s = parse(
            Kind::SnsDeliveryLogs,
            &sns("2026-11-02 10:00:01.250", "+14155552671", "m1"),
        )
        .expect("reads");
        assert_eq!(s.at_ms, 1_793_613_601_250);
        assert_eq!(s.phone, "+14155552671");
        let wrapped = json!({ "message": sns("2026-11-02 10:00:01.250", "+1", "m").to_string() });
        assert!(parse(Kind::SnsDeliveryLogs, &wrapped).is_ok());
        let e = json!({ "eventType": "TEXT_DELIVERED", "eventTimestamp": 2, "messageRequestTimestamp": 1,
                        "destinationPhoneNumber": "+447700900123", "isoCountryCode": "GB", "messageId": "x" });
        assert_eq!(parse(Kind::EumEvents, &e).map(|s| s.at_ms), Ok(1));
        let voice = json!({ "eventType": "VOICE_COMPLETED", "destinationPhoneNumber": "+1" });
        assert_eq!(parse(Kind::EumEvents, &voice), Err(Unread::NotSms));
        let bad = json!({ "delivery": { "destination": "+1" }, "notification": { "timestamp": "yesterday" } });
        assert!(matches!(
            parse(Kind::SnsDeliveryLogs, &bad),
            Err(Unread::Malformed(_))
        ));
    }

    #[test]
    fn users_give_sources_and_completions() {
        let p = Policy::parse(
            "[countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n",
            "t",
        )
        .expect("valid");
        let keys = PhoneHasher::new(b"0123456789abcdef").expect("key");
        let t0 = 1_793_613_600;
        let users = [PoolUser {
            id: "sub-1".into(),
            phone: "+14155552671".into(),
            phone_verified: true,
            created: t0,
            modified: t0 + 90,
        }];
        let at = |secs: i64, id: &str| Sent {
            at_ms: (t0 + secs) * 1000,
            phone: "+14155552671".into(),
            message_id: Some(id.into()),
        };
        let sent = vec![at(5, "a"), at(5, "a"), at(40, "b"), at(86_400, "c")];
        let mut tally = Tally::default();
        let (lines, approx) = build(
            sent,
            Some(&users),
            &Writing::Records {
                keys: &keys,
                policy: &p,
            },
            &mut tally,
        );
        assert_eq!(tally.duplicates, 1);
        let sources: Vec<String> = lines
            .iter()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("json")["source"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(
            sources,
            [
                "CustomMessage_SignUp",
                "CustomMessage_ResendCode",
                "PostConfirmation_ConfirmSignUp",
                "CustomMessage_Authentication",
                "PostAuthentication_Authentication"
            ]
        );
        assert_eq!(
            (
                approx.sign_up_codes,
                approx.resent_codes,
                approx.sign_in_codes
            ),
            (1, 1, 1)
        );
        for l in &lines {
            assert!(!l.contains("4155552671") && !l.contains("sub-1"), "{l}");
        }
    }

    #[test]
    fn trigger_lines_give_their_records_in_time_order() {
        let record = |at: i64, phone: &str| {
            Record {
                v: RECORD_VERSION,
                at,
                source: "CustomMessage_SignUp".into(),
                user: None,
                verified: false,
                number: Features::of(phone, &Policy::example(), None),
            }
            .to_json()
        };
        let line = |at: i64, logged: &str, phone: &str| {
            json!({ "timestamp": logged, "level": "INFO", "message": "decision", "record": record(at, phone) }).to_string()
        };
        // Two instances' streams, one after the other: b's first line was
        // logged before a's second within the same second.
        let text = [
            "START RequestId: 1 Version: $LATEST".to_string(),
            line(20, "1970-01-01T00:00:20.500Z", "+14155550001"),
            line(20, "1970-01-01T00:00:20.900Z", "+14155550002"),
            json!({ "timestamp": "1970-01-01T00:00:21Z", "level": "INFO", "message": "pass" })
                .to_string(),
            line(10, "1970-01-01T00:00:10.000Z", "+14155550003"),
            line(20, "1970-01-01T00:00:20.700Z", "+14155550004"),
            json!({ "record": "{\"v\": 99}" }).to_string(),
        ]
        .join("\n");
        let mut tally = Tally::default();
        let items = read_file(Kind::TriggerLogs, &text, &mut tally);
        assert_eq!((tally.not_sms, tally.malformed), (2, 1));
        let lines = records_in_order(items, &mut tally);
        let expected: Vec<String> = [(10, "3"), (20, "1"), (20, "4"), (20, "2")]
            .iter()
            .map(|(at, n)| record(*at, &format!("+1415555000{n}")))
            .collect();
        assert_eq!(lines, expected);

        // The same log event read twice (by id) is written once.
        let event = json!({ "eventId": "e1", "timestamp": 20_000, "message": line(20, "", "+14155550001") });
        let doc = json!({ "events": [event.clone(), event] }).to_string();
        let mut tally = Tally::default();
        let items = read_file(Kind::TriggerLogs, &doc, &mut tally);
        assert_eq!(records_in_order(items, &mut tally).len(), 1);
        assert_eq!(tally.duplicates, 1);
    }
}
