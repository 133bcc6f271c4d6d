//! The Cognito CustomMessage trigger sources.
//!
//! The engine keeps its own copy of the seven names so that it needs no Lambda
//! types; the adapter maps the event's `triggerSource` string onto it.

use std::fmt;

use serde::Serialize;

/// One of the seven CustomMessage trigger sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum TriggerSource {
    #[serde(rename = "CustomMessage_SignUp")]
    SignUp,
    #[serde(rename = "CustomMessage_AdminCreateUser")]
    AdminCreateUser,
    #[serde(rename = "CustomMessage_ResendCode")]
    ResendCode,
    #[serde(rename = "CustomMessage_ForgotPassword")]
    ForgotPassword,
    #[serde(rename = "CustomMessage_UpdateUserAttribute")]
    UpdateUserAttribute,
    #[serde(rename = "CustomMessage_VerifyUserAttribute")]
    VerifyUserAttribute,
    #[serde(rename = "CustomMessage_Authentication")]
    Authentication,
}

impl TriggerSource {
    /// All seven, in Cognito's documentation order.
    pub const ALL: [TriggerSource; 7] = [
        Self::SignUp,
        Self::AdminCreateUser,
        Self::ResendCode,
        Self::ForgotPassword,
        Self::UpdateUserAttribute,
        Self::VerifyUserAttribute,
        Self::Authentication,
    ];

    /// The `triggerSource` string Cognito sends.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "CustomMessage_SignUp",
            Self::AdminCreateUser => "CustomMessage_AdminCreateUser",
            Self::ResendCode => "CustomMessage_ResendCode",
            Self::ForgotPassword => "CustomMessage_ForgotPassword",
            Self::UpdateUserAttribute => "CustomMessage_UpdateUserAttribute",
            Self::VerifyUserAttribute => "CustomMessage_VerifyUserAttribute",
            Self::Authentication => "CustomMessage_Authentication",
        }
    }

    /// Parses Cognito's spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for TriggerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
