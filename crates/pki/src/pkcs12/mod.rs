//! PKCS#12 (`.pfx`/`.p12`) files: reading what Windows and OpenSSL write, and writing what they read.
//!
//! Reading decrypts with p12-keystore (PBES2/AES as written today, and the legacy 3DES/RC2-40
//! with a SHA-1 MAC), then pairs the key with its certificate by public key, not by the optional
//! localKeyId. Writing is our own, from the same RustCrypto building blocks, because the friendly
//! name must sit on the certificate bag (Windows shows that one) as well as on the key bag.
//!
//! Two write profiles:
//! - [`Pkcs12Profile::Modern`]: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for certificates and key,
//!   HMAC-SHA256 MAC: what OpenSSL 3 and Windows 10+ write.
//! - [`Pkcs12Profile::Legacy`]: pbeWithSHAAnd3-KeyTripleDES-CBC for both, HMAC-SHA1 MAC: what
//!   Windows Server 2016 and older can import.

use cms::cert::x509::attr::{Attribute, AttributeValue, Attributes};
use cms::cert::x509::spki::AlgorithmIdentifierOwned;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use der::asn1::{BmpString, ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use hmac::{KeyInit as _, Mac as _};
use pkcs12::pbe_params::EncryptedPrivateKeyInfo;
use pkcs12::safe_bag::SafeBag;
use pkcs12::{CertBag, DigestInfo, MacData, kdf};
use sha1::Digest as _;
use zeroize::Zeroizing;

use crate::{CertificateInfo, PkiError, private_key_matches};

const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const OID_CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const OID_SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const OID_X509_CERT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const OID_FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const OID_LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const OID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const OID_PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// Key-derivation iterations for files we write (OpenSSL 3 writes 2048; more costs an attacker
/// more and an importer only milliseconds).
const ITERATIONS: u32 = 10_000;

/// The largest file accepted, so a wrong path (a disk image) fails fast rather than slowly.
pub const MAX_PKCS12_BYTES: usize = 1024 * 1024;

/// Which generation of PKCS#12 to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pkcs12Profile {
    /// AES-256/PBES2 with a SHA-256 MAC.
    Modern,
    /// 3DES with a SHA-1 MAC, for old Windows.
    Legacy,
}

/// What a PKCS#12 file holds, once paired up.
pub struct Pkcs12Contents {
    /// The end-entity certificate (the one the key belongs to), DER.
    pub cert_der: Vec<u8>,
    /// Its private key, PKCS#8 DER.
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
    /// The certificates that issued the leaf, from its issuer upwards (each verified).
    pub chain: Vec<Vec<u8>>,
    /// The other certificates of the file, which issued nothing on the way: left out, named.
    pub left_out: Vec<String>,
    /// The friendlyName of the certificate bag, else of the key bag.
    pub friendly_name: Option<String>,
}

impl std::fmt::Debug for Pkcs12Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs12Contents")
            .field("chain", &self.chain.len())
            .field("friendly_name", &self.friendly_name)
            .field("key_pkcs8_der", &"<redacted>")
            .finish()
    }
}

/// Whether these bytes look like a PKCS#12 file (a DER SEQUENCE starting with version 3).
pub fn looks_like_pkcs12(data: &[u8]) -> bool {
    p12_keystore_header(data)
}

fn p12_keystore_header(data: &[u8]) -> bool {
    // SEQUENCE, length, INTEGER 3: `30 82 xx xx 02 01 03` or with a short/other length form.
    if data.first() != Some(&0x30) || data.len() < 5 {
        return false;
    }
    let len_bytes = match data[1] {
        n if n < 0x80 => 0,
        n => usize::from(n & 0x7F),
    };
    data.get(2 + len_bytes..5 + len_bytes) == Some(&[0x02, 0x01, 0x03])
}

/// Reads a PKCS#12 file. An empty password also tries "no password" in the two ways tools encode
/// it. A wrong password is reported as such, never as a parse error.
pub fn decode_pkcs12(data: &[u8], password: &str) -> Result<Pkcs12Contents, PkiError> {
    decode_pkcs12_selecting(data, password, None)
}

/// [`decode_pkcs12`] for a file that may hold several keys: with more than one, `select` (a
/// thumbprint, SHA-256 or public key pin of the certificate wanted) picks one, and without it the
/// answer is [`PkiError::SeveralKeys`] listing them.
pub fn decode_pkcs12_selecting(
    data: &[u8],
    password: &str,
    select: Option<&str>,
) -> Result<Pkcs12Contents, PkiError> {
    if data.len() > MAX_PKCS12_BYTES {
        return Err(PkiError::InvalidPkcs12(format!(
            "{} bytes is too large for a PKCS#12 file",
            data.len()
        )));
    }
    let archive = match p12_keystore::Pkcs12Archive::from_pkcs12(data, password) {
        Ok(a) => a,
        Err(e) => return Err(classify(e, password)),
    };
    if archive.keys.is_empty() {
        return Err(PkiError::NoPrivateKey);
    }
    let certs: Vec<(CertificateInfo, Option<String>)> = archive
        .certs
        .iter()
        .map(|bag| {
            Ok((
                CertificateInfo::from_der(bag.cert.as_der())?,
                bag.friendly_name.clone(),
            ))
        })
        .collect::<Result<_, PkiError>>()?;
    // Every key with the certificate it belongs to.
    let pairs: Vec<(usize, usize)> = archive
        .keys
        .iter()
        .enumerate()
        .filter_map(|(k, bag)| {
            certs
                .iter()
                .position(|(info, _)| private_key_matches(info, bag.key.as_der()).unwrap_or(false))
                .map(|leaf| (k, leaf))
        })
        .collect();
    let (key_index, leaf) = match (pairs.as_slice(), select) {
        ([], _) if certs.is_empty() => {
            return Err(PkiError::InvalidPkcs12(
                "it holds a private key but no certificate".into(),
            ));
        }
        ([], _) => return Err(PkiError::KeyMismatch),
        ([one], None) => *one,
        (_, None) => {
            return Err(PkiError::SeveralKeys(
                pairs.iter().map(|(_, l)| describe(&certs[*l].0)).collect(),
            ));
        }
        (_, Some(q)) => {
            let query = crate::FingerprintQuery::parse(q)?;
            *pairs
                .iter()
                .find(|(_, l)| query.matches(&certs[*l].0.fingerprints))
                .ok_or_else(|| {
                    PkiError::InvalidInput(format!(
                        "no key in the file belongs to certificate {q}; it holds keys for: {}",
                        pairs
                            .iter()
                            .map(|(_, l)| describe(&certs[*l].0))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ))
                })?
        }
    };
    let key_bag = &archive.keys[key_index];
    let (leaf_info, cert_name) = &certs[leaf];
    let others: Vec<&CertificateInfo> = certs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leaf)
        .map(|(_, (c, _))| c)
        .collect();
    let (chain, left_out) = build_chain(leaf_info, &others);
    Ok(Pkcs12Contents {
        cert_der: leaf_info.der.clone(),
        key_pkcs8_der: Zeroizing::new(key_bag.key.as_der().to_vec()),
        chain,
        left_out: left_out.iter().map(describe).collect(),
        friendly_name: cert_name
            .clone()
            .or_else(|| key_bag.friendly_name.clone())
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
    })
}

fn classify(e: p12_keystore::error::Error, password: &str) -> PkiError {
    use p12_keystore::error::Error as E;
    match e {
        E::MacError(_) | E::UnpadError => PkiError::WrongPassword {
            empty: password.is_empty(),
        },
        E::Pkcs5Error(msg) if msg.to_lowercase().contains("decrypt") => PkiError::WrongPassword {
            empty: password.is_empty(),
        },
        E::UnsupportedEncryptionScheme | E::UnsupportedMacAlgorithm | E::UnsupportedContentType => {
            PkiError::InvalidPkcs12(format!(
                "unsupported protection ({e}); re-export it with AES-256 or 3DES"
            ))
        }
        other => PkiError::InvalidPkcs12(format!("damaged or truncated ({other})")),
    }
}

/// Orders the other certificates as a chain from the leaf's issuer up; certificates that are not
/// part of that chain are kept after it, in file order.
/// The chain of `leaf`: from `others`, the certificate that issued it (by name and signature),
/// then the one that issued that, and so on. What is not on that path is returned apart, to be
/// reported and left out: an unrelated certificate must never be served as the chain.
pub fn build_chain(
    leaf: &CertificateInfo,
    others: &[&CertificateInfo],
) -> (Vec<Vec<u8>>, Vec<CertificateInfo>) {
    let mut chain: Vec<Vec<u8>> = Vec::new();
    let mut used = vec![false; others.len()];
    let mut current = leaf;
    while !current.is_self_issued {
        let Some(i) = (0..others.len()).find(|&i| !used[i] && current.is_issued_by(others[i]))
        else {
            break;
        };
        used[i] = true;
        chain.push(others[i].der.clone());
        current = others[i];
    }
    let left_out = (0..others.len())
        .filter(|&i| !used[i])
        .map(|i| others[i].clone())
        .collect();
    (chain, left_out)
}

/// How a certificate left out of a chain, or offered as a choice, is named in messages.
pub fn describe(c: &CertificateInfo) -> String {
    format!("{} ({})", c.fingerprints.thumbprint(), c.subject_display)
}

/// Writes a PKCS#12 file with the certificate, its chain and its key, the friendly name on both
/// the certificate bag and the key bag.
pub fn encode_pkcs12(
    cert_der: &[u8],
    chain: &[Vec<u8>],
    key_pkcs8_der: &[u8],
    friendly_name: &str,
    password: &str,
    profile: Pkcs12Profile,
) -> Result<Vec<u8>, PkiError> {
    let local_key_id: [u8; 20] = sha1::Sha1::digest(cert_der).into();
    let attributes = bag_attributes(friendly_name, &local_key_id).map_err(asn1)?;

    let mut cert_bags = vec![cert_bag(cert_der, Some(attributes.clone())).map_err(asn1)?];
    for c in chain {
        cert_bags.push(cert_bag(c, None).map_err(asn1)?);
    }
    let (alg, encrypted) = encrypt(profile, &cert_bags.to_der().map_err(asn1)?, password)?;
    let certs_safe = ContentInfo {
        content_type: OID_ENCRYPTED_DATA,
        content: Any::from_der(
            &EncryptedData {
                version: CmsVersion::V0,
                enc_content_info: EncryptedContentInfo {
                    content_type: OID_DATA,
                    content_enc_alg: alg,
                    encrypted_content: Some(OctetString::new(encrypted).map_err(asn1)?),
                },
                unprotected_attrs: None,
            }
            .to_der()
            .map_err(asn1)?,
        )
        .map_err(asn1)?,
    };

    let (alg, encrypted_key) = encrypt(profile, key_pkcs8_der, password)?;
    let key_bag = SafeBag {
        bag_id: OID_SHROUDED_KEY_BAG,
        bag_value: EncryptedPrivateKeyInfo {
            encryption_algorithm: alg,
            encrypted_data: OctetString::new(encrypted_key).map_err(asn1)?,
        }
        .to_der()
        .map_err(asn1)?,
        bag_attributes: Some(attributes),
    };
    let keys_safe = data_content(&vec![key_bag].to_der().map_err(asn1)?)?;

    let auth_safe = data_content(&vec![certs_safe, keys_safe].to_der().map_err(asn1)?)?;
    let mac_data = compute_mac(profile, auth_safe.content.value(), password)?;
    let pfx = pkcs12::pfx::Pfx {
        version: pkcs12::pfx::Version::V3,
        auth_safe,
        mac_data: Some(mac_data),
    };
    pfx.to_der().map_err(asn1)
}

fn asn1(e: der::Error) -> PkiError {
    PkiError::InvalidPkcs12(format!("encoding failed: {e}"))
}

fn data_content(inner: &[u8]) -> Result<ContentInfo, PkiError> {
    Ok(ContentInfo {
        content_type: OID_DATA,
        content: Any::from_der(
            &OctetString::new(inner.to_vec())
                .map_err(asn1)?
                .to_der()
                .map_err(asn1)?,
        )
        .map_err(asn1)?,
    })
}

fn bag_attributes(friendly_name: &str, local_key_id: &[u8]) -> der::Result<Attributes> {
    let mut attrs = Attributes::new();
    attrs.insert(Attribute {
        oid: OID_FRIENDLY_NAME,
        values: SetOfVec::<AttributeValue>::from_iter([Any::from_der(
            &BmpString::from_utf8(friendly_name)?.to_der()?,
        )?])?,
    })?;
    attrs.insert(Attribute {
        oid: OID_LOCAL_KEY_ID,
        values: SetOfVec::<AttributeValue>::from_iter([Any::from_der(
            &OctetString::new(local_key_id)?.to_der()?,
        )?])?,
    })?;
    Ok(attrs)
}

fn cert_bag(der: &[u8], attributes: Option<Attributes>) -> der::Result<SafeBag> {
    Ok(SafeBag {
        bag_id: OID_CERT_BAG,
        bag_value: CertBag {
            cert_id: OID_X509_CERT,
            cert_value: OctetString::new(der.to_vec())?,
        }
        .to_der()?,
        bag_attributes: attributes,
    })
}

fn random<const N: usize>() -> Result<[u8; N], PkiError> {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| PkiError::InvalidPkcs12("the random generator failed".into()))?;
    Ok(b)
}

fn encrypt(
    profile: Pkcs12Profile,
    data: &[u8],
    password: &str,
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), PkiError> {
    match profile {
        Pkcs12Profile::Modern => {
            let salt: [u8; 16] = random()?;
            let iv: [u8; 16] = random()?;
            let params =
                pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(ITERATIONS, &salt, iv)
                    .map_err(|e| PkiError::InvalidPkcs12(e.to_string()))?;
            let encrypted = params
                .encrypt(password.as_bytes(), data)
                .map_err(|e| PkiError::InvalidPkcs12(e.to_string()))?;
            let alg = AlgorithmIdentifierOwned {
                oid: OID_PBES2,
                parameters: Some(Any::from_der(&params.to_der().map_err(asn1)?).map_err(asn1)?),
            };
            Ok((alg, encrypted))
        }
        Pkcs12Profile::Legacy => {
            use cbc::cipher::{BlockModeEncrypt as _, KeyIvInit as _, block_padding::Pkcs7};
            let salt: [u8; 8] = random()?;
            let rounds = ITERATIONS as i32;
            let key = Zeroizing::new(
                kdf::derive_key_utf8::<sha1::Sha1>(
                    password,
                    &salt,
                    kdf::Pkcs12KeyType::EncryptionKey,
                    rounds,
                    24,
                )
                .map_err(asn1)?,
            );
            let iv = kdf::derive_key_utf8::<sha1::Sha1>(
                password,
                &salt,
                kdf::Pkcs12KeyType::Iv,
                rounds,
                8,
            )
            .map_err(asn1)?;
            let cipher = cbc::Encryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
                .map_err(|_| PkiError::InvalidPkcs12("3DES key setup failed".into()))?;
            let encrypted = cipher.encrypt_padded_vec::<Pkcs7>(data);
            let params = pkcs12::pbe_params::Pkcs12PbeParams {
                salt: OctetString::new(salt.to_vec()).map_err(asn1)?,
                iterations: rounds,
            };
            let alg = AlgorithmIdentifierOwned {
                oid: OID_PBE_SHA1_3DES,
                parameters: Some(Any::from_der(&params.to_der().map_err(asn1)?).map_err(asn1)?),
            };
            Ok((alg, encrypted))
        }
    }
}

fn compute_mac(profile: Pkcs12Profile, data: &[u8], password: &str) -> Result<MacData, PkiError> {
    // Old Windows expects the 8-byte MAC salt every tool wrote at the time.
    let salt: Vec<u8> = match profile {
        Pkcs12Profile::Modern => random::<16>()?.to_vec(),
        Pkcs12Profile::Legacy => random::<8>()?.to_vec(),
    };
    let rounds = ITERATIONS as i32;
    let (oid, digest) = match profile {
        Pkcs12Profile::Modern => {
            let key = Zeroizing::new(
                kdf::derive_key_utf8::<sha2::Sha256>(
                    password,
                    &salt,
                    kdf::Pkcs12KeyType::Mac,
                    rounds,
                    32,
                )
                .map_err(asn1)?,
            );
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
                .map_err(|_| PkiError::InvalidPkcs12("MAC key setup failed".into()))?;
            mac.update(data);
            (OID_SHA256, mac.finalize().into_bytes().to_vec())
        }
        Pkcs12Profile::Legacy => {
            let key = Zeroizing::new(
                kdf::derive_key_utf8::<sha1::Sha1>(
                    password,
                    &salt,
                    kdf::Pkcs12KeyType::Mac,
                    rounds,
                    20,
                )
                .map_err(asn1)?,
            );
            let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&key)
                .map_err(|_| PkiError::InvalidPkcs12("MAC key setup failed".into()))?;
            mac.update(data);
            (OID_SHA1, mac.finalize().into_bytes().to_vec())
        }
    };
    Ok(MacData {
        mac: DigestInfo {
            algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            },
            digest: OctetString::new(digest).map_err(asn1)?,
        },
        mac_salt: OctetString::new(salt).map_err(asn1)?,
        iterations: rounds,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod selection_tests;
