//! Finds phone numbers and secrets in text that people or machines will read
//! (log lines, metric lines, command output). Shared by the privacy tests of
//! the trigger and the CLI.
//!
//! A number leaks when its national number appears in clear in any format
//! (E.164, national with a trunk 0, digits only, or split by spaces, dashes,
//! dots, slashes or parentheses), or when a partly masked form shows more
//! than the policy allows: the country code and the last four digits
//! (`+1…2671`). Concretely, every run of digits (separators between digits
//! ignored) is compared with every test number: a run that contains the
//! national number, or that shows five or more of its digits in place, is a
//! leak. Tokens of 12 or more hex digits with a letter among them (digests,
//! keyed hashes, request ids) are not read as digits. In JSON lines only the
//! strings are read that way; a JSON number leaks only by containing a whole
//! national number (latencies and counters are numbers, and short ones would
//! match by chance).

#![allow(dead_code)]

use serde_json::Value;

/// One test number.
#[derive(Debug, Clone)]
pub struct TestPhone {
    pub country_code: String,
    pub national: String,
    pub note: String,
}

impl TestPhone {
    /// `+CCNNN…`.
    pub fn e164(&self) -> String {
        format!("+{}{}", self.country_code, self.national)
    }
}

/// The shared list, `trigger/tests/fixtures/test-phones.txt`.
pub fn test_phones() -> Vec<TestPhone> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../trigger/tests/fixtures/test-phones.txt"
    );
    let text = std::fs::read_to_string(path).expect("test-phones.txt");
    let phones: Vec<TestPhone> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let cc = parts.next().and_then(|c| c.strip_prefix('+')).expect("+CC");
            let national = parts.next().expect("national number");
            assert!(
                cc.chars()
                    .chain(national.chars())
                    .all(|c| c.is_ascii_digit()),
                "{l}"
            );
            TestPhone {
                country_code: cc.to_string(),
                national: national.to_string(),
                note: parts.collect::<Vec<_>>().join(" "),
            }
        })
        .collect();
    assert!(phones.len() >= 10, "{path}");
    phones
}

/// The ways people write a number, for feeding it to the code under test.
pub fn formats(p: &TestPhone) -> Vec<String> {
    let cc = &p.country_code;
    let n = &p.national;
    let (a, b) = n.split_at(3);
    let (b, c) = b.split_at(3);
    vec![
        p.e164(),
        format!("+{cc} {a} {b} {c}"),
        format!("+{cc}-{a}-{b}-{c}"),
        format!("+{cc}.{a}.{b}.{c}"),
        format!("+{cc} ({a}) {b}-{c}"),
        format!("tel:+{cc}{n}"),
        format!("00{cc}{n}"),
        format!("0{n}"),
        n.clone(),
    ]
}

/// What the checker found, one line per leak.
pub type Leaks = Vec<String>;

const SEPARATORS: &[char] = &[' ', '-', '.', '(', ')', '/', '+', '\u{a0}'];

/// `text` with every token of 12+ hex digits holding a letter blanked.
fn blank_hex_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        let hexlike = token.len() >= 12
            && token.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
            && token.chars().any(|c| c.is_ascii_alphabetic());
        if hexlike {
            out.extend(std::iter::repeat_n(' ', token.len()));
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// The units a measured duration ends with in log lines (`674.365µs`,
/// `valid_for=899.999744188s`).
const DURATION_UNITS: [&str; 5] = ["µs", "us", "ms", "ns", "s"];

/// `text` with every measured duration blanked: a number, with a decimal
/// point, directly followed by a unit of time and then no letter or digit.
/// Its digits are a measurement, never a phone number, and their values
/// are random: a `131.255µs` would read as the digit run `131255`.
fn blank_durations(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = chars.clone();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
            j += 1;
        }
        let number: String = chars[i..j].iter().collect();
        let rest: String = chars[j..chars.len().min(j + 2)].iter().collect();
        let unit = DURATION_UNITS
            .iter()
            .find(|u| rest.starts_with(*u))
            .map(|u| u.chars().count());
        if let Some(len) = unit {
            let end = j + len;
            let bounded = chars.get(end).is_none_or(|c| !c.is_alphanumeric());
            if bounded && number.contains('.') && !number.ends_with('.') {
                out[i..end].iter_mut().for_each(|c| *c = ' ');
            }
        }
        i = j.max(i + 1);
    }
    out.into_iter().collect()
}

/// The digit runs of `text`, separators between digits dropped.
fn digit_runs(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut runs = Vec::new();
    let mut run = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            run.push(c);
            i += 1;
            continue;
        }
        // Up to two separators between digits keep the run going.
        let mut j = i;
        while j < chars.len() && j - i < 2 && SEPARATORS.contains(&chars[j]) {
            j += 1;
        }
        if !run.is_empty() && j > i && j < chars.len() && chars[j].is_ascii_digit() {
            i = j;
            continue;
        }
        if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
        i += 1;
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// How many digits of the national number `run` shows in place, at most.
fn national_digits_shown(run: &str, p: &TestPhone) -> usize {
    let full = format!("{}{}", p.country_code, p.national);
    let trunk = format!("0{}", p.national);
    let mut best = 0;
    for (whole, offset) in [(&full, p.country_code.len()), (&trunk, 1)] {
        let mut start = 0;
        while let Some(i) = whole[start..].find(run) {
            let at = start + i;
            let shown = (at..at + run.len()).filter(|&k| k >= offset).count();
            best = best.max(shown);
            start = at + 1;
        }
    }
    best
}

fn check_text(text: &str, phones: &[TestPhone], strict: bool, leaks: &mut Leaks, what: &str) {
    for run in digit_runs(&blank_hex_tokens(&blank_durations(text))) {
        for p in phones {
            if run.contains(&p.national) {
                leaks.push(format!("{} in clear ({run}) in {what}", p.e164()));
            } else if strict && run.len() >= 5 && national_digits_shown(&run, p) >= 5 {
                leaks.push(format!(
                    "{} shown beyond the country code and last four digits ({run}) in {what}",
                    p.e164()
                ));
            }
        }
    }
}

fn check_json(v: &Value, phones: &[TestPhone], leaks: &mut Leaks, what: &str) {
    match v {
        Value::String(s) => check_text(s, phones, true, leaks, what),
        Value::Number(n) => check_text(&n.to_string(), phones, false, leaks, what),
        Value::Array(a) => a.iter().for_each(|x| check_json(x, phones, leaks, what)),
        Value::Object(o) => {
            for (k, x) in o {
                check_text(k, phones, true, leaks, what);
                check_json(x, phones, leaks, what);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

/// Every leak of a test number or a secret in `output` (`what` names it in
/// the findings). Lines that are JSON objects are read as JSON.
pub fn leaks(output: &str, phones: &[TestPhone], secrets: &[&str], what: &str) -> Leaks {
    let mut found = Vec::new();
    for s in secrets {
        assert!(s.len() >= 8, "a secret too short to search for: {s:?}");
        if output.contains(s) {
            found.push(format!("a secret ({}…) in {what}", &s[..3]));
        }
    }
    for line in output.lines() {
        match serde_json::from_str::<Value>(line.trim()) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => {
                check_json(&v, phones, &mut found, what)
            }
            _ => check_text(line, phones, true, &mut found, what),
        }
    }
    found
}

/// Panics with every leak found in `outputs` (name, text).
pub fn assert_no_leaks(outputs: &[(String, String)], phones: &[TestPhone], secrets: &[&str]) {
    let found: Leaks = outputs
        .iter()
        .flat_map(|(what, text)| leaks(text, phones, secrets, what))
        .collect();
    assert!(
        found.is_empty(),
        "{} leaks:\n{}",
        found.len(),
        found.join("\n")
    );
}

/// The checker itself: it must catch each planted leak and pass what the
/// policy allows. Both privacy tests call it before trusting it.
pub fn self_test() {
    let phones = test_phones();
    let secret = "planted-secret-key-0123";
    for p in &phones {
        for f in formats(p) {
            for planted in [
                format!("sending to {f} now"),
                format!("{{\"phone\":\"{f}\",\"latency_us\":12}}"),
                format!("{{\"nested\":{{\"list\":[\"x\",\"{f}\"]}}}}"),
            ] {
                assert!(
                    !leaks(&planted, &phones, &[], "planted").is_empty(),
                    "missed {f} in {planted}"
                );
            }
        }
        let n = &p.national;
        let cc = &p.country_code;
        let l = n.len();
        // Masked forms that show too much.
        for planted in [
            format!("+{cc} {}••••", &n[..l - 4]),
            format!("+{cc}…{}", &n[l - 5..]),
            format!("***{}", &n[1..]),
            format!("{{\"n\":{cc}{n}}}"),
        ] {
            assert!(
                !leaks(&planted, &phones, &[], "planted").is_empty(),
                "missed a partial leak of {}: {planted}",
                p.e164()
            );
        }
        // What the policy allows.
        let allowed = format!("override +{cc}…{} set", &n[l - 4..]);
        assert!(
            leaks(&allowed, &phones, &[], "allowed").is_empty(),
            "{allowed}: {:?}",
            leaks(&allowed, &phones, &[], "allowed")
        );
    }
    // Secrets, hashes and ordinary numbers.
    assert!(!leaks(&format!("key={secret}"), &phones, &[secret], "planted").is_empty());
    let clean = concat!(
        "{\"phone_hash\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\",",
        "\"latency_us\":41555,\"policy\":\"300c40b3e8c2\",\"country\":\"US\"}\n",
        "published policy.toml (sha256 300c40b3e8c2) at 1795262400; arn:aws:lambda:us-east-1:123456789012:function:x\n",
        "request 3f2a1b4c-5e6f-4a8b-9c0d-1e2f3a4b5c6d took 2.5 s; +1…2671"
    );
    assert_eq!(leaks(clean, &phones, &[secret], "clean"), Leaks::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone() -> TestPhone {
        TestPhone {
            country_code: "1".into(),
            national: "3125550123".into(),
            note: "test".into(),
        }
    }

    #[test]
    fn durations_are_measurements_and_numbers_are_still_found() {
        let p = [phone()];
        for clean in [
            "request took 131.255µs",
            "valid_for=131.2555s next",
            "dispatch (313.1255ms)",
        ] {
            assert!(leaks(clean, &p, &[], "t").is_empty(), "{clean}");
        }
        for leaky in [
            "to +1 312 555 0123",
            "to 131255 in 3.5ms",
            "+1312555 0123 took 1.2s",
            "131.255 seconds",
        ] {
            assert!(!leaks(leaky, &p, &[], "t").is_empty(), "{leaky}");
        }
    }
}
