use super::*;
use crate::dn::SubjectName;
use crate::{KeyType, SelfSignedRequest, generate_self_signed};
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};

fn make(cn: &str) -> crate::GeneratedCertificate {
    generate_self_signed(&SelfSignedRequest {
        key_type: KeyType::EcdsaP256,
        subject: SubjectName::parse(&format!("CN={cn}")).unwrap(),
        sans: vec![],
        valid_days: 30,
        now: time::OffsetDateTime::now_utc(),
    })
    .unwrap()
}

fn chain_entry(g: &crate::GeneratedCertificate, id: u8) -> KeyStoreEntry {
    KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
        vec![id],
        PrivateKey::from_der(&g.key_pkcs8_der).unwrap(),
        [Certificate::from_der(&g.cert_der).unwrap()],
    ))
}

#[test]
fn several_keys_are_listed_then_selected_and_unrelated_certificates_are_left_out() {
    let (a, b, stray) = (make("a.example"), make("b.example"), make("stray"));
    let mut store = KeyStore::new();
    store.add_entry("a", chain_entry(&a, 1));
    store.add_entry("b", chain_entry(&b, 2));
    store.add_entry(
        "stray",
        KeyStoreEntry::Certificate(Certificate::from_der(&stray.cert_der).unwrap()),
    );
    let pfx = store.writer("pw").write().unwrap();
    let e = decode_pkcs12(&pfx, "pw").unwrap_err();
    let PkiError::SeveralKeys(choices) = &e else {
        panic!("expected a choice, got {e}");
    };
    assert_eq!(choices.len(), 2);
    assert!(e.to_string().contains("--select"), "{e}");
    let b_info = CertificateInfo::from_der(&b.cert_der).unwrap();
    let picked =
        decode_pkcs12_selecting(&pfx, "pw", Some(&b_info.fingerprints.thumbprint())).unwrap();
    assert_eq!(picked.cert_der, b.cert_der);
    assert!(picked.chain.is_empty(), "a self-signed leaf has no chain");
    assert_eq!(picked.left_out.len(), 2, "{:?}", picked.left_out);
    let e = decode_pkcs12_selecting(&pfx, "pw", Some(&"AB".repeat(20))).unwrap_err();
    assert!(e.to_string().contains("no key in the file belongs"), "{e}");
}

#[test]
fn a_chain_keeps_only_certificates_that_issued_the_one_before() {
    let ca = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    let ca_cert = params.self_signed(&ca).unwrap();
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(vec!["sp.example".into()]).unwrap();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sp.example");
    let issuer = rcgen::Issuer::new(params, &ca);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let leaf_info = CertificateInfo::from_der(leaf.der()).unwrap();
    let ca_info = CertificateInfo::from_der(ca_cert.der()).unwrap();
    // A certificate with the CA's name but another key: same name, not the issuer.
    let impostor_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut impostor = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    impostor.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    impostor
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    let impostor_info =
        CertificateInfo::from_der(impostor.self_signed(&impostor_key).unwrap().der()).unwrap();
    let unrelated = CertificateInfo::from_der(&make("unrelated").cert_der).unwrap();
    let (chain, left_out) = build_chain(&leaf_info, &[&impostor_info, &unrelated, &ca_info]);
    assert_eq!(chain, vec![ca_info.der.clone()]);
    assert_eq!(left_out, vec![impostor_info, unrelated]);
}
