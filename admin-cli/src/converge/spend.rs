//! Monthly SMS spend limits, per region: the last line of defence when
//! pumping gets past every check, because sending stops at the limit. It is
//! unconfirmed which of the two caps Cognito's SMS count against (see
//! AWS-FACTS.md), so the policy can set both:
//!
//! - End User Messaging's `TEXT_MESSAGE_MONTHLY_SPEND_LIMIT`
//!   (`[spend] text-monthly-usd`), which cannot exceed the account's maximum
//!   without a quota increase;
//! - SNS's `MonthlySpendLimit` SMS attribute (`[spend] sns-monthly-usd`).
//!
//! A limit the policy leaves unset is left alone, and with
//! `text-monthly-usd` unset End User Messaging is not called at all.

use anyhow::anyhow;
use aws_sdk_pinpointsmsvoicev2::types::SpendLimitName;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::converge::{Clients, Desired};
use crate::plan::{Action, Change, FieldChange, Write};

/// The SNS SMS attribute holding the monthly limit (USD).
pub const SNS_ATTRIBUTE: &str = "MonthlySpendLimit";

/// `Change::resource` of End User Messaging's text-message limit.
pub const TEXT_RESOURCE: &str = "text-message-spend-limit";

/// `Change::resource` of SNS's limit.
pub const SNS_RESOURCE: &str = "sns-sms-spend-limit";

/// Order of spend changes: after the protect configuration.
pub const ORDER: u8 = 20;

/// The write calls of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendWrite {
    /// `SetTextMessageSpendLimitOverride` (End User Messaging).
    SetTextMonthlyLimit { usd: u64 },
    /// `SetSMSAttributes {MonthlySpendLimit}` (SNS).
    SetSnsMonthlyLimit { usd: u64 },
}

/// End User Messaging's text-message monthly spend limit (USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendStatus {
    /// The limit in force.
    pub enforced_usd: i64,
    /// The most the account may set without a quota increase.
    pub max_usd: i64,
    /// Whether `enforced_usd` is an override rather than the default.
    pub overridden: bool,
}

/// What the read calls found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// The text-message limit; `None` when the policy sets no
    /// `text-monthly-usd` (End User Messaging was not called) or when
    /// End User Messaging reported none.
    pub text: Option<SpendStatus>,
    /// Whether End User Messaging was read.
    pub text_read: bool,
    /// SNS's `MonthlySpendLimit` attribute as SNS returns it (a string of
    /// whole dollars); `None` when unset (SNS then applies its default).
    pub sns_monthly_usd: Option<String>,
    /// With `sns-monthly-usd` unset, a failure to read SNS is not an error:
    /// it is kept here for `status`.
    pub sns_unreadable: Option<String>,
}

fn sdk_err(e: impl std::error::Error) -> String {
    DisplayErrorContext(e).to_string()
}

pub async fn read(c: &Clients, d: &Desired<'_>) -> anyhow::Result<Observed> {
    let spend = &d.policy.spend;
    let mut o = Observed::default();
    if spend.text_monthly_usd.is_some() {
        o.text_read = true;
        let mut token: Option<String> = None;
        loop {
            let page = c
                .eum
                .describe_spend_limits()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot read the End User Messaging spend limits in {}: {}; check that \
                         the credentials allow sms-voice:DescribeSpendLimits in this region (or \
                         remove spend.text-monthly-usd from the policy)",
                        c.region,
                        sdk_err(e)
                    )
                })?;
            if let Some(l) = page
                .spend_limits()
                .iter()
                .find(|l| *l.name() == SpendLimitName::TextMessageMonthlySpendLimit)
            {
                o.text = Some(SpendStatus {
                    enforced_usd: l.enforced_limit(),
                    max_usd: l.max_limit(),
                    overridden: l.overridden(),
                });
            }
            match page.next_token() {
                Some(t) if o.text.is_none() && !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
    }
    let sns = c
        .sns
        .get_sms_attributes()
        .attributes(SNS_ATTRIBUTE)
        .send()
        .await;
    match sns {
        Ok(out) => {
            o.sns_monthly_usd = out
                .attributes()
                .and_then(|a| a.get(SNS_ATTRIBUTE))
                .filter(|v| !v.is_empty())
                .cloned();
        }
        Err(e) => {
            let msg = format!(
                "cannot read the SNS SMS attribute {SNS_ATTRIBUTE} in {}: {}; check that the \
                 credentials allow sns:GetSMSAttributes in this region",
                c.region,
                sdk_err(e)
            );
            if spend.sns_monthly_usd.is_some() {
                return Err(anyhow!(msg));
            }
            o.sns_unreadable = Some(msg);
        }
    }
    Ok(o)
}

pub fn plan(d: &Desired<'_>, o: &Observed) -> (Vec<Change>, Vec<String>) {
    let spend = &d.policy.spend;
    let mut changes = Vec::new();
    let mut warnings = Vec::new();

    if let Some(want) = spend.text_monthly_usd {
        match &o.text {
            None => warnings.push(
                "End User Messaging reported no TEXT_MESSAGE_MONTHLY_SPEND_LIMIT; \
                 spend.text-monthly-usd is not applied. Check the account's SMS settings in \
                 the End User Messaging console"
                    .to_string(),
            ),
            Some(s) => {
                let want_i = i64::try_from(want).unwrap_or(i64::MAX);
                if want_i > s.max_usd {
                    warnings.push(format!(
                        "spend.text-monthly-usd = {want} exceeds this account's End User \
                         Messaging maximum of {} USD; the limit stays at {} USD. Request a \
                         spend quota increase (End User Messaging SMS console, or AWS Support) \
                         or lower spend.text-monthly-usd, then run `pumpguard plan` again",
                        s.max_usd, s.enforced_usd
                    ));
                } else if want_i != s.enforced_usd {
                    let from = if s.overridden {
                        format!("{}", s.enforced_usd)
                    } else {
                        format!("{} (default)", s.enforced_usd)
                    };
                    changes.push(Change {
                        resource: TEXT_RESOURCE.into(),
                        name: "TEXT_MESSAGE_MONTHLY_SPEND_LIMIT".into(),
                        action: Action::Update,
                        fields: vec![FieldChange::new(
                            "monthly USD",
                            Some(from),
                            Some(want.to_string()),
                        )],
                        order: ORDER,
                        writes: vec![Write::Spend(SpendWrite::SetTextMonthlyLimit { usd: want })],
                    });
                }
            }
        }
    }

    if let Some(want) = spend.sns_monthly_usd {
        let current = o.sns_monthly_usd.as_deref();
        let same = current.and_then(parse_usd) == Some(want);
        if !same {
            changes.push(Change {
                resource: SNS_RESOURCE.into(),
                name: SNS_ATTRIBUTE.into(),
                action: Action::Update,
                fields: vec![FieldChange::new(
                    "monthly USD",
                    Some(current.unwrap_or("(unset)").to_string()),
                    Some(want.to_string()),
                )],
                order: ORDER,
                writes: vec![Write::Spend(SpendWrite::SetSnsMonthlyLimit { usd: want })],
            });
        }
    }
    (changes, warnings)
}

/// SNS returns the limit as a string of whole dollars ("10"); "10.0" is read
/// as 10 too, anything else as not matching.
fn parse_usd(s: &str) -> Option<u64> {
    let s = s.trim();
    s.parse::<u64>().ok().or_else(|| {
        let (whole, frac) = s.split_once('.')?;
        if frac.chars().all(|c| c == '0') {
            whole.parse::<u64>().ok()
        } else {
            None
        }
    })
}

pub async fn apply(c: &Clients, w: &SpendWrite) -> anyhow::Result<()> {
    match w {
        SpendWrite::SetTextMonthlyLimit { usd } => {
            let limit = i64::try_from(*usd)
                .map_err(|_| anyhow!("spend.text-monthly-usd = {usd} is too large"))?;
            c.eum
                .set_text_message_spend_limit_override()
                .monthly_limit(limit)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot set the End User Messaging text-message spend limit to {usd} USD \
                         in {}: {}; check that the credentials allow \
                         sms-voice:SetTextMessageSpendLimitOverride and that {usd} is within \
                         the account's maximum (request a quota increase otherwise), then run \
                         `pumpguard plan` again",
                        c.region,
                        sdk_err(e)
                    )
                })?;
            Ok(())
        }
        SpendWrite::SetSnsMonthlyLimit { usd } => {
            c.sns
                .set_sms_attributes()
                .attributes(SNS_ATTRIBUTE, usd.to_string())
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot set the SNS SMS {SNS_ATTRIBUTE} to {usd} USD in {}: {}; check \
                         that the credentials allow sns:SetSMSAttributes, and note that SNS \
                         refuses a limit above the account's SNS SMS spend quota (1 USD for new \
                         accounts): request an increase in the Service Quotas console or lower \
                         spend.sns-monthly-usd, then run `pumpguard plan` again",
                        c.region,
                        sdk_err(e)
                    )
                })?;
            Ok(())
        }
    }
}
