//! Phone normalisation and classification on arbitrary text, with the
//! engine's static decision on top.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pumpguard_engine::phone::{self, classify, normalise};
use pumpguard_engine::TriggerSource;

fuzz_target!(|raw: &str| {
    let normalised = normalise(raw);
    let classified = classify(raw);
    match (&normalised, &classified) {
        (Ok(e164), Ok(info)) => {
            assert_eq!(&info.e164, e164);
            assert!(e164.starts_with('+'));
            assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()));
            assert!((7..=15).contains(&(e164.len() - 1)));
            // Normalising is idempotent and classification depends only on it.
            assert_eq!(normalise(e164).as_ref(), Ok(e164));
            assert_eq!(classify(e164).as_ref(), Ok(info));
            assert!(e164.ends_with(&info.national));
            assert_eq!(
                format!("+{}{}", info.calling_code, info.national),
                *e164,
                "calling code and national number make the number"
            );
            if info.valid {
                assert!(info.typo.is_none());
            }
            let n = &info.national;
            assert!(phone::longest_repeat(n) <= n.len());
            assert!(phone::longest_sequence(n) <= n.len());
        }
        (Err(_), Err(_)) | (Ok(_), Err(_)) => {}
        (Err(e), Ok(_)) => panic!("classified a number that does not normalise: {e:?}"),
    }
    let engine = pumpguard_fuzz::engine(0);
    let d = engine.decide(TriggerSource::SignUp, raw);
    if classified.is_err() {
        assert_eq!(
            d.verdict,
            pumpguard_engine::Verdict::Block,
            "an unusable number is blocked"
        );
    }
    let _ = d.reasons();
    let _ = d.block_code(pumpguard_engine::policy::Disclosure::Detailed);
});
