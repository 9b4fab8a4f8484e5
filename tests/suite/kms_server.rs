//! The mini-KMS server driven by the real Rust AWS SDK (`aws-sdk-kms`) through an endpoint
//! override: the binary is started on a free loopback port with a temporary configuration,
//! data directory and trail directory, and every check goes over HTTP with SigV4.

use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeySpec, EncryptionAlgorithmSpec, GrantOperation, KeySpec, KeyState, KeyUsageType,
    MacAlgorithmSpec, RotationType, SigningAlgorithmSpec,
};

use crate::server::{trail_records, ServerProcess};

const ACCOUNT: &str = "111122223333";
const ALICE: (&str, &str) = ("AKIAEXAMPLEALICE0001", "alice-secret");
const BOB: (&str, &str) = ("AKIAEXAMPLEBOB000001", "bob-secret");
const CAROL: (&str, &str) = ("ASIAEXAMPLECAROL0001", "carol-secret");
const SEEDED_KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const RESTRICTED_KEY: &str = "5678abcd-12ab-34cd-56ef-1234567890ab";
const SEEDED_MATERIAL: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
const ROOT_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The configuration: alice (IAM user, identity policy kms:*), bob (IAM user, kms:* too,
/// but denied by the restricted key's policy), carol (a session of role `app`, no identity
/// policy: she needs a grant), one seeded key with fixed material and an alias, and the
/// restricted key.
fn config_text(trail: &Path, extra: &str) -> String {
    let allow_all = r#"[{ Version: "2012-10-17", Statement: [{ Effect: Allow, Action: "kms:*", Resource: "*" }] }]"#;
    format!(
        r#"
region: us-east-1
credentials:
  - {{ access_key_id: {alice}, secret_access_key: {alice_secret}, account: "{ACCOUNT}", user: alice }}
  - {{ access_key_id: {bob}, secret_access_key: {bob_secret}, account: "{ACCOUNT}", user: bob }}
  - {{ access_key_id: {carol}, secret_access_key: {carol_secret}, account: "{ACCOUNT}", role: app, session: worker }}
identity_policies:
  "arn:aws:iam::{ACCOUNT}:user/alice": {allow_all}
  "arn:aws:iam::{ACCOUNT}:user/bob": {allow_all}
seed:
  keys:
    - {{ id: {SEEDED_KEY}, material_hex: "{SEEDED_MATERIAL}", description: seeded }}
    - id: {RESTRICTED_KEY}
      policy:
        Version: "2012-10-17"
        Statement:
          - {{ Sid: Admins, Effect: Allow, Principal: {{ AWS: "arn:aws:iam::{ACCOUNT}:root" }}, Action: "kms:*", Resource: "*" }}
          - {{ Sid: NotBob, Effect: Deny, Principal: {{ AWS: "arn:aws:iam::{ACCOUNT}:user/bob" }}, Action: ["kms:Encrypt", "kms:Decrypt"], Resource: "*" }}
  aliases:
    - {{ name: alias/seeded, key: {SEEDED_KEY} }}
trail:
  dir: {trail}
  flush_interval: 1s
{extra}
"#,
        alice = ALICE.0,
        alice_secret = ALICE.1,
        bob = BOB.0,
        bob_secret = BOB.1,
        carol = CAROL.0,
        carol_secret = CAROL.1,
        trail = trail.display(),
    )
}

/// A running server; SIGTERM on drop.
/// Starts the server over `dir` (configuration `dir/kms.yml` from [`config_text`] with
/// `extra`, data in `dir/data`, trail in `dir/trail`).
fn start(dir: &Path, extra: &str) -> ServerProcess {
    let config = dir.join("kms.yml");
    std::fs::write(&config, config_text(&dir.join("trail"), extra)).expect("config");
    ServerProcess::start(&config, &dir.join("data"), None, Some(ROOT_KEY_HEX))
}

fn aead(key: &[u8]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("data key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_runs_every_kind_of_key_against_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), "");
    let alice = server.client(ALICE);

    // The seeded key: fixed id, reachable by its alias, usable at once.
    let seeded = alice
        .describe_key()
        .key_id("alias/seeded")
        .send()
        .await
        .expect("describe seeded");
    let metadata = seeded.key_metadata().expect("metadata");
    assert_eq!(metadata.key_id(), SEEDED_KEY);
    assert_eq!(metadata.description(), Some("seeded"));
    assert_eq!(metadata.key_state(), Some(&KeyState::Enabled));

    // Symmetric: encrypt and decrypt with an encryption context.
    let created = alice
        .create_key()
        .description("app data")
        .send()
        .await
        .expect("create symmetric");
    let key_id = created
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_owned();
    let encrypted = alice
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("attack at dawn"))
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("encrypt");
    let blob = encrypted.ciphertext_blob().expect("ciphertext").clone();
    let decrypted = alice
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("decrypt");
    assert_eq!(
        decrypted.plaintext().map(Blob::as_ref),
        Some(&b"attack at dawn"[..])
    );
    assert_eq!(decrypted.key_id(), encrypted.key_id());
    let wrong_context = alice
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("purpose", "other")
        .send()
        .await
        .expect_err("another context");
    assert!(
        wrong_context
            .as_service_error()
            .is_some_and(|e| e.is_invalid_ciphertext_exception()),
        "{wrong_context:?}"
    );

    // Envelope encryption with a data key.
    let data_key = alice
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("data key");
    let plain_key = data_key
        .plaintext()
        .expect("plaintext key")
        .as_ref()
        .to_vec();
    assert_eq!(plain_key.len(), 32);
    let nonce = [7u8; 12];
    let mut sealed = b"envelope contents".to_vec();
    aead(&plain_key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut sealed,
        )
        .expect("seal");
    let unwrapped = alice
        .decrypt()
        .ciphertext_blob(data_key.ciphertext_blob().expect("wrapped key").clone())
        .send()
        .await
        .expect("unwrap data key");
    let opened = aead(unwrapped.plaintext().expect("key").as_ref())
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut sealed,
        )
        .expect("open")
        .to_vec();
    assert_eq!(opened, b"envelope contents");

    // Seeded material works like any other.
    let with_seeded = alice
        .encrypt()
        .key_id("alias/seeded")
        .plaintext(Blob::new("seeded"))
        .send()
        .await
        .expect("encrypt with the seeded key");
    let back = alice
        .decrypt()
        .ciphertext_blob(with_seeded.ciphertext_blob().expect("blob").clone())
        .send()
        .await
        .expect("decrypt with the seeded key");
    assert_eq!(
        back.key_id().map(|arn| arn.ends_with(SEEDED_KEY)),
        Some(true)
    );

    // RSA encryption and signing, ECC signing.
    let rsa_encrypt = alice
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .expect("RSA key");
    let rsa_id = rsa_encrypt
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_owned();
    let rsa_blob = alice
        .encrypt()
        .key_id(&rsa_id)
        .plaintext(Blob::new("rsa secret"))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect("RSA encrypt");
    let rsa_plain = alice
        .decrypt()
        .key_id(&rsa_id)
        .ciphertext_blob(rsa_blob.ciphertext_blob().expect("blob").clone())
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect("RSA decrypt");
    assert_eq!(
        rsa_plain.plaintext().map(Blob::as_ref),
        Some(&b"rsa secret"[..])
    );

    for (spec, algorithm) in [
        (KeySpec::Rsa2048, SigningAlgorithmSpec::RsassaPssSha256),
        (KeySpec::EccNistP256, SigningAlgorithmSpec::EcdsaSha256),
    ] {
        let key = alice
            .create_key()
            .key_spec(spec.clone())
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .expect("signing key");
        let id = key.key_metadata().expect("metadata").key_id().to_owned();
        let signature = alice
            .sign()
            .key_id(&id)
            .message(Blob::new("a release"))
            .signing_algorithm(algorithm.clone())
            .send()
            .await
            .expect("sign");
        let signature = signature.signature().expect("signature").clone();
        let verified = alice
            .verify()
            .key_id(&id)
            .message(Blob::new("a release"))
            .signature(signature.clone())
            .signing_algorithm(algorithm.clone())
            .send()
            .await
            .expect("verify");
        assert!(verified.signature_valid(), "{spec:?}");
        let forged = alice
            .verify()
            .key_id(&id)
            .message(Blob::new("another release"))
            .signature(signature)
            .signing_algorithm(algorithm)
            .send()
            .await
            .expect_err("forged");
        assert!(
            forged
                .as_service_error()
                .is_some_and(|e| e.is_kms_invalid_signature_exception()),
            "{forged:?}"
        );
    }

    // HMAC.
    let hmac = alice
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .expect("HMAC key");
    let hmac_id = hmac.key_metadata().expect("metadata").key_id().to_owned();
    let mac = alice
        .generate_mac()
        .key_id(&hmac_id)
        .message(Blob::new("token"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect("generate mac");
    let checked = alice
        .verify_mac()
        .key_id(&hmac_id)
        .message(Blob::new("token"))
        .mac(mac.mac().expect("mac").clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect("verify mac");
    assert!(checked.mac_valid());

    // Aliases.
    alice
        .create_alias()
        .alias_name("alias/app")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("create alias");
    let by_alias = alice
        .encrypt()
        .key_id("alias/app")
        .plaintext(Blob::new("x"))
        .send()
        .await
        .expect("encrypt by alias");
    assert_eq!(
        by_alias.key_id().map(|arn| arn.ends_with(&key_id)),
        Some(true)
    );
    alice
        .update_alias()
        .alias_name("alias/app")
        .target_key_id(SEEDED_KEY)
        .send()
        .await
        .expect("update alias");
    let aliases = alice.list_aliases().send().await.expect("list aliases");
    let app = aliases
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some("alias/app"))
        .expect("alias/app listed");
    assert_eq!(app.target_key_id(), Some(SEEDED_KEY));
    alice
        .delete_alias()
        .alias_name("alias/app")
        .send()
        .await
        .expect("delete alias");
    let gone = alice
        .describe_key()
        .key_id("alias/app")
        .send()
        .await
        .expect_err("deleted alias");
    assert!(
        gone.as_service_error()
            .is_some_and(|e| e.is_not_found_exception()),
        "{gone:?}"
    );

    // Grants: carol (a session of role app, no identity policy) needs one.
    let carol = server.client(CAROL);
    let denied = carol
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .expect_err("no grant yet");
    assert_eq!(denied.code(), Some("AccessDeniedException"), "{denied:?}");
    let grant = alice
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(format!("arn:aws:iam::{ACCOUNT}:role/app"))
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .expect("create grant");
    assert!(grant.grant_id().is_some_and(|id| !id.is_empty()));
    let granted = carol
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("granted"))
        .send()
        .await
        .expect("encrypt under the grant");
    let granted_back = carol
        .decrypt()
        .ciphertext_blob(granted.ciphertext_blob().expect("blob").clone())
        .send()
        .await
        .expect("decrypt under the grant");
    assert_eq!(
        granted_back.plaintext().map(Blob::as_ref),
        Some(&b"granted"[..])
    );
    let listed = alice
        .list_grants()
        .key_id(&key_id)
        .send()
        .await
        .expect("list grants");
    assert_eq!(listed.grants().len(), 1);

    // Rotation: automatic on, on demand, listed.
    alice
        .enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("enable rotation");
    let status = alice
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .expect("rotation status");
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    alice
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .expect("rotate on demand");
    let rotations = alice
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .expect("list rotations");
    let kinds: Vec<_> = rotations
        .rotations()
        .iter()
        .filter_map(|r| r.rotation_type().cloned())
        .collect();
    assert_eq!(kinds, [RotationType::OnDemand]);
    // Ciphertext from before the rotation still decrypts.
    let old = alice
        .decrypt()
        .ciphertext_blob(encrypted.ciphertext_blob().expect("blob").clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("decrypt after rotation");
    assert_eq!(
        old.plaintext().map(Blob::as_ref),
        Some(&b"attack at dawn"[..])
    );

    // Deletion scheduled, then cancelled (the key comes back disabled).
    let scheduled = alice
        .schedule_key_deletion()
        .key_id(&hmac_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule deletion");
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    let pending = alice
        .generate_mac()
        .key_id(&hmac_id)
        .message(Blob::new("token"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect_err("pending deletion");
    assert!(
        pending
            .as_service_error()
            .is_some_and(|e| e.is_kms_invalid_state_exception()),
        "{pending:?}"
    );
    alice
        .cancel_key_deletion()
        .key_id(&hmac_id)
        .send()
        .await
        .expect("cancel deletion");
    let after = alice
        .describe_key()
        .key_id(&hmac_id)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        after.key_metadata().and_then(|m| m.key_state()),
        Some(&KeyState::Disabled)
    );

    // Access denied by a key policy: bob may use KMS, but not the restricted key.
    let bob = server.client(BOB);
    let refused = bob
        .encrypt()
        .key_id(RESTRICTED_KEY)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .expect_err("denied by the key policy");
    assert_eq!(refused.code(), Some("AccessDeniedException"), "{refused:?}");
    assert!(
        refused
            .message()
            .is_some_and(|m| m.contains("arn:aws:iam::111122223333:user/bob")),
        "{refused:?}"
    );
    bob.describe_key()
        .key_id(RESTRICTED_KEY)
        .send()
        .await
        .expect("bob may describe it");

    // A key that does not exist is a typed NotFoundException.
    let missing = alice
        .describe_key()
        .key_id("0000dead-12ab-34cd-56ef-1234567890ab")
        .send()
        .await
        .expect_err("no such key");
    assert!(
        missing
            .as_service_error()
            .is_some_and(|e| e.is_not_found_exception()),
        "{missing:?}"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_signatures_get_kms_errors_and_every_call_reaches_the_trail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), "");
    let port = server.port;
    let alice = server.client(ALICE);
    alice
        .encrypt()
        .key_id(SEEDED_KEY)
        .plaintext(Blob::new("logged"))
        .send()
        .await
        .expect("encrypt");
    let carol = server.client(CAROL);
    carol
        .describe_key()
        .key_id(SEEDED_KEY)
        .send()
        .await
        .expect_err("carol has no identity policy");
    // Creating a key is an IAM permission (resource "*"): without an identity policy that
    // allows kms:CreateKey, carol cannot create one, and no key appears.
    let refused = carol
        .create_key()
        .description("carol's key")
        .send()
        .await
        .expect_err("kms:CreateKey needs an identity policy");
    assert_eq!(refused.code(), Some("AccessDeniedException"), "{refused:?}");
    assert_eq!(
        refused.message(),
        Some(
            "User: arn:aws:sts::111122223333:assumed-role/app/worker is not authorized to \
             perform: kms:CreateKey on resource: * because no identity-based policy allows the \
             kms:CreateKey action"
        )
    );
    let keys = carol
        .list_keys()
        .send()
        .await
        .expect_err("kms:ListKeys is IAM's too");
    assert_eq!(keys.code(), Some("AccessDeniedException"), "{keys:?}");
    let listed = alice.list_keys().send().await.expect("alice lists keys");
    assert_eq!(
        listed.keys().len(),
        2,
        "the two seeded keys only: {listed:?}"
    );

    let wrong = server.client((ALICE.0, "not-her-secret"));
    let err = wrong.list_keys().send().await.expect_err("bad signature");
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    let unknown = server.client(("AKIANOBODY0000000000", "x"));
    let err = unknown.list_keys().send().await.expect_err("unknown key");
    assert_eq!(err.code(), Some("UnrecognizedClientException"), "{err:?}");
    server.stop();

    let records = trail_records(&dir.path().join("trail"));
    let encrypt = records
        .iter()
        .find(|r| r["eventName"] == "Encrypt" && r["errorCode"].is_null())
        .expect("the Encrypt record");
    assert_eq!(encrypt["userIdentity"]["type"], "IAMUser");
    assert_eq!(
        encrypt["userIdentity"]["arn"],
        "arn:aws:iam::111122223333:user/alice"
    );
    assert_eq!(encrypt["userIdentity"]["accessKeyId"], ALICE.0);
    assert_eq!(encrypt["sourceIPAddress"], "127.0.0.1");
    assert!(
        encrypt["userAgent"]
            .as_str()
            .is_some_and(|ua| ua.contains("aws-sdk-rust")),
        "{encrypt}"
    );
    assert_eq!(
        encrypt["tlsDetails"]["clientProvidedHostHeader"],
        format!("127.0.0.1:{port}")
    );
    assert_eq!(
        encrypt["resources"][0]["ARN"],
        format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{SEEDED_KEY}")
    );

    let denied = records
        .iter()
        .find(|r| r["eventName"] == "DescribeKey" && r["errorCode"] == "AccessDeniedException")
        .expect("carol's refused DescribeKey");
    assert_eq!(denied["userIdentity"]["type"], "AssumedRole");
    assert_eq!(
        denied["userIdentity"]["arn"],
        "arn:aws:sts::111122223333:assumed-role/app/worker"
    );
    assert_eq!(
        denied["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"],
        "arn:aws:iam::111122223333:role/app"
    );
    assert_eq!(denied["userIdentity"]["accessKeyId"], CAROL.0);
    let refused_create = records
        .iter()
        .find(|r| r["eventName"] == "CreateKey")
        .expect("carol's refused CreateKey is recorded");
    assert_eq!(refused_create["errorCode"], "AccessDeniedException");
    assert_eq!(
        refused_create["userIdentity"]["arn"],
        "arn:aws:sts::111122223333:assumed-role/app/worker"
    );
    assert!(
        refused_create["responseElements"].is_null(),
        "{refused_create}"
    );

    let bad = records
        .iter()
        .find(|r| r["errorCode"] == "InvalidSignatureException")
        .expect("the refused signature is recorded");
    assert_eq!(bad["eventName"], "ListKeys");
    assert_eq!(
        bad["userIdentity"]["arn"],
        "arn:aws:iam::111122223333:user/alice"
    );
    assert!(records
        .iter()
        .any(|r| r["errorCode"] == "UnrecognizedClientException"
            && r["recipientAccountId"] == ACCOUNT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_rotation_runs_when_the_clock_has_moved_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path(), "");
    let alice = server.client(ALICE);
    alice
        .enable_key_rotation()
        .key_id(SEEDED_KEY)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("enable rotation");
    let before = alice
        .encrypt()
        .key_id(SEEDED_KEY)
        .plaintext(Blob::new("before the rotation"))
        .send()
        .await
        .expect("encrypt");
    server.stop();

    // The same store, 91 days later on the engine's clock: the rotation is due at start.
    let server = start(dir.path(), "clock_offset: 91d");
    let alice = server.client(ALICE);
    let rotations = alice
        .list_key_rotations()
        .key_id(SEEDED_KEY)
        .send()
        .await
        .expect("list rotations");
    let kinds: Vec<_> = rotations
        .rotations()
        .iter()
        .filter_map(|r| r.rotation_type().cloned())
        .collect();
    assert_eq!(kinds, [RotationType::Automatic]);
    let back = alice
        .decrypt()
        .ciphertext_blob(before.ciphertext_blob().expect("blob").clone())
        .send()
        .await
        .expect("old ciphertext after rotation and restart");
    assert_eq!(
        back.plaintext().map(Blob::as_ref),
        Some(&b"before the rotation"[..])
    );
    // Seeding did not recreate the seeded key: it kept its rotation.
    let status = alice
        .get_key_rotation_status()
        .key_id(SEEDED_KEY)
        .send()
        .await
        .expect("rotation status");
    assert!(status.key_rotation_enabled());
    server.stop();

    let records = trail_records(&dir.path().join("trail"));
    let rotate = records
        .iter()
        .find(|r| r["eventName"] == "RotateKey")
        .expect("the RotateKey service event");
    assert_eq!(rotate["eventType"], "AwsServiceEvent");
    assert_eq!(rotate["serviceEventDetails"]["rotationType"], "AUTOMATIC");
}
