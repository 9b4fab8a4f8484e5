//! The mini-KMS audit records against the verbatim AWS examples of
//! `reference/cloudtrail-and-kms-formats.md`, member order included, and the trail the
//! `FileSink` writes read back through the project's own reader.
//!
//! Each expected record is the reference example with only the adjustments listed above it
//! (current-format fields, invalid JSON repaired, doc typos fixed).

use std::collections::BTreeSet;

use serde_json::json;

use kms_audit::kms::audit::rules::{self, KeyMetadataRecord};
use kms_audit::kms::audit::{
    java_date, write_record, AuditEvent, AuditSink, CallerIdentity, FileSink, FileSinkConfig,
    Resource, SessionAttributes, TlsDetails,
};
use kms_audit::trail::problem::{Location, Problem};
use kms_audit::trail::record::Record;
use kms_audit::trail::shape::{read_records, RecordSink};

use crate::common::{
    assert_log_file_key, assert_same, member, node, relative_keys, time, Node, ACCOUNT,
};

fn emitted(event: &AuditEvent) -> String {
    let mut out = Vec::new();
    write_record(event, &mut out).expect("write");
    let text = String::from_utf8(out).expect("utf8");
    assert!(
        !text.contains('\n') && !text.contains(": "),
        "compact: {text}"
    );
    text
}

fn check(event: &AuditEvent, expected: &str) {
    let got = emitted(event);
    assert_same("$", &node(&got), &node(expected));
}

// ---------------------------------------------------------------- identities of the examples

const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

fn key_arn(region: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}")
}

/// Alice of the KMS Developer Guide examples.
fn alice() -> CallerIdentity {
    CallerIdentity::IamUser {
        account_id: ACCOUNT.into(),
        user_name: "Alice".into(),
        principal_id: "EX_PRINCIPAL_ID".into(),
        access_key_id: "EXAMPLE_KEY_ID".into(),
        invoked_by: None,
    }
}

/// An API call by Alice from `192.0.2.0` with `userAgent` `AWS Internal`, as the doc examples.
fn alice_call(name: &str, at: &str, region: &str, request_id: &str, event_id: &str) -> AuditEvent {
    let mut event = AuditEvent::api_call(
        name,
        time(at),
        region,
        alice(),
        request_id.into(),
        event_id.into(),
    );
    event.source_ip_address = "192.0.2.0".into();
    event.user_agent = Some("AWS Internal".into());
    event.read_only = rules::is_read_only(name);
    event
}

/// The voclabs session of the 2026 real records (Appendix C2).
fn voclabs(access_key_id: &str) -> CallerIdentity {
    CallerIdentity::AssumedRole {
        account_id: "715248393954".into(),
        role_name: "voclabs".into(),
        role_id: "AROA2NCBAL3RPBAGXM7CZ".into(),
        session_name: "user4632195=Mamadou__Sy".into(),
        access_key_id: access_key_id.into(),
        session: SessionAttributes::new(time("2026-05-18T04:14:33Z")),
        invoked_by: None,
    }
}

// ---------------------------------------------------------------- the examples

/// B4 Encrypt (2025). Adjusted: the published JSON's trailing comma and missing comma
/// repaired; the resource written in the current `accountId, type, ARN` form.
#[test]
fn encrypt_matches_the_2025_example() {
    let mut event = alice_call(
        "Encrypt",
        "2025-05-20T20:46:16Z",
        "us-east-1",
        "f3423043-63bc-11e4-bc2b-4198b6150d5c",
        "91235988-eb87-476a-ac2c-0cdc244e6dca",
    );
    let arn = key_arn("us-west-2", KEY_ID);
    event.request_parameters = json!({
        "keyId": arn, "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "encryptionContext": {"Department": "Engineering"}
    });
    event.response_elements = rules::response_elements("Encrypt", Some(&arn), None);
    event.set_key_material_id("123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0");
    event.resources = vec![Resource::kms_key(ACCOUNT, &arn)];
    event.tls_details = Some(TlsDetails::tls13("us-east-1"));
    check(
        &event,
        r#"{ "eventVersion": "1.11", "userIdentity": { "type": "IAMUser", "principalId": "EX_PRINCIPAL_ID", "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": "111122223333", "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice" }, "eventTime": "2025-05-20T20:46:16Z", "eventSource": "kms.amazonaws.com", "eventName": "Encrypt", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.0", "userAgent": "AWS Internal", "requestParameters": { "encryptionContext": { "Department": "Engineering" }, "keyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "encryptionAlgorithm": "SYMMETRIC_DEFAULT" }, "responseElements": null, "additionalEventData": { "keyMaterialId": "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0" }, "requestID": "f3423043-63bc-11e4-bc2b-4198b6150d5c", "eventID": "91235988-eb87-476a-ac2c-0cdc244e6dca", "readOnly": true, "resources": [{ "accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab" }], "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": "111122223333", "eventCategory": "Management", "tlsDetails": { "tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_256_GCM_SHA384", "clientProvidedHostHeader": "kms.us-east-1.amazonaws.com" } }"#,
    );
}

/// A Decrypt (ct-decrypt-default, 2020). Adjusted to the current format: eventVersion 1.11,
/// `additionalEventData.keyMaterialId` (rule 6), `managementEvent`, `eventCategory`.
#[test]
fn decrypt_matches_the_example() {
    let mut event = alice_call(
        "Decrypt",
        "2020-07-27T22:58:24Z",
        "us-west-2",
        "12345126-30d5-4b28-98b9-9153da559963",
        "abcde202-ba1a-467c-b4ba-f729d45ae521",
    );
    let arn = key_arn("us-west-2", KEY_ID);
    event.request_parameters = json!({
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": arn,
        "encryptionContext": {"Department": "Engineering", "Project": "Alpha"}
    });
    event.set_key_material_id("96083e4fb6dbc41d77578a213a6b6669c044dd4c143e96755396d2bf11fd6068");
    event.resources = vec![Resource::kms_key(ACCOUNT, &arn)];
    check(
        &event,
        r#"{
    "eventVersion": "1.11",
    "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID", "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": "111122223333", "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
    "eventTime": "2020-07-27T22:58:24Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "Decrypt",
    "awsRegion": "us-west-2",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "AWS Internal",
    "requestParameters": {
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "keyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "encryptionContext": {"Department": "Engineering", "Project": "Alpha"}
    },
    "responseElements": null,
    "additionalEventData": {"keyMaterialId": "96083e4fb6dbc41d77578a213a6b6669c044dd4c143e96755396d2bf11fd6068"},
    "requestID": "12345126-30d5-4b28-98b9-9153da559963",
    "eventID": "abcde202-ba1a-467c-b4ba-f729d45ae521",
    "readOnly": true,
    "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "111122223333",
    "eventCategory": "Management"
}"#,
    );
}

/// A Decrypt failure (ct-decrypt-fail, 2022). Adjusted: the missing comma after
/// `errorCode` repaired; eventVersion 1.11, `managementEvent`, `eventCategory`.
#[test]
fn decrypt_failure_matches_the_example() {
    let mut event = alice_call(
        "Decrypt",
        "2022-11-24T18:57:43Z",
        "us-west-2",
        "22345126-30d5-4b28-98b9-9153da559963",
        "abcde202-ba1a-467c-b4ba-f729d45ae521",
    );
    let arn = key_arn("us-west-2", KEY_ID);
    event.request_parameters = json!({
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": arn,
        "encryptionContext": {"Department": "Engineering", "Project": "Alpha"}
    });
    event.fail(
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
    );
    event.resources = vec![Resource::kms_key(ACCOUNT, &arn)];
    check(
        &event,
        r#"{
    "eventVersion": "1.11",
    "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID", "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": "111122223333", "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
    "eventTime": "2022-11-24T18:57:43Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "Decrypt",
    "awsRegion": "us-west-2",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "AWS Internal",
    "errorCode": "IncorrectKeyException",
    "errorMessage": "The key ID in the request does not identify a CMK that can perform this operation.",
    "requestParameters": {
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "keyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "encryptionContext": {"Department": "Engineering", "Project": "Alpha"}
    },
    "responseElements": null,
    "requestID": "22345126-30d5-4b28-98b9-9153da559963",
    "eventID": "abcde202-ba1a-467c-b4ba-f729d45ae521",
    "readOnly": true,
    "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "111122223333",
    "eventCategory": "Management"
}"#,
    );
}

/// CreateKey of an EXTERNAL key (ct-createkey, first example, 2022). Adjusted:
/// eventVersion 1.11; `AWSAccountId` written `aWSAccountId` (rule 12, majority spelling).
/// The keyMetadata member order is the example's.
#[test]
fn create_key_matches_the_example() {
    let mut event = alice_call(
        "CreateKey",
        "2022-08-10T22:38:27Z",
        "us-west-2",
        "1aef6713-0223-4ff7-9a6d-781360521930",
        "36327b37-f4f6-40a9-92ab-48064ec905a2",
    );
    let arn = key_arn("us-west-2", KEY_ID);
    event.request_parameters = json!({
        "description": "", "origin": "EXTERNAL", "bypassPolicyLockoutSafetyCheck": false,
        "customerMasterKeySpec": "SYMMETRIC_DEFAULT", "keySpec": "SYMMETRIC_DEFAULT",
        "keyUsage": "ENCRYPT_DECRYPT"
    });
    let metadata = KeyMetadataRecord {
        aws_account_id: ACCOUNT.into(),
        key_id: KEY_ID.into(),
        arn: arn.clone(),
        creation_date: java_date(event.event_time),
        enabled: false,
        description: String::new(),
        key_usage: "ENCRYPT_DECRYPT".into(),
        key_state: "PendingImport".into(),
        origin: "EXTERNAL".into(),
        key_manager: "CUSTOMER".into(),
        customer_master_key_spec: "SYMMETRIC_DEFAULT".into(),
        key_spec: "SYMMETRIC_DEFAULT".into(),
        encryption_algorithms: vec!["SYMMETRIC_DEFAULT".into()],
        multi_region: false,
        ..KeyMetadataRecord::default()
    };
    event.response_elements = rules::response_elements(
        "CreateKey",
        Some(&arn),
        Some(rules::key_metadata_json(&metadata)),
    );
    event.resources = vec![Resource::kms_key(ACCOUNT, &arn)];
    check(
        &event,
        r#"{
    "eventVersion": "1.11",
    "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID", "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": "111122223333", "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
    "eventTime": "2022-08-10T22:38:27Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "CreateKey",
    "awsRegion": "us-west-2",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "AWS Internal",
    "requestParameters": {
        "description": "",
        "origin": "EXTERNAL",
        "bypassPolicyLockoutSafetyCheck": false,
        "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "keySpec": "SYMMETRIC_DEFAULT",
        "keyUsage": "ENCRYPT_DECRYPT"
    },
    "responseElements": {
        "keyMetadata": {
            "aWSAccountId": "111122223333",
            "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "creationDate": "Aug 10, 2022, 10:38:27 PM",
            "enabled": false,
            "description": "",
            "keyUsage": "ENCRYPT_DECRYPT",
            "keyState": "PendingImport",
            "origin": "EXTERNAL",
            "keyManager": "CUSTOMER",
            "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "keySpec": "SYMMETRIC_DEFAULT",
            "encryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "multiRegion": false
        }
    },
    "requestID": "1aef6713-0223-4ff7-9a6d-781360521930",
    "eventID": "36327b37-f4f6-40a9-92ab-48064ec905a2",
    "readOnly": false,
    "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "111122223333",
    "eventCategory": "Management"
}"#,
    );
}

/// ScheduleKeyDeletion (ct-schedule-key-deletion, first example, 2021). Adjusted:
/// eventVersion 1.11, `managementEvent`, `eventCategory`; the doc typo
/// `"Apr 12, 2021 18:58:30 PM"` written in the current form `"Apr 12, 2021, 6:58:30 PM"`.
#[test]
fn schedule_key_deletion_matches_the_example() {
    let mut event = alice_call(
        "ScheduleKeyDeletion",
        "2021-03-23T18:58:30Z",
        "us-east-1",
        "ee408f36-ea01-422b-ac14-b0f147c68334",
        "3c4226b0-1e81-48a8-a333-7fa5f3cbd118",
    );
    let arn = key_arn("us-west-2", KEY_ID);
    event.request_parameters = json!({"pendingWindowInDays": 20, "keyId": KEY_ID});
    let deletion = event.event_time + chrono::Duration::days(20);
    event.response_elements = rules::response_elements(
        "ScheduleKeyDeletion",
        Some(&arn),
        Some(
            json!({"keyId": arn, "keyState": "PendingDeletion", "deletionDate": java_date(deletion)}),
        ),
    );
    event.resources = vec![Resource::kms_key(ACCOUNT, &arn)];
    check(
        &event,
        r#"{
    "eventVersion": "1.11",
    "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID", "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": "111122223333", "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
    "eventTime": "2021-03-23T18:58:30Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "ScheduleKeyDeletion",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "AWS Internal",
    "requestParameters": {"pendingWindowInDays": 20, "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
    "responseElements": {
        "keyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "keyState": "PendingDeletion",
        "deletionDate": "Apr 12, 2021, 6:58:30 PM"
    },
    "requestID": "ee408f36-ea01-422b-ac14-b0f147c68334",
    "eventID": "3c4226b0-1e81-48a8-a333-7fa5f3cbd118",
    "readOnly": false,
    "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "111122223333",
    "eventCategory": "Management"
}"#,
    );
}

/// DisableKey, the real 2026 record (Appendix C2), verbatim: AssumedRole session, the
/// December-2022 `responseElements.keyId`, `tlsDetails.keyExchange`,
/// `sessionCredentialFromConsole`.
#[test]
fn disable_key_matches_the_real_2026_record() {
    let arn = "arn:aws:kms:us-east-1:715248393954:key/55487ec5-4c6b-4c87-80e5-3cfa8bcfc271";
    let mut event = AuditEvent::api_call(
        "DisableKey",
        time("2026-05-18T05:41:19Z"),
        "us-east-1",
        voclabs("ASIA2NCBAL3RMAXUTZQK"),
        "8dbc93c3-34e9-41fc-9bb4-72d84ab8f4c2".into(),
        "2f71316e-829b-4816-9202-797c00ffdf53".into(),
    );
    event.source_ip_address = "174.89.99.59".into();
    event.user_agent = Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36".into());
    event.request_parameters = json!({"keyId": "55487ec5-4c6b-4c87-80e5-3cfa8bcfc271"});
    event.read_only = rules::is_read_only("DisableKey");
    event.response_elements = rules::response_elements("DisableKey", Some(arn), None);
    event.resources = vec![Resource::kms_key("715248393954", arn)];
    event.tls_details = Some(TlsDetails {
        key_exchange: Some("X25519MLKEM768".into()),
        ..TlsDetails::tls13("us-east-1")
    });
    event.session_credential_from_console = true;
    check(
        &event,
        r#"{
    "eventVersion": "1.11",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROA2NCBAL3RPBAGXM7CZ:user4632195=Mamadou__Sy",
        "arn": "arn:aws:sts::715248393954:assumed-role/voclabs/user4632195=Mamadou__Sy",
        "accountId": "715248393954",
        "accessKeyId": "ASIA2NCBAL3RMAXUTZQK",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROA2NCBAL3RPBAGXM7CZ",
                "arn": "arn:aws:iam::715248393954:role/voclabs",
                "accountId": "715248393954",
                "userName": "voclabs"
            },
            "attributes": {
                "creationDate": "2026-05-18T04:14:33Z",
                "mfaAuthenticated": "false"
            }
        }
    },
    "eventTime": "2026-05-18T05:41:19Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "DisableKey",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "174.89.99.59",
    "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36",
    "requestParameters": {
        "keyId": "55487ec5-4c6b-4c87-80e5-3cfa8bcfc271"
    },
    "responseElements": {
        "keyId": "arn:aws:kms:us-east-1:715248393954:key/55487ec5-4c6b-4c87-80e5-3cfa8bcfc271"
    },
    "requestID": "8dbc93c3-34e9-41fc-9bb4-72d84ab8f4c2",
    "eventID": "2f71316e-829b-4816-9202-797c00ffdf53",
    "readOnly": false,
    "resources": [
        {
            "accountId": "715248393954",
            "type": "AWS::KMS::Key",
            "ARN": "arn:aws:kms:us-east-1:715248393954:key/55487ec5-4c6b-4c87-80e5-3cfa8bcfc271"
        }
    ],
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "715248393954",
    "eventCategory": "Management",
    "tlsDetails": {
        "tlsVersion": "TLSv1.3",
        "cipherSuite": "TLS_AES_256_GCM_SHA384",
        "clientProvidedHostHeader": "kms.us-east-1.amazonaws.com",
        "keyExchange": "X25519MLKEM768"
    },
    "sessionCredentialFromConsole": "true"
}"#,
    );
}

/// CreateGrant made by EC2 for a user, the real 2026 record (Appendix C2), verbatim:
/// `invokedBy`, grantId + keyId response, `sharedEventID`, VPC endpoint fields, no
/// `tlsDetails` (the engine's TLS details are dropped for a service call).
#[test]
fn create_grant_matches_the_real_2026_record() {
    let arn = "arn:aws:kms:us-east-1:715248393954:key/55487ec5-4c6b-4c87-80e5-3cfa8bcfc271";
    let mut event = AuditEvent::api_call(
        "CreateGrant",
        time("2026-05-18T06:16:58Z"),
        "us-east-1",
        voclabs("ASIA2NCBAL3RMBTONGYQ").invoked_by("ec2-frontend-api.amazonaws.com"),
        "b7fb8d8b-49f1-4f89-a200-7962685540ef".into(),
        "ccbed48e-00bd-3ccd-9b2b-b1a04add39f7".into(),
    );
    event.source_ip_address = "ec2-frontend-api.amazonaws.com".into();
    event.user_agent = Some("ec2-frontend-api.amazonaws.com".into());
    event.request_parameters = json!({
        "keyId": arn,
        "granteePrincipal": "arn:aws:sts::715248393954:assumed-role/aws:ec2-infrastructure/i-0c9d812c0cfa2790f",
        "retiringPrincipal": "ec2.us-east-1.amazonaws.com",
        "operations": ["Decrypt"],
        "constraints": {"encryptionContextSubset": {"aws:ebs:id": "vol-0894f908458cca170"}}
    });
    event.read_only = rules::is_read_only("CreateGrant");
    event.response_elements = rules::response_elements(
        "CreateGrant",
        Some(arn),
        Some(
            json!({"grantId": "d0c79b0dd35cdb5284835fd1805d64afea998325a5cad1c6753f67a9d284fe3e"}),
        ),
    );
    event.resources = vec![Resource::kms_key("715248393954", arn)];
    event.shared_event_id = Some("7941ede6-b598-4736-a076-5c19101b8670".into());
    event.vpc_endpoint_id = Some("AWS Internal".into());
    event.vpc_endpoint_account_id = Some("AWS Internal".into());
    event.tls_details = Some(TlsDetails::tls13("us-east-1"));
    event.session_credential_from_console = true;
    check(
        &event,
        r#"{
    "eventVersion": "1.11",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROA2NCBAL3RPBAGXM7CZ:user4632195=Mamadou__Sy",
        "arn": "arn:aws:sts::715248393954:assumed-role/voclabs/user4632195=Mamadou__Sy",
        "accountId": "715248393954",
        "accessKeyId": "ASIA2NCBAL3RMBTONGYQ",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROA2NCBAL3RPBAGXM7CZ",
                "arn": "arn:aws:iam::715248393954:role/voclabs",
                "accountId": "715248393954",
                "userName": "voclabs"
            },
            "attributes": {
                "creationDate": "2026-05-18T04:14:33Z",
                "mfaAuthenticated": "false"
            }
        },
        "invokedBy": "ec2-frontend-api.amazonaws.com"
    },
    "eventTime": "2026-05-18T06:16:58Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "CreateGrant",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "ec2-frontend-api.amazonaws.com",
    "userAgent": "ec2-frontend-api.amazonaws.com",
    "requestParameters": {
        "constraints": {
            "encryptionContextSubset": {
                "aws:ebs:id": "vol-0894f908458cca170"
            }
        },
        "retiringPrincipal": "ec2.us-east-1.amazonaws.com",
        "operations": [
            "Decrypt"
        ],
        "keyId": "arn:aws:kms:us-east-1:715248393954:key/55487ec5-4c6b-4c87-80e5-3cfa8bcfc271",
        "granteePrincipal": "arn:aws:sts::715248393954:assumed-role/aws:ec2-infrastructure/i-0c9d812c0cfa2790f"
    },
    "responseElements": {
        "grantId": "d0c79b0dd35cdb5284835fd1805d64afea998325a5cad1c6753f67a9d284fe3e",
        "keyId": "arn:aws:kms:us-east-1:715248393954:key/55487ec5-4c6b-4c87-80e5-3cfa8bcfc271"
    },
    "requestID": "b7fb8d8b-49f1-4f89-a200-7962685540ef",
    "eventID": "ccbed48e-00bd-3ccd-9b2b-b1a04add39f7",
    "readOnly": false,
    "resources": [
        {
            "accountId": "715248393954",
            "type": "AWS::KMS::Key",
            "ARN": "arn:aws:kms:us-east-1:715248393954:key/55487ec5-4c6b-4c87-80e5-3cfa8bcfc271"
        }
    ],
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "715248393954",
    "sharedEventID": "7941ede6-b598-4736-a076-5c19101b8670",
    "vpcEndpointId": "AWS Internal",
    "vpcEndpointAccountId": "AWS Internal",
    "eventCategory": "Management",
    "sessionCredentialFromConsole": "true"
}"#,
    );
}

/// RotateKey, automatic (Appendix B1, 2025), verbatim.
#[test]
fn rotate_key_service_event_matches_the_2025_example() {
    let arn = key_arn("us-west-2", KEY_ID);
    let mut event = AuditEvent::service_event(
        "RotateKey",
        time("2025-05-20T20:44:37Z"),
        "us-west-2",
        ACCOUNT,
        &arn,
        "a24b3967-ddad-417f-9b22-2332b918db06".into(),
    );
    event.service_event_details = Some(json!({
        "keyId": KEY_ID,
        "rotationType": "AUTOMATIC",
        "keyOrigin": "AWS_KMS",
        "previousKeyMaterialId": "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
        "currentKeyMaterialId": "96083e4fb6dbc41d77578a213a6b6669c044dd4c143e96755396d2bf11fd6068"
    }));
    // TLS details never appear on a service event.
    event.tls_details = Some(TlsDetails::tls13("us-west-2"));
    check(
        &event,
        r#"{
    "eventVersion": "1.11",
    "userIdentity": {
        "accountId": "111122223333",
        "invokedBy": "AWS Internal"
    },
    "eventTime": "2025-05-20T20:44:37Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "RotateKey",
    "awsRegion": "us-west-2",
    "sourceIPAddress": "AWS Internal",
    "userAgent": "AWS Internal",
    "requestParameters": null,
    "responseElements": null,
    "eventID": "a24b3967-ddad-417f-9b22-2332b918db06",
    "readOnly": false,
    "resources": [
        {
            "accountId": "111122223333",
            "type": "AWS::KMS::Key",
            "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        }
    ],
    "eventType": "AwsServiceEvent",
    "managementEvent": true,
    "recipientAccountId": "111122223333",
    "serviceEventDetails": {
        "rotationType": "AUTOMATIC",
        "keyOrigin": "AWS_KMS",
        "previousKeyMaterialId": "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
        "currentKeyMaterialId": "96083e4fb6dbc41d77578a213a6b6669c044dd4c143e96755396d2bf11fd6068",
        "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"
    },
    "eventCategory": "Management"
}"#,
    );
}

/// ReEncrypt (ct-reencrypt, 2020): two resources, source first. Adjusted: eventVersion
/// 1.11, `managementEvent`, `eventCategory`.
#[test]
fn re_encrypt_matches_the_example() {
    let mut event = alice_call(
        "ReEncrypt",
        "2020-07-27T23:09:13Z",
        "us-west-2",
        "03769fd4-acf9-4b33-adf3-2ab8ca73aadf",
        "542d9e04-0e8d-4e05-bf4b-4bdeb032e6ec",
    );
    let source = key_arn("us-west-2", KEY_ID);
    let destination = key_arn("us-west-2", "0987dcba-09fe-87dc-65ba-ab0987654321");
    event.request_parameters = json!({
        "destinationKeyId": "0987dcba-09fe-87dc-65ba-ab0987654321",
        "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "sourceEncryptionContext": {"Project": "Alpha", "Department": "Engineering"},
        "destinationEncryptionContext": {"Level": "3A"}
    });
    event.resources = vec![
        Resource::kms_key(ACCOUNT, &source),
        Resource::kms_key(ACCOUNT, &destination),
    ];
    // Encryption-context members are written in name order (AWS's own order is not
    // documented): the example's {"Project", "Department"} is the one reordering here.
    check(
        &event,
        r#"{
    "eventVersion": "1.11",
    "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID", "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": "111122223333", "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
    "eventTime": "2020-07-27T23:09:13Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "ReEncrypt",
    "awsRegion": "us-west-2",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "AWS Internal",
    "requestParameters": {
        "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "sourceEncryptionContext": {"Department": "Engineering", "Project": "Alpha"},
        "destinationKeyId": "0987dcba-09fe-87dc-65ba-ab0987654321",
        "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "destinationEncryptionContext": {"Level": "3A"}
    },
    "responseElements": null,
    "requestID": "03769fd4-acf9-4b33-adf3-2ab8ca73aadf",
    "eventID": "542d9e04-0e8d-4e05-bf4b-4bdeb032e6ec",
    "readOnly": true,
    "resources": [
        {"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        {"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"}
    ],
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "111122223333",
    "eventCategory": "Management"
}"#,
    );
}

// ---------------------------------------------------------------- userIdentity shapes

fn identity_of(caller: CallerIdentity) -> Node {
    let event = AuditEvent::api_call(
        "ListAliases",
        time("2025-10-27T00:00:54Z"),
        "us-east-1",
        caller,
        "r".into(),
        "e".into(),
    );
    member(&node(&emitted(&event)), "userIdentity").clone()
}

#[test]
fn identity_shapes_match_the_reference() {
    // AssumedRole invoked by Lambda (real 2025), verbatim.
    let lambda = CallerIdentity::AssumedRole {
        account_id: "830834166987".into(),
        role_name: "AWSLabsController".into(),
        role_id: "AROAI2YMI2XZQPW3IJ5T6".into(),
        session_name: "AVS-AsyncResourceMonitor".into(),
        access_key_id: "ASIA4C4MTJTFZD5OBYRX".into(),
        session: SessionAttributes::new(time("2025-10-27T00:00:52Z")),
        invoked_by: Some("lambda.amazonaws.com".into()),
    };
    assert_same(
        "userIdentity",
        &identity_of(lambda),
        &node(
            r#"{"type":"AssumedRole","principalId":"AROAI2YMI2XZQPW3IJ5T6:AVS-AsyncResourceMonitor","arn":"arn:aws:sts::830834166987:assumed-role/AWSLabsController/AVS-AsyncResourceMonitor","accountId":"830834166987","accessKeyId":"ASIA4C4MTJTFZD5OBYRX","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAI2YMI2XZQPW3IJ5T6","arn":"arn:aws:iam::830834166987:role/AWSLabsController","accountId":"830834166987","userName":"AWSLabsController"},"attributes":{"creationDate":"2025-10-27T00:00:52Z","mfaAuthenticated":"false"}},"invokedBy":"lambda.amazonaws.com"}"#,
        ),
    );
    // AWSService (CloudTrail calling KMS), verbatim.
    assert_same(
        "userIdentity",
        &identity_of(CallerIdentity::aws_service("cloudtrail.amazonaws.com")),
        &node(r#"{"type":"AWSService","invokedBy":"cloudtrail.amazonaws.com"}"#),
    );
    // AWSAccount (CTUG), verbatim.
    assert_same(
        "userIdentity",
        &identity_of(CallerIdentity::aws_account(
            "123456789012",
            "AIDAJ45Q7YFFAREXAMPLE",
        )),
        &node(
            r#"{"type":"AWSAccount","principalId":"AIDAJ45Q7YFFAREXAMPLE","accountId":"123456789012"}"#,
        ),
    );
    // Root with a console session. Adjusted: `attributes` members in the current order
    // (creationDate, mfaAuthenticated), as every 2025/2026 record writes them.
    let root = CallerIdentity::Root {
        account_id: "123456789012".into(),
        access_key_id: None,
        session: Some(SessionAttributes::new(time("2016-02-20T01:05:59Z"))),
    };
    assert_same(
        "userIdentity",
        &identity_of(root),
        &node(
            r#"{"type":"Root","principalId":"123456789012","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012","sessionContext":{"attributes":{"creationDate":"2016-02-20T01:05:59Z","mfaAuthenticated":"false"}}}"#,
        ),
    );
    // FederatedUser (CodeBuild docs), placeholders filled. Adjusted: sessionContext in the
    // current order (sessionIssuer before attributes).
    let federated = CallerIdentity::FederatedUser {
        account_id: "123456789012".into(),
        user_name: "bob".into(),
        issuer_user_name: "bob".into(),
        issuer_principal_id: "AIDAJ45Q7YFFAREXAMPLE".into(),
        access_key_id: "ASIAEXAMPLEKEYID0000".into(),
        session: SessionAttributes::new(time("2016-09-06T17:59:10Z")),
    };
    assert_same(
        "userIdentity",
        &identity_of(federated),
        &node(
            r#"{"type":"FederatedUser","principalId":"123456789012:bob","arn":"arn:aws:sts::123456789012:federated-user/bob","accountId":"123456789012","accessKeyId":"ASIAEXAMPLEKEYID0000","sessionContext":{"sessionIssuer":{"type":"IAMUser","principalId":"AIDAJ45Q7YFFAREXAMPLE","arn":"arn:aws:iam::123456789012:user/bob","accountId":"123456789012","userName":"bob"},"attributes":{"creationDate":"2016-09-06T17:59:10Z","mfaAuthenticated":"false"}}}"#,
        ),
    );
}

// ---------------------------------------------------------------- the trail on disk

#[derive(Default)]
struct Rows {
    rows: Vec<(String, Option<String>, Option<String>, Option<String>)>,
    problems: Vec<Problem>,
}

impl RecordSink for Rows {
    fn record(&mut self, ordinal: usize, _at: Location, record: Record<'_>) {
        let row = kms_audit::ingest::normalize::normalize(record, "file", ordinal as u32)
            .expect("normalizes");
        self.rows.push((
            row.event_name.to_string(),
            row.principal_arn.map(|t| t.to_string()),
            row.key_arn.map(|t| t.to_string()),
            row.error_code.map(|t| t.to_string()),
        ));
    }
    fn problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }
    fn reset(&mut self) {
        self.rows.clear();
        self.problems.clear();
    }
}

fn sample_events() -> Vec<AuditEvent> {
    let arn = key_arn("us-east-1", KEY_ID);
    let mut create = alice_call("CreateKey", "2026-01-02T03:05:05Z", "us-east-1", "r1", "e1");
    create.resources = vec![Resource::kms_key(ACCOUNT, &arn)];
    let mut encrypt = alice_call("Encrypt", "2026-01-02T03:06:00Z", "us-east-1", "r2", "e2");
    encrypt.request_parameters = json!({"keyId": "alias/app"});
    encrypt.resources = vec![Resource::kms_key(ACCOUNT, &arn)];
    let mut denied = AuditEvent::api_call(
        "Decrypt",
        time("2026-01-02T03:12:00Z"),
        "us-east-1",
        CallerIdentity::assumed_role(ACCOUNT, "app", "s1", time("2026-01-02T03:00:00Z")),
        "r3".into(),
        "e3".into(),
    );
    denied.source_ip_address = "203.0.113.9".into();
    denied.fail("AccessDeniedException", "User: … is not authorized");
    denied.resources = vec![Resource::kms_key(ACCOUNT, &arn)];
    let rotate = AuditEvent::service_event(
        "RotateKey",
        time("2026-01-02T03:13:00Z"),
        "us-east-1",
        ACCOUNT,
        &arn,
        "e4".into(),
    );
    vec![create, encrypt, denied, rotate]
}

#[test]
fn file_sink_trail_reads_back_through_the_project_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = FileSink::open(FileSinkConfig::new(dir.path(), 42)).expect("sink");
    for event in sample_events() {
        sink.record(&event).expect("record");
    }
    sink.flush().expect("flush");
    let files = sink.written_files().expect("files");
    // 03:05:05 and 03:06 fall in the window ending 03:10; 03:12 and 03:13 in the one ending 03:15.
    let keys = relative_keys(dir.path(), &files);
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in &keys {
        assert_log_file_key(key);
    }
    assert!(keys[0].contains("_20260102T0310Z_") && keys[1].contains("_20260102T0315Z_"));

    let discovery =
        kms_audit::trail::discover::discover(&[dir.path().to_path_buf()]).expect("discover");
    assert_eq!(discovery.files.len(), 2);
    assert!(discovery.ignored.is_empty(), "{:?}", discovery.ignored);
    let mut rows = Rows::default();
    for file in &discovery.files {
        let decoded = kms_audit::trail::decode::read_source(file).expect("decode");
        assert!(decoded.gzip && decoded.damage.is_none());
        assert!(decoded
            .bytes
            .starts_with(b"{\"Records\":[{\"eventVersion\":\"1.11\""));
        read_records(&file.display, &decoded.bytes, &mut rows);
    }
    assert!(rows.problems.is_empty(), "{:?}", rows.problems);
    let arn = key_arn("us-east-1", KEY_ID);
    let names: Vec<&str> = rows.rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["CreateKey", "Encrypt", "Decrypt", "RotateKey"]);
    assert_eq!(
        rows.rows[0].1.as_deref(),
        Some("arn:aws:iam::111122223333:user/Alice")
    );
    assert_eq!(
        rows.rows[2].1.as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/app/s1")
    );
    assert_eq!(rows.rows[2].3.as_deref(), Some("AccessDeniedException"));
    for row in &rows.rows {
        assert_eq!(row.2.as_deref(), Some(arn.as_str()), "{row:?}");
    }
}

#[test]
fn same_seed_same_bytes() {
    let run = |seed: u64| {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = FileSink::open(FileSinkConfig::new(dir.path(), seed)).expect("sink");
        for event in sample_events() {
            sink.record(&event).expect("record");
        }
        sink.flush().expect("flush");
        let files = sink.written_files().expect("files");
        let keys = relative_keys(dir.path(), &files);
        let bytes: Vec<Vec<u8>> = files
            .iter()
            .map(|f| std::fs::read(f).expect("read"))
            .collect();
        (keys, bytes)
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0, "another seed, other unique strings");
    let uniques: BTreeSet<&String> = a.0.iter().collect();
    assert_eq!(uniques.len(), a.0.len());
}
