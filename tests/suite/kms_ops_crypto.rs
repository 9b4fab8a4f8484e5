//! The cryptographic KMS operations end to end: data keys and data key pairs, ReEncrypt,
//! GenerateRandom, Sign/Verify, GetPublicKey, GenerateMac/VerifyMac and RSA Encrypt/Decrypt,
//! with the CloudTrail record each call leaves (and no secret in it).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use kms_audit::kms::audit::{AuditEvent, MemorySink};
use kms_audit::kms::engine::error::{KmsError, KmsErrorKind};
use kms_audit::kms::engine::ops::blob::Blob;
use kms_audit::kms::engine::ops::decrypt::{self, Decrypt};
use kms_audit::kms::engine::ops::encrypt::{self, Encrypt};
use kms_audit::kms::engine::ops::generate_data_key::{
    self, GenerateDataKey, GenerateDataKeyWithoutPlaintext,
};
use kms_audit::kms::engine::ops::generate_data_key_pair::{
    self, GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext,
};
use kms_audit::kms::engine::ops::generate_mac::{self, GenerateMac};
use kms_audit::kms::engine::ops::generate_random::{self, GenerateRandom};
use kms_audit::kms::engine::ops::get_public_key::{self, GetPublicKey};
use kms_audit::kms::engine::ops::re_encrypt::{self, ReEncrypt};
use kms_audit::kms::engine::ops::sign::{self, Sign};
use kms_audit::kms::engine::ops::verify::{self, Verify};
use kms_audit::kms::engine::ops::verify_mac::{self, VerifyMac};
use kms_audit::kms::engine::{Caller, Engine};

use crate::common::{
    admin, assert_error, assert_no_secrets, context, last, missing_key, record_json, setup, user,
    user_arn, Kms, ACCOUNT, REGION,
};

/// `admin` may do anything in KMS; `app` has no identity policy; `mover` may only
/// `ReEncryptFrom`.
fn kms() -> Kms<MemorySink> {
    setup()
        .policy(
            &user_arn("mover"),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:ReEncryptFrom","Resource":"*"}]}"#,
        )
        .memory()
}

/// Checks the common members of a successful cryptographic record on one key.
fn assert_crypto_record(event: &AuditEvent, name: &str, key: &str, material: Option<&str>) {
    let r = record_json(event);
    assert_eq!(r["eventName"], name);
    assert_eq!(r["readOnly"], true);
    assert_eq!(r["responseElements"], Value::Null);
    assert!(r.get("errorCode").is_none(), "{r}");
    assert_eq!(
        r["resources"],
        json!([{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key}])
    );
    match material {
        Some(id) => assert_eq!(r["additionalEventData"]["keyMaterialId"], id),
        None => assert!(r.get("additionalEventData").is_none(), "{r}"),
    }
}

fn data_key(key: &str, spec: Option<&str>, bytes: Option<i64>) -> generate_data_key::Request {
    generate_data_key::Request {
        key_id: key.into(),
        encryption_context: Some(context(&[("Project", "Alpha")])),
        number_of_bytes: bytes,
        key_spec: spec.map(str::to_owned),
        grant_tokens: vec![],
    }
}

fn decrypt(
    engine: &Engine,
    blob: &[u8],
    ctx: Option<BTreeMap<String, String>>,
    key_id: Option<&str>,
    algorithm: Option<&str>,
) -> Result<decrypt::Response, KmsError> {
    engine.call::<Decrypt>(
        &admin(),
        REGION,
        decrypt::Request {
            ciphertext_blob: Blob::new(blob.to_vec()),
            encryption_context: ctx,
            grant_tokens: vec![],
            key_id: key_id.map(str::to_owned),
            encryption_algorithm: algorithm.map(str::to_owned),
        },
    )
}

#[test]
fn generate_data_key_returns_a_key_that_decrypts_and_logs_no_secret() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let key = kms.symmetric();
    let material = kms.material_id(&key);
    let r = engine
        .call::<GenerateDataKey>(&admin(), REGION, data_key(&key, Some("AES_256"), None))
        .expect("data key");
    assert_eq!(r.plaintext.bytes().len(), 32);
    assert_eq!(r.key_id, key);
    assert_eq!(r.key_material_id, material);
    let event = last(&sink);
    assert_crypto_record(&event, "GenerateDataKey", &key, Some(&material));
    assert_eq!(
        record_json(&event)["requestParameters"],
        json!({"keyId": key, "keySpec": "AES_256", "encryptionContext": {"Project": "Alpha"}})
    );
    assert_no_secrets(&event, &[r.plaintext.bytes(), r.ciphertext_blob.bytes()]);
    let wire = serde_json::to_value(&r).expect("json");
    assert!(
        wire.get("CiphertextBlob").is_some()
            && wire.get("Plaintext").is_some()
            && wire.get("KeyId").is_some()
    );

    let opened = decrypt(
        &engine,
        r.ciphertext_blob.bytes(),
        Some(context(&[("Project", "Alpha")])),
        None,
        None,
    )
    .expect("decrypt");
    assert_eq!(opened.plaintext.bytes(), r.plaintext.bytes());

    let small = engine
        .call::<GenerateDataKey>(&admin(), REGION, data_key(&key, Some("AES_128"), None))
        .expect("aes 128");
    assert_eq!(small.plaintext.bytes().len(), 16);
    let sized = engine
        .call::<GenerateDataKey>(&admin(), REGION, data_key(&key, None, Some(1024)))
        .expect("1024 bytes");
    assert_eq!(sized.plaintext.bytes().len(), 1024);
    assert_eq!(
        record_json(&last(&sink))["requestParameters"]["numberOfBytes"],
        1024
    );
    assert!(record_json(&last(&sink))["requestParameters"]
        .get("keySpec")
        .is_none());
}

#[test]
fn generate_data_key_validates_and_checks_the_key() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let key = kms.symmetric();
    let call = |r| engine.call::<GenerateDataKey>(&admin(), REGION, r);
    let both = call(data_key(&key, Some("AES_256"), Some(32))).expect_err("both");
    assert_eq!(both.kind, KmsErrorKind::Validation);
    assert_eq!(
        both.message,
        "Please specify either number of bytes or key spec."
    );
    assert_eq!(
        call(data_key(&key, None, None)).expect_err("neither").kind,
        KmsErrorKind::Validation
    );
    let zero = call(data_key(&key, None, Some(0))).expect_err("0");
    assert_eq!(zero.message, "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1");
    let big = call(data_key(&key, None, Some(1025))).expect_err("1025");
    assert!(
        big.message.contains("less than or equal to 1024"),
        "{}",
        big.message
    );
    let spec = call(data_key(&key, Some("AES_512"), None)).expect_err("spec");
    assert!(
        spec.message.contains("Value 'AES_512' at 'keySpec'")
            && spec.message.contains("[AES_256, AES_128]"),
        "{}",
        spec.message
    );
    assert_error(&last(&sink), "ValidationException");

    let rsa = kms.create_key("RSA_2048", "ENCRYPT_DECRYPT");
    assert_eq!(
        call(data_key(&rsa, Some("AES_256"), None))
            .expect_err("asymmetric")
            .kind,
        KmsErrorKind::InvalidKeyUsage
    );
    assert_error(&last(&sink), "InvalidKeyUsageException");
    let hmac = kms.create_key("HMAC_256", "GENERATE_VERIFY_MAC");
    assert_eq!(
        call(data_key(&hmac, Some("AES_256"), None))
            .expect_err("mac key")
            .kind,
        KmsErrorKind::InvalidKeyUsage
    );

    let missing = missing_key();
    assert_eq!(
        call(data_key(&missing, Some("AES_256"), None))
            .expect_err("missing")
            .kind,
        KmsErrorKind::NotFound
    );
    let denied = engine
        .call::<GenerateDataKey>(&user("app"), REGION, data_key(&key, Some("AES_256"), None))
        .expect_err("denied");
    assert_eq!(denied.kind, KmsErrorKind::AccessDenied);
    assert!(
        denied.message.contains("kms:GenerateDataKey"),
        "{}",
        denied.message
    );
    assert_error(&last(&sink), "AccessDeniedException");
    kms.disable(&key);
    assert_eq!(
        call(data_key(&key, Some("AES_256"), None))
            .expect_err("disabled")
            .kind,
        KmsErrorKind::Disabled
    );
    assert_error(&last(&sink), "DisabledException");
}

#[test]
fn generate_data_key_without_plaintext() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let key = kms.symmetric();
    let material = kms.material_id(&key);
    let r = engine
        .call::<GenerateDataKeyWithoutPlaintext>(&admin(), REGION, data_key(&key, None, Some(48)))
        .expect("data key");
    let wire = serde_json::to_value(&r).expect("json");
    assert!(
        wire.get("Plaintext").is_none() && wire.get("CiphertextBlob").is_some(),
        "{wire}"
    );
    let event = last(&sink);
    assert_crypto_record(
        &event,
        "GenerateDataKeyWithoutPlaintext",
        &key,
        Some(&material),
    );
    assert_eq!(
        record_json(&event)["requestParameters"],
        json!({"keyId": key, "numberOfBytes": 48, "encryptionContext": {"Project": "Alpha"}})
    );
    assert_no_secrets(&event, &[r.ciphertext_blob.bytes()]);
    let opened = decrypt(
        &engine,
        r.ciphertext_blob.bytes(),
        Some(context(&[("Project", "Alpha")])),
        None,
        None,
    )
    .expect("decrypt");
    assert_eq!(opened.plaintext.bytes().len(), 48);
    let denied = engine
        .call::<GenerateDataKeyWithoutPlaintext>(
            &user("app"),
            REGION,
            data_key(&key, None, Some(48)),
        )
        .expect_err("denied");
    assert!(
        denied
            .message
            .contains("kms:GenerateDataKeyWithoutPlaintext"),
        "{}",
        denied.message
    );
    let rsa = kms.create_key("RSA_2048", "SIGN_VERIFY");
    let wrong = engine
        .call::<GenerateDataKeyWithoutPlaintext>(&admin(), REGION, data_key(&rsa, None, Some(48)))
        .expect_err("usage");
    assert_eq!(wrong.kind, KmsErrorKind::InvalidKeyUsage);
    assert_eq!(last(&sink).event_name, "GenerateDataKeyWithoutPlaintext");
}

fn pair(key: &str, spec: &str) -> generate_data_key_pair::Request {
    generate_data_key_pair::Request {
        key_id: key.into(),
        key_pair_spec: spec.into(),
        encryption_context: Some(context(&[("Use", "signing")])),
        grant_tokens: vec![],
    }
}

#[test]
fn generate_data_key_pair_both_forms() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let key = kms.symmetric();
    let material = kms.material_id(&key);
    let r = engine
        .call::<GenerateDataKeyPair>(&admin(), REGION, pair(&key, "ECC_NIST_P256"))
        .expect("pair");
    assert_eq!(r.key_pair_spec, "ECC_NIST_P256");
    assert!(!r.public_key.bytes().is_empty());
    let event = last(&sink);
    assert_crypto_record(&event, "GenerateDataKeyPair", &key, Some(&material));
    assert_eq!(
        record_json(&event)["requestParameters"],
        json!({"keyId": key, "keyPairSpec": "ECC_NIST_P256", "encryptionContext": {"Use": "signing"}})
    );
    assert_no_secrets(
        &event,
        &[
            r.private_key_plaintext.bytes(),
            r.private_key_ciphertext_blob.bytes(),
            r.public_key.bytes(),
        ],
    );
    let opened = decrypt(
        &engine,
        r.private_key_ciphertext_blob.bytes(),
        Some(context(&[("Use", "signing")])),
        None,
        None,
    )
    .expect("decrypt");
    assert_eq!(opened.plaintext.bytes(), r.private_key_plaintext.bytes());

    let w = engine
        .call::<GenerateDataKeyPairWithoutPlaintext>(&admin(), REGION, pair(&key, "RSA_2048"))
        .expect("pair");
    let wire = serde_json::to_value(&w).expect("json");
    assert!(
        wire.get("PrivateKeyPlaintext").is_none() && wire.get("PublicKey").is_some(),
        "{wire}"
    );
    let event = last(&sink);
    assert_crypto_record(
        &event,
        "GenerateDataKeyPairWithoutPlaintext",
        &key,
        Some(&material),
    );
    assert_no_secrets(
        &event,
        &[w.private_key_ciphertext_blob.bytes(), w.public_key.bytes()],
    );

    let bad = engine
        .call::<GenerateDataKeyPair>(&admin(), REGION, pair(&key, "RSA_1024"))
        .expect_err("spec");
    assert_eq!(bad.kind, KmsErrorKind::Validation);
    assert!(bad.message.contains("at 'keyPairSpec'"), "{}", bad.message);
    let ecc = kms.create_key("ECC_NIST_P256", "SIGN_VERIFY");
    let usage = engine
        .call::<GenerateDataKeyPair>(&admin(), REGION, pair(&ecc, "RSA_2048"))
        .expect_err("usage");
    assert_eq!(usage.kind, KmsErrorKind::InvalidKeyUsage);
    let denied = engine
        .call::<GenerateDataKeyPairWithoutPlaintext>(&user("app"), REGION, pair(&key, "RSA_2048"))
        .expect_err("denied");
    assert!(
        denied
            .message
            .contains("kms:GenerateDataKeyPairWithoutPlaintext"),
        "{}",
        denied.message
    );
    kms.disable(&key);
    assert_eq!(
        engine
            .call::<GenerateDataKeyPair>(&admin(), REGION, pair(&key, "RSA_2048"))
            .expect_err("disabled")
            .kind,
        KmsErrorKind::Disabled
    );
}

fn encrypt(
    engine: &Engine,
    key: &str,
    text: &[u8],
    ctx: Option<BTreeMap<String, String>>,
    algorithm: Option<&str>,
) -> Result<encrypt::Response, KmsError> {
    engine.call::<Encrypt>(
        &admin(),
        REGION,
        encrypt::Request {
            key_id: key.into(),
            plaintext: Blob::new(text.to_vec()),
            encryption_context: ctx,
            grant_tokens: vec![],
            encryption_algorithm: algorithm.map(str::to_owned),
        },
    )
}

fn re_encrypt_request(blob: &[u8], destination: &str) -> re_encrypt::Request {
    re_encrypt::Request {
        ciphertext_blob: Blob::new(blob.to_vec()),
        source_encryption_context: Some(context(&[("Project", "Alpha")])),
        source_key_id: None,
        destination_key_id: destination.into(),
        destination_encryption_context: Some(context(&[("Level", "3A")])),
        source_encryption_algorithm: None,
        destination_encryption_algorithm: None,
        grant_tokens: vec![],
    }
}

#[test]
fn re_encrypt_moves_ciphertext_between_keys() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let source = kms.symmetric();
    let destination = kms.symmetric();
    let secret = b"re-encrypt me please";
    let blob = encrypt(
        &engine,
        &source,
        secret,
        Some(context(&[("Project", "Alpha")])),
        None,
    )
    .expect("encrypt")
    .ciphertext_blob;
    let r = engine
        .call::<ReEncrypt>(
            &admin(),
            REGION,
            re_encrypt_request(blob.bytes(), &destination),
        )
        .expect("re-encrypt");
    assert_eq!(
        (r.source_key_id.as_str(), r.key_id.as_str()),
        (source.as_str(), destination.as_str())
    );
    assert_eq!(r.source_key_material_id, kms.material_id(&source));
    let event = last(&sink);
    let rec = record_json(&event);
    assert_eq!(rec["eventName"], "ReEncrypt");
    assert_eq!(rec["readOnly"], true);
    assert_eq!(rec["responseElements"], Value::Null);
    assert_eq!(
        rec["requestParameters"],
        json!({
            "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "sourceEncryptionContext": {"Project": "Alpha"},
            "destinationKeyId": destination,
            "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "destinationEncryptionContext": {"Level": "3A"},
        })
    );
    assert_eq!(
        rec["resources"],
        json!([
            {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": source},
            {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": destination},
        ])
    );
    assert_eq!(
        rec["additionalEventData"]["keyMaterialId"],
        kms.material_id(&destination)
    );
    assert_no_secrets(&event, &[secret, blob.bytes(), r.ciphertext_blob.bytes()]);
    let opened = decrypt(
        &engine,
        r.ciphertext_blob.bytes(),
        Some(context(&[("Level", "3A")])),
        None,
        None,
    )
    .expect("decrypt");
    assert_eq!(opened.plaintext.bytes(), secret);
    assert_eq!(opened.key_id, destination);

    // The wrong source context does not decrypt; a SourceKeyId that is not the blob's key is refused.
    let mut wrong = re_encrypt_request(blob.bytes(), &destination);
    wrong.source_encryption_context = None;
    assert_eq!(
        engine
            .call::<ReEncrypt>(&admin(), REGION, wrong)
            .expect_err("context")
            .kind,
        KmsErrorKind::InvalidCiphertext
    );
    assert_error(&last(&sink), "InvalidCiphertextException");
    let mut other = re_encrypt_request(blob.bytes(), &destination);
    other.source_key_id = Some(destination.clone());
    assert_eq!(
        engine
            .call::<ReEncrypt>(&admin(), REGION, other)
            .expect_err("incorrect")
            .kind,
        KmsErrorKind::IncorrectKey
    );
    let mut named = re_encrypt_request(blob.bytes(), &destination);
    named.source_key_id = Some(source.clone());
    engine
        .call::<ReEncrypt>(&admin(), REGION, named)
        .expect("matching source key");
    assert_eq!(
        record_json(&last(&sink))["requestParameters"]["sourceKeyId"],
        source
    );

    // kms:ReEncryptFrom alone is not enough: the destination needs kms:ReEncryptTo.
    let denied = engine
        .call::<ReEncrypt>(
            &user("mover"),
            REGION,
            re_encrypt_request(blob.bytes(), &destination),
        )
        .expect_err("to");
    assert_eq!(denied.kind, KmsErrorKind::AccessDenied);
    assert!(
        denied.message.contains("kms:ReEncryptTo") && denied.message.contains(&destination),
        "{}",
        denied.message
    );
    let denied = engine
        .call::<ReEncrypt>(
            &user("app"),
            REGION,
            re_encrypt_request(blob.bytes(), &destination),
        )
        .expect_err("from");
    assert!(
        denied.message.contains("kms:ReEncryptFrom") && denied.message.contains(&source),
        "{}",
        denied.message
    );

    let missing = missing_key();
    assert_eq!(
        engine
            .call::<ReEncrypt>(&admin(), REGION, re_encrypt_request(blob.bytes(), &missing))
            .expect_err("missing")
            .kind,
        KmsErrorKind::NotFound
    );
    let mut bad = re_encrypt_request(blob.bytes(), &destination);
    bad.destination_encryption_algorithm = Some("AES".into());
    assert_eq!(
        engine
            .call::<ReEncrypt>(&admin(), REGION, bad)
            .expect_err("algorithm")
            .kind,
        KmsErrorKind::Validation
    );
    let ecc = kms.create_key("ECC_NIST_P256", "SIGN_VERIFY");
    assert_eq!(
        engine
            .call::<ReEncrypt>(&admin(), REGION, re_encrypt_request(blob.bytes(), &ecc))
            .expect_err("usage")
            .kind,
        KmsErrorKind::InvalidKeyUsage
    );
    kms.disable(&destination);
    assert_eq!(
        engine
            .call::<ReEncrypt>(
                &admin(),
                REGION,
                re_encrypt_request(blob.bytes(), &destination)
            )
            .expect_err("disabled")
            .kind,
        KmsErrorKind::Disabled
    );
}

#[test]
fn re_encrypt_to_and_from_rsa() {
    let kms = kms();
    let engine = &kms.engine;
    let source = kms.symmetric();
    let rsa = kms.create_key("RSA_2048", "ENCRYPT_DECRYPT");
    let blob = encrypt(
        &engine,
        &source,
        b"short",
        Some(context(&[("Project", "Alpha")])),
        None,
    )
    .expect("encrypt")
    .ciphertext_blob;
    let mut to_rsa = re_encrypt_request(blob.bytes(), &rsa);
    to_rsa.destination_encryption_context = None;
    to_rsa.destination_encryption_algorithm = Some("RSAES_OAEP_SHA_256".into());
    let r = engine
        .call::<ReEncrypt>(&admin(), REGION, to_rsa)
        .expect("to rsa");
    assert_eq!(r.ciphertext_blob.bytes().len(), 256);
    let back = re_encrypt::Request {
        ciphertext_blob: r.ciphertext_blob.clone(),
        source_encryption_context: None,
        source_key_id: Some(rsa.clone()),
        destination_key_id: source.clone(),
        destination_encryption_context: None,
        source_encryption_algorithm: Some("RSAES_OAEP_SHA_256".into()),
        destination_encryption_algorithm: None,
        grant_tokens: vec![],
    };
    let r = engine
        .call::<ReEncrypt>(&admin(), REGION, back)
        .expect("from rsa");
    assert_eq!(
        decrypt(&engine, r.ciphertext_blob.bytes(), None, None, None)
            .expect("decrypt")
            .plaintext
            .bytes(),
        b"short"
    );
}

#[test]
fn generate_random_is_account_level() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let r = engine
        .call::<GenerateRandom>(
            &admin(),
            REGION,
            generate_random::Request {
                number_of_bytes: Some(32),
                custom_key_store_id: None,
            },
        )
        .expect("random");
    assert_eq!(r.plaintext.bytes().len(), 32);
    let event = last(&sink);
    let rec = record_json(&event);
    assert_eq!(rec["eventName"], "GenerateRandom");
    assert_eq!(rec["readOnly"], true);
    assert_eq!(rec["requestParameters"], Value::Null);
    assert_eq!(rec["responseElements"], Value::Null);
    assert!(
        rec.get("resources").is_none() && rec.get("additionalEventData").is_none(),
        "{rec}"
    );
    assert_no_secrets(&event, &[r.plaintext.bytes()]);
    // No key, so no key policy takes part: IAM alone decides, and `app` has no identity
    // policy.
    let denied = engine
        .call::<GenerateRandom>(
            &user("app"),
            REGION,
            generate_random::Request {
                number_of_bytes: Some(1),
                custom_key_store_id: None,
            },
        )
        .expect_err("kms:GenerateRandom needs an identity policy");
    assert_eq!(
        denied.message,
        "User: arn:aws:iam::111122223333:user/app is not authorized to perform: \
         kms:GenerateRandom on resource: * because no identity-based policy allows the \
         kms:GenerateRandom action"
    );
    for (n, text) in [
        (Some(0), "greater than or equal to 1"),
        (Some(1025), "less than or equal to 1024"),
        (None, "must not be null"),
    ] {
        let err = engine
            .call::<GenerateRandom>(
                &admin(),
                REGION,
                generate_random::Request {
                    number_of_bytes: n,
                    custom_key_store_id: None,
                },
            )
            .expect_err("range");
        assert_eq!(err.kind, KmsErrorKind::Validation);
        assert!(
            err.message.starts_with("1 validation error detected") && err.message.contains(text),
            "{}",
            err.message
        );
        assert_error(&last(&sink), "ValidationException");
    }
}

fn sign_request(
    key: &str,
    message: &[u8],
    message_type: Option<&str>,
    algorithm: &str,
) -> sign::Request {
    sign::Request {
        key_id: key.into(),
        message: Blob::new(message.to_vec()),
        message_type: message_type.map(str::to_owned),
        signing_algorithm: algorithm.into(),
        grant_tokens: vec![],
    }
}

fn verify_request(
    key: &str,
    message: &[u8],
    message_type: Option<&str>,
    algorithm: &str,
    signature: &[u8],
) -> verify::Request {
    verify::Request {
        key_id: key.into(),
        message: Blob::new(message.to_vec()),
        message_type: message_type.map(str::to_owned),
        signature: Blob::new(signature.to_vec()),
        signing_algorithm: algorithm.into(),
        grant_tokens: vec![],
    }
}

#[test]
fn sign_and_verify_raw_and_digest() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let ecc = kms.create_key("ECC_NIST_P256", "SIGN_VERIFY");
    let material = kms.material_id(&ecc);
    let message = b"the message to sign, not to be logged";
    let signed = engine
        .call::<Sign>(
            &admin(),
            REGION,
            sign_request(&ecc, message, None, "ECDSA_SHA_256"),
        )
        .expect("sign");
    assert_eq!(signed.signing_algorithm, "ECDSA_SHA_256");
    let event = last(&sink);
    assert_crypto_record(&event, "Sign", &ecc, Some(&material));
    assert_eq!(
        record_json(&event)["requestParameters"],
        json!({"keyId": ecc, "messageType": "RAW", "signingAlgorithm": "ECDSA_SHA_256"})
    );
    assert_no_secrets(&event, &[message, signed.signature.bytes()]);

    let ok = engine
        .call::<Verify>(
            &admin(),
            REGION,
            verify_request(
                &ecc,
                message,
                Some("RAW"),
                "ECDSA_SHA_256",
                signed.signature.bytes(),
            ),
        )
        .expect("verify");
    assert!(ok.signature_valid);
    let event = last(&sink);
    assert_crypto_record(&event, "Verify", &ecc, Some(&material));
    assert_eq!(
        record_json(&event)["requestParameters"],
        json!({"keyId": ecc, "messageType": "RAW", "signingAlgorithm": "ECDSA_SHA_256"})
    );
    assert_no_secrets(&event, &[message, signed.signature.bytes()]);

    let bad = engine
        .call::<Verify>(
            &admin(),
            REGION,
            verify_request(
                &ecc,
                b"another message",
                None,
                "ECDSA_SHA_256",
                signed.signature.bytes(),
            ),
        )
        .expect_err("bad signature");
    assert_eq!(bad.kind, KmsErrorKind::InvalidSignature);
    assert_error(&last(&sink), "KMSInvalidSignatureException");

    // DIGEST with RSA-PSS: sign the SHA-256 of the message, verify the RAW message.
    let rsa = kms.create_key("RSA_2048", "SIGN_VERIFY");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
    let signed = engine
        .call::<Sign>(
            &admin(),
            REGION,
            sign_request(&rsa, digest.as_ref(), Some("DIGEST"), "RSASSA_PSS_SHA_256"),
        )
        .expect("sign digest");
    assert_eq!(signed.signature.bytes().len(), 256);
    assert_eq!(
        record_json(&last(&sink))["requestParameters"]["messageType"],
        "DIGEST"
    );
    engine
        .call::<Verify>(
            &admin(),
            REGION,
            verify_request(
                &rsa,
                message,
                None,
                "RSASSA_PSS_SHA_256",
                signed.signature.bytes(),
            ),
        )
        .expect("verify raw against digest signature");
    let short = engine
        .call::<Sign>(
            &admin(),
            REGION,
            sign_request(
                &rsa,
                &digest.as_ref()[..20],
                Some("DIGEST"),
                "RSASSA_PSS_SHA_256",
            ),
        )
        .expect_err("digest length");
    assert_eq!(short.kind, KmsErrorKind::Validation);
}

#[test]
fn sign_and_verify_errors() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let ecc = kms.create_key("ECC_NIST_P256", "SIGN_VERIFY");
    let call = |r| engine.call::<Sign>(&admin(), REGION, r);
    let wrong_alg = call(sign_request(&ecc, b"m", None, "ECDSA_SHA_384")).expect_err("curve hash");
    assert_eq!(wrong_alg.kind, KmsErrorKind::InvalidKeyUsage);
    assert_error(&last(&sink), "InvalidKeyUsageException");
    let unknown = call(sign_request(&ecc, b"m", None, "ECDSA_SHA_1")).expect_err("enum");
    assert_eq!(unknown.kind, KmsErrorKind::Validation);
    assert!(
        unknown.message.contains("at 'signingAlgorithm'"),
        "{}",
        unknown.message
    );
    assert_eq!(
        call(sign_request(&ecc, b"m", Some("HASH"), "ECDSA_SHA_256"))
            .expect_err("type")
            .kind,
        KmsErrorKind::Validation
    );
    assert_eq!(
        call(sign_request(&ecc, b"", None, "ECDSA_SHA_256"))
            .expect_err("empty")
            .kind,
        KmsErrorKind::Validation
    );
    assert_eq!(
        call(sign_request(&ecc, &[7u8; 4097], None, "ECDSA_SHA_256"))
            .expect_err("long")
            .kind,
        KmsErrorKind::Validation
    );
    let sym = kms.symmetric();
    assert_eq!(
        call(sign_request(&sym, b"m", None, "ECDSA_SHA_256"))
            .expect_err("symmetric")
            .kind,
        KmsErrorKind::InvalidKeyUsage
    );
    let rsa_enc = kms.create_key("RSA_2048", "ENCRYPT_DECRYPT");
    assert_eq!(
        call(sign_request(&rsa_enc, b"m", None, "RSASSA_PSS_SHA_256"))
            .expect_err("encrypt key")
            .kind,
        KmsErrorKind::InvalidKeyUsage
    );
    let missing = missing_key();
    assert_eq!(
        call(sign_request(&missing, b"m", None, "ECDSA_SHA_256"))
            .expect_err("missing")
            .kind,
        KmsErrorKind::NotFound
    );
    let denied = engine
        .call::<Sign>(
            &user("app"),
            REGION,
            sign_request(&ecc, b"m", None, "ECDSA_SHA_256"),
        )
        .expect_err("denied");
    assert!(denied.message.contains("kms:Sign"), "{}", denied.message);
    let denied = engine
        .call::<Verify>(
            &user("app"),
            REGION,
            verify_request(&ecc, b"m", None, "ECDSA_SHA_256", b"sig"),
        )
        .expect_err("denied");
    assert!(denied.message.contains("kms:Verify"), "{}", denied.message);
    kms.disable(&ecc);
    assert_eq!(
        call(sign_request(&ecc, b"m", None, "ECDSA_SHA_256"))
            .expect_err("disabled")
            .kind,
        KmsErrorKind::Disabled
    );
    let v = engine
        .call::<Verify>(
            &admin(),
            REGION,
            verify_request(&ecc, b"m", None, "ECDSA_SHA_256", b"sig"),
        )
        .expect_err("disabled");
    assert_eq!(v.kind, KmsErrorKind::Disabled);
    assert_error(&last(&sink), "DisabledException");
}

#[test]
fn get_public_key_of_asymmetric_keys_only() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let rsa = kms.create_key("RSA_2048", "ENCRYPT_DECRYPT");
    let r = engine
        .call::<GetPublicKey>(
            &admin(),
            REGION,
            get_public_key::Request {
                key_id: rsa.clone(),
                grant_tokens: vec![],
            },
        )
        .expect("public key");
    assert_eq!(r.key_spec, "RSA_2048");
    assert_eq!(r.key_usage, "ENCRYPT_DECRYPT");
    assert_eq!(
        r.encryption_algorithms,
        ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    );
    assert!(r.signing_algorithms.is_empty());
    let snapshot = engine.snapshot().expect("state");
    assert_eq!(
        Some(r.public_key.bytes()),
        snapshot.keys[&rsa]
            .current()
            .expect("material")
            .material
            .public_key_der()
    );
    let event = last(&sink);
    assert_crypto_record(&event, "GetPublicKey", &rsa, None);
    assert_eq!(
        record_json(&event)["requestParameters"],
        json!({"keyId": rsa})
    );

    let ecc = kms.create_key("ECC_NIST_P384", "SIGN_VERIFY");
    let e = engine
        .call::<GetPublicKey>(
            &admin(),
            REGION,
            get_public_key::Request {
                key_id: ecc.clone(),
                grant_tokens: vec![],
            },
        )
        .expect("ecc");
    assert_eq!(e.signing_algorithms, ["ECDSA_SHA_384"]);
    let wire = serde_json::to_value(&e).expect("json");
    assert!(
        wire.get("EncryptionAlgorithms").is_none() && wire.get("PublicKey").is_some(),
        "{wire}"
    );

    let sym = kms.symmetric();
    let err = engine
        .call::<GetPublicKey>(
            &admin(),
            REGION,
            get_public_key::Request {
                key_id: sym,
                grant_tokens: vec![],
            },
        )
        .expect_err("symmetric");
    assert_eq!(err.kind, KmsErrorKind::UnsupportedOperation);
    assert_error(&last(&sink), "UnsupportedOperationException");
    let denied = engine
        .call::<GetPublicKey>(
            &user("app"),
            REGION,
            get_public_key::Request {
                key_id: rsa.clone(),
                grant_tokens: vec![],
            },
        )
        .expect_err("denied");
    assert!(
        denied.message.contains("kms:GetPublicKey"),
        "{}",
        denied.message
    );
    kms.disable(&rsa);
    let err = engine
        .call::<GetPublicKey>(
            &admin(),
            REGION,
            get_public_key::Request {
                key_id: rsa,
                grant_tokens: vec![],
            },
        )
        .expect_err("disabled");
    assert_eq!(err.kind, KmsErrorKind::Disabled);
}

#[test]
fn generate_and_verify_mac() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let hmac = kms.create_key("HMAC_256", "GENERATE_VERIFY_MAC");
    let material = kms.material_id(&hmac);
    let message = b"a message to authenticate";
    let r = engine
        .call::<GenerateMac>(
            &admin(),
            REGION,
            generate_mac::Request {
                message: Blob::new(message.to_vec()),
                key_id: hmac.clone(),
                mac_algorithm: "HMAC_SHA_256".into(),
                grant_tokens: vec![],
            },
        )
        .expect("mac");
    assert_eq!(r.mac.bytes().len(), 32);
    let event = last(&sink);
    assert_crypto_record(&event, "GenerateMac", &hmac, Some(&material));
    assert_eq!(
        record_json(&event)["requestParameters"],
        json!({"keyId": hmac, "macAlgorithm": "HMAC_SHA_256"})
    );
    assert_no_secrets(&event, &[message, r.mac.bytes()]);

    let verify = |message: &[u8], mac: &[u8], algorithm: &str| {
        engine.call::<VerifyMac>(
            &admin(),
            REGION,
            verify_mac::Request {
                message: Blob::new(message.to_vec()),
                key_id: hmac.clone(),
                mac_algorithm: algorithm.into(),
                mac: Blob::new(mac.to_vec()),
                grant_tokens: vec![],
            },
        )
    };
    assert!(
        verify(message, r.mac.bytes(), "HMAC_SHA_256")
            .expect("valid")
            .mac_valid
    );
    let event = last(&sink);
    assert_crypto_record(&event, "VerifyMac", &hmac, Some(&material));
    assert_no_secrets(&event, &[message, r.mac.bytes()]);
    let bad = verify(b"tampered", r.mac.bytes(), "HMAC_SHA_256").expect_err("bad mac");
    assert_eq!(bad.kind, KmsErrorKind::InvalidMac);
    assert_error(&last(&sink), "KMSInvalidMacException");
    assert_eq!(
        verify(message, r.mac.bytes(), "HMAC_SHA_512")
            .expect_err("algorithm")
            .kind,
        KmsErrorKind::InvalidKeyUsage
    );
    assert_eq!(
        verify(message, r.mac.bytes(), "HMAC_MD5")
            .expect_err("enum")
            .kind,
        KmsErrorKind::Validation
    );
    assert_eq!(
        verify(b"", r.mac.bytes(), "HMAC_SHA_256")
            .expect_err("empty")
            .kind,
        KmsErrorKind::Validation
    );

    let generate = |caller: &Caller, key: &str| {
        engine.call::<GenerateMac>(
            caller,
            REGION,
            generate_mac::Request {
                message: Blob::new(b"m".to_vec()),
                key_id: key.into(),
                mac_algorithm: "HMAC_SHA_256".into(),
                grant_tokens: vec![],
            },
        )
    };
    let sym = kms.symmetric();
    assert_eq!(
        generate(&admin(), &sym).expect_err("symmetric").kind,
        KmsErrorKind::InvalidKeyUsage
    );
    let denied = generate(&user("app"), &hmac).expect_err("denied");
    assert!(
        denied.message.contains("kms:GenerateMac"),
        "{}",
        denied.message
    );
    let missing = missing_key();
    assert_eq!(
        generate(&admin(), &missing).expect_err("missing").kind,
        KmsErrorKind::NotFound
    );
    kms.disable(&hmac);
    assert_eq!(
        generate(&admin(), &hmac).expect_err("disabled").kind,
        KmsErrorKind::Disabled
    );
    assert_eq!(
        verify(message, r.mac.bytes(), "HMAC_SHA_256")
            .expect_err("disabled")
            .kind,
        KmsErrorKind::Disabled
    );
}

#[test]
fn rsa_encrypt_and_decrypt() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let rsa = kms.create_key("RSA_2048", "ENCRYPT_DECRYPT");
    let material = kms.material_id(&rsa);
    let secret = b"an RSA-protected secret";
    for algorithm in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
        let r = encrypt(&engine, &rsa, secret, None, Some(algorithm)).expect("encrypt");
        assert_eq!(r.encryption_algorithm, algorithm);
        assert_eq!(r.ciphertext_blob.bytes().len(), 256);
        let event = last(&sink);
        assert_crypto_record(&event, "Encrypt", &rsa, Some(&material));
        assert_eq!(
            record_json(&event)["requestParameters"],
            json!({"keyId": rsa, "encryptionAlgorithm": algorithm})
        );
        assert_no_secrets(&event, &[secret, r.ciphertext_blob.bytes()]);
        let opened = decrypt(
            &engine,
            r.ciphertext_blob.bytes(),
            None,
            Some(&rsa),
            Some(algorithm),
        )
        .expect("decrypt");
        assert_eq!(opened.plaintext.bytes(), secret);
        assert_eq!(opened.encryption_algorithm, algorithm);
        let event = last(&sink);
        assert_crypto_record(&event, "Decrypt", &rsa, Some(&material));
        assert_eq!(
            record_json(&event)["requestParameters"],
            json!({"keyId": rsa, "encryptionAlgorithm": algorithm})
        );
        assert_no_secrets(&event, &[secret, r.ciphertext_blob.bytes()]);
    }
    let blob = encrypt(&engine, &rsa, secret, None, Some("RSAES_OAEP_SHA_256"))
        .expect("encrypt")
        .ciphertext_blob;
    // The other OAEP hash does not decrypt it; asymmetric Decrypt needs the KeyId.
    assert_eq!(
        decrypt(
            &engine,
            blob.bytes(),
            None,
            Some(&rsa),
            Some("RSAES_OAEP_SHA_1")
        )
        .expect_err("hash")
        .kind,
        KmsErrorKind::InvalidCiphertext
    );
    assert_error(&last(&sink), "InvalidCiphertextException");
    assert_eq!(
        decrypt(
            &engine,
            blob.bytes(),
            None,
            None,
            Some("RSAES_OAEP_SHA_256")
        )
        .expect_err("key id")
        .kind,
        KmsErrorKind::Validation
    );
    assert_eq!(
        decrypt(&engine, blob.bytes(), None, Some(&rsa), None)
            .expect_err("symmetric")
            .kind,
        KmsErrorKind::InvalidKeyUsage
    );
    // 190 bytes is the most RSA_2048 takes with SHA-256.
    encrypt(&engine, &rsa, &[1u8; 190], None, Some("RSAES_OAEP_SHA_256")).expect("190 bytes");
    assert_eq!(
        encrypt(&engine, &rsa, &[1u8; 191], None, Some("RSAES_OAEP_SHA_256"))
            .expect_err("191")
            .kind,
        KmsErrorKind::Validation
    );
    assert_eq!(
        encrypt(&engine, &rsa, secret, None, None)
            .expect_err("symmetric on rsa")
            .kind,
        KmsErrorKind::InvalidKeyUsage
    );
    assert_eq!(
        encrypt(
            &engine,
            &rsa,
            secret,
            Some(context(&[("a", "b")])),
            Some("RSAES_OAEP_SHA_1")
        )
        .expect_err("context")
        .kind,
        KmsErrorKind::Validation
    );
    assert_eq!(
        encrypt(&engine, &rsa, secret, None, Some("RSA_PLAIN"))
            .expect_err("enum")
            .kind,
        KmsErrorKind::Validation
    );
    let sym = kms.symmetric();
    assert_eq!(
        encrypt(&engine, &sym, secret, None, Some("RSAES_OAEP_SHA_1"))
            .expect_err("oaep on aes")
            .kind,
        KmsErrorKind::InvalidKeyUsage
    );
    let signing = kms.create_key("RSA_2048", "SIGN_VERIFY");
    assert_eq!(
        encrypt(&engine, &signing, secret, None, Some("RSAES_OAEP_SHA_1"))
            .expect_err("sign key")
            .kind,
        KmsErrorKind::InvalidKeyUsage
    );
    // Symmetric encryption still works as before, and a blob's key still wins over a wrong KeyId.
    let sym_blob = encrypt(&engine, &sym, secret, None, None)
        .expect("symmetric")
        .ciphertext_blob;
    assert_eq!(
        decrypt(&engine, sym_blob.bytes(), None, None, None)
            .expect("decrypt")
            .plaintext
            .bytes(),
        secret
    );
    let other = kms.symmetric();
    assert_eq!(
        decrypt(&engine, sym_blob.bytes(), None, Some(&other), None)
            .expect_err("other key")
            .kind,
        KmsErrorKind::IncorrectKey
    );
    kms.disable(&rsa);
    assert_eq!(
        decrypt(
            &engine,
            blob.bytes(),
            None,
            Some(&rsa),
            Some("RSAES_OAEP_SHA_256")
        )
        .expect_err("disabled")
        .kind,
        KmsErrorKind::Disabled
    );
}
