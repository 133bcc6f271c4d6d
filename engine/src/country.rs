//! ISO 3166-1 alpha-2 country codes.
//!
//! A [`Country`] can only hold a code that libphonenumber's metadata knows as a
//! region, so a typo such as `UK` in a policy is caught when the policy is read,
//! not when the first SMS to Britain is judged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// An upper-case ISO 3166-1 alpha-2 code known to the phone metadata.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

/// The UK's crown dependencies, which share +44 but are regions of their own.
pub const CROWN_DEPENDENCIES: [&str; 3] = ["GG", "IM", "JE"];

impl Country {
    /// Parses an upper-case two-letter region code; `None` if it is not one.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 2 || !b.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        let region = rlibphonenumber::Region::from_code(s).ok()?;
        crate::phone::util().get_country_code_for_region(region)?;
        Some(Self([b[0], b[1]]))
    }

    /// The code as a `&str`.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII upper-case letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// Whether this is Guernsey, the Isle of Man or Jersey.
    pub fn is_crown_dependency(&self) -> bool {
        CROWN_DEPENDENCIES.contains(&self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Country::parse(&code)
            .ok_or_else(|| serde::de::Error::custom("not an ISO 3166-1 alpha-2 country code"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_regions_only() {
        assert_eq!(
            Country::parse("JM").map(|c| c.to_string()),
            Some("JM".into())
        );
        assert!(
            Country::parse("UK").is_none(),
            "UK is not ISO 3166-1; GB is"
        );
        assert!(Country::parse("us").is_none());
        assert!(Country::parse("USA").is_none());
        assert!(Country::parse("ZZ").is_none());
        assert!(Country::parse("IM").is_some_and(|c| c.is_crown_dependency()));
    }
}
