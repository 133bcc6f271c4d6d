//! Structure-aware events: a Cognito event built from an `arbitrary` shape
//! (trigger source, phone number formats, missing, null or oddly typed
//! fields), a short sequence of them on one in-memory store, through the
//! real adapter, with the clock anywhere RFC 3339 can put it.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use pumpguard_fuzz::{context, engine, handle_and_check, T};
use serde_json::{json, Map, Value};

const SOURCES: &[&str] = &[
    "CustomMessage_SignUp",
    "CustomMessage_AdminCreateUser",
    "CustomMessage_ResendCode",
    "CustomMessage_ForgotPassword",
    "CustomMessage_UpdateUserAttribute",
    "CustomMessage_VerifyUserAttribute",
    "CustomMessage_Authentication",
    "PostConfirmation_ConfirmSignUp",
    "PostConfirmation_ConfirmForgotPassword",
    "PostAuthentication_Authentication",
    "PreSignUp_SignUp",
    "CustomMessage_",
    "PostConfirmation_",
    "",
];

const COUNTRY_CODES: &[&str] = &[
    "1", "1876", "1787", "1900", "44", "447624", "441481", "33", "49", "66", "39", "7", "61",
    "800", "882", "979", "0", "999", "234", "92",
];

#[derive(Arbitrary, Debug)]
enum Source {
    Known(u8),
    Other(String),
    Missing,
    NotAString(Scalar),
}

#[derive(Arbitrary, Debug)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Array,
    Object,
}

impl Scalar {
    fn value(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => json!(b),
            Scalar::Int(i) => json!(i),
            Scalar::Float(f) => json!(f),
            Scalar::Array => json!([]),
            Scalar::Object => json!({}),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Separator {
    None,
    Space,
    Dash,
    Dot,
    Parens,
    Nbsp,
    Slash,
}

#[derive(Arbitrary, Debug)]
enum Phone {
    Missing,
    NotAString(Scalar),
    /// `+`, a known calling code, digits, optional decoration.
    Built {
        cc: u8,
        digits: Vec<u8>,
        sep: Separator,
        tel: bool,
        plus: bool,
        trunk_zero: bool,
        doubled: bool,
        padding: bool,
    },
    Raw(String),
}

impl Phone {
    fn value(&self) -> Option<Value> {
        match self {
            Phone::Missing => None,
            Phone::NotAString(s) => Some(s.value()),
            Phone::Raw(s) => Some(json!(s)),
            Phone::Built {
                cc,
                digits,
                sep,
                tel,
                plus,
                trunk_zero,
                doubled,
                padding,
            } => {
                let cc = COUNTRY_CODES[usize::from(*cc) % COUNTRY_CODES.len()];
                let mut national: String = digits
                    .iter()
                    .take(16)
                    .map(|d| char::from(b'0' + d % 10))
                    .collect();
                if *trunk_zero {
                    national.insert(0, '0');
                }
                if *doubled {
                    national.insert_str(0, cc);
                }
                let sep = match sep {
                    Separator::None => "",
                    Separator::Space => " ",
                    Separator::Dash => "-",
                    Separator::Dot => ".",
                    Separator::Parens => ")(",
                    Separator::Nbsp => "\u{a0}",
                    Separator::Slash => "/",
                };
                let mut s = String::new();
                if *tel {
                    s.push_str("tel:");
                }
                if *plus {
                    s.push('+');
                }
                s.push_str(cc);
                for (i, c) in national.chars().enumerate() {
                    if i % 3 == 0 {
                        s.push_str(sep);
                    }
                    s.push(c);
                }
                if *padding {
                    s = format!("  {s}\t");
                }
                Some(json!(s))
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Field {
    Missing,
    Text(String),
    Odd(Scalar),
}

impl Field {
    fn put(&self, obj: &mut Map<String, Value>, key: &str) {
        match self {
            Field::Missing => {}
            Field::Text(s) => {
                obj.insert(key.into(), json!(s));
            }
            Field::Odd(s) => {
                obj.insert(key.into(), s.value());
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Shape {
    Object,
    Missing,
    Odd(Scalar),
}

#[derive(Arbitrary, Debug)]
struct Event {
    source: Source,
    phone: Phone,
    sub: Field,
    user_name: Field,
    pool: Field,
    version: Field,
    code: Field,
    username_parameter: Field,
    client_metadata: Option<Vec<(String, String)>>,
    extra_attribute: Option<(String, String)>,
    request: Shape,
    user_attributes: Shape,
    response: Shape,
    caller_context: Shape,
    /// Seconds since the previous event (the first: since `start`).
    gap: u16,
}

impl Event {
    fn build(&self) -> Value {
        let mut attrs = Map::new();
        if let Some(p) = self.phone.value() {
            attrs.insert("phone_number".into(), p);
        }
        self.sub.put(&mut attrs, "sub");
        if let Some((k, v)) = &self.extra_attribute {
            attrs.insert(k.clone(), json!(v));
        }
        let mut request = Map::new();
        match &self.user_attributes {
            Shape::Object => {
                request.insert("userAttributes".into(), Value::Object(attrs));
            }
            Shape::Missing => {}
            Shape::Odd(s) => {
                request.insert("userAttributes".into(), s.value());
            }
        }
        self.code.put(&mut request, "codeParameter");
        self.username_parameter
            .put(&mut request, "usernameParameter");
        if let Some(meta) = &self.client_metadata {
            let m: Map<String, Value> = meta.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            request.insert("clientMetadata".into(), Value::Object(m));
        }
        let mut event = Map::new();
        match &self.source {
            Source::Known(i) => {
                event.insert(
                    "triggerSource".into(),
                    json!(SOURCES[usize::from(*i) % SOURCES.len()]),
                );
            }
            Source::Other(s) => {
                event.insert("triggerSource".into(), json!(s));
            }
            Source::Missing => {}
            Source::NotAString(s) => {
                event.insert("triggerSource".into(), s.value());
            }
        }
        self.version.put(&mut event, "version");
        event.insert("region".into(), json!("us-east-1"));
        self.pool.put(&mut event, "userPoolId");
        self.user_name.put(&mut event, "userName");
        let put_shape =
            |event: &mut Map<String, Value>, key: &str, shape: &Shape, obj: Value| match shape {
                Shape::Object => {
                    event.insert(key.into(), obj);
                }
                Shape::Missing => {}
                Shape::Odd(s) => {
                    event.insert(key.into(), s.value());
                }
            };
        put_shape(
            &mut event,
            "callerContext",
            &self.caller_context,
            json!({"awsSdkVersion": "aws-sdk-js-3", "clientId": "client"}),
        );
        put_shape(&mut event, "request", &self.request, Value::Object(request));
        put_shape(
            &mut event,
            "response",
            &self.response,
            json!({"smsMessage": null}),
        );
        Value::Object(event)
    }
}

#[derive(Debug)]
struct Input {
    policy: u8,
    start: i64,
    events: Vec<Event>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        // Year 0000 to 9999: what an RFC 3339 `at` in a replay can say.
        let start = if u.arbitrary::<bool>()? {
            u.int_in_range(-62_167_219_200..=253_402_300_799)?
        } else {
            T + i64::from(u.arbitrary::<u16>()?)
        };
        let policy = u.arbitrary()?;
        let n = u.int_in_range(1..=8)?;
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(u.arbitrary()?);
        }
        Ok(Input {
            policy,
            start,
            events,
        })
    }
}

fuzz_target!(|input: Input| {
    let engine = engine(input.policy);
    let ctx = context();
    let mut now = input.start;
    for e in &input.events {
        now = now.saturating_add(i64::from(e.gap) % 400);
        let event = e.build();
        let _ = handle_and_check(&engine, &ctx, event, now);
    }
});
