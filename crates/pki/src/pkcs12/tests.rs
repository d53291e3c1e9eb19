use super::*;
use crate::dn::SubjectName;
use crate::{KeyType, SelfSignedRequest, generate_self_signed};

fn sample() -> crate::GeneratedCertificate {
    generate_self_signed(&SelfSignedRequest {
        key_type: KeyType::EcdsaP256,
        subject: SubjectName::for_licensee("Acme"),
        sans: vec![],
        valid_days: 30,
        now: time::OffsetDateTime::now_utc(),
    })
    .unwrap()
}

#[test]
fn round_trip_both_profiles() {
    let g = sample();
    let other = sample();
    for profile in [Pkcs12Profile::Modern, Pkcs12Profile::Legacy] {
        for password in ["s3cret pässword", ""] {
            let pfx = encode_pkcs12(
                &g.cert_der,
                std::slice::from_ref(&other.cert_der),
                &g.key_pkcs8_der,
                "Acme CC",
                password,
                profile,
            )
            .unwrap();
            assert!(looks_like_pkcs12(&pfx));
            let back = decode_pkcs12(&pfx, password).unwrap();
            assert_eq!(back.cert_der, g.cert_der);
            assert_eq!(back.key_pkcs8_der.as_slice(), g.key_pkcs8_der.as_slice());
            // `other` did not issue `g`: it is reported and left out, never served as chain.
            assert!(back.chain.is_empty());
            assert_eq!(back.left_out.len(), 1);
            assert_eq!(back.friendly_name.as_deref(), Some("Acme CC"));
            let wrong = decode_pkcs12(&pfx, "wrong").unwrap_err();
            assert!(
                matches!(wrong, PkiError::WrongPassword { .. }),
                "{profile:?}: {wrong}"
            );
        }
    }
}

#[test]
fn damaged_files_are_parse_errors_not_password_errors() {
    let g = sample();
    let pfx = encode_pkcs12(
        &g.cert_der,
        &[],
        &g.key_pkcs8_der,
        "x",
        "pw",
        Pkcs12Profile::Modern,
    )
    .unwrap();
    for cut in [0, 3, 10, pfx.len() / 2, pfx.len() - 1] {
        let e = decode_pkcs12(&pfx[..cut], "pw").unwrap_err();
        assert!(matches!(e, PkiError::InvalidPkcs12(_)), "cut {cut}: {e}");
    }
    assert!(!looks_like_pkcs12(b"-----BEGIN"));
}
