//! The scenario's principals as the engine sees them: their ARNs, the callers they present
//! on a given day (session, address, user agent), and the key policies that name them.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use chrono::{DateTime, Datelike, Utc, Weekday};
use rand::{Rng, RngExt};
use serde_json::{json, Value};

use crate::kms::audit::CallerIdentity;
use crate::kms::crypto::{KeySpec, KeyUsage};
use crate::kms::engine::Caller;
use crate::kms::simulate::scenario::{parse_cidr, Duty, Principal, PrincipalKind, Scenario};

/// Networks used when a principal names none (TEST-NET-3, RFC 5737).
const DEFAULT_NETWORK: (Ipv4Addr, u32) = (Ipv4Addr::new(203, 0, 113, 0), 24);
/// The user agent used when a principal names none.
const DEFAULT_USER_AGENT: &str =
    "aws-sdk-java/2.29.52 Linux/6.1.119 OpenJDK_64-Bit_Server_VM/21.0.5";

/// A principal ready to call.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The scenario's name.
    pub name: String,
    /// The account.
    pub account: String,
    /// Role, user or root.
    pub kind: PrincipalKind,
    /// What it is for.
    pub duty: Duty,
    /// IAM name (role or user name).
    pub iam_name: String,
    /// The ARN policies name: role, user or root ARN.
    pub arn: String,
    /// `aws:PrincipalOrgID`.
    pub org_id: Option<String>,
    /// Networks it calls from.
    pub networks: Vec<(Ipv4Addr, u32)>,
    /// User agents.
    pub user_agents: Vec<String>,
    /// Working hours.
    pub hours: Option<[u32; 2]>,
    /// Weekdays only.
    pub weekdays: bool,
    /// The service acting for it, `s3`.
    pub via_service: Option<String>,
}

impl Actor {
    /// The actor for `principal` of `scenario` (the scenario is checked, so the networks
    /// parse).
    pub fn new(scenario: &Scenario, principal: &Principal) -> Self {
        let iam_name = principal
            .iam_name
            .clone()
            .unwrap_or_else(|| principal.name.clone());
        let arn = match principal.kind {
            PrincipalKind::Role => format!("arn:aws:iam::{}:role/{iam_name}", principal.account),
            PrincipalKind::User => format!("arn:aws:iam::{}:user/{iam_name}", principal.account),
            PrincipalKind::Root => format!("arn:aws:iam::{}:root", principal.account),
        };
        let in_org = scenario
            .account(&principal.account)
            .is_some_and(|a| a.in_organization);
        Self {
            name: principal.name.clone(),
            account: principal.account.clone(),
            kind: principal.kind,
            duty: principal.duty,
            iam_name,
            arn,
            org_id: scenario.organization_id.clone().filter(|_| in_org),
            networks: principal
                .networks
                .iter()
                .filter_map(|n| parse_cidr(n).ok())
                .collect(),
            user_agents: principal.user_agents.clone(),
            hours: principal.hours,
            weekdays: principal.weekdays,
            via_service: principal.via_service.clone(),
        }
    }

    /// Whether the principal works on `day` at all.
    pub fn works_on(&self, day: DateTime<Utc>) -> bool {
        !self.weekdays || !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The seconds of the day it works: `[from, to)`.
    pub fn working_seconds(&self) -> (u32, u32) {
        let [from, to] = self.hours.unwrap_or([0, 24]);
        (from * 3600, to * 3600)
    }

    /// The caller it presents on the day starting `day_start`, calling `region`, from an
    /// address drawn in `network` (or its own networks).
    pub fn caller(
        &self,
        day_start: DateTime<Utc>,
        region: &str,
        network: Option<(Ipv4Addr, u32)>,
        rng: &mut impl Rng,
    ) -> Caller {
        let session_start =
            day_start + chrono::Duration::seconds(i64::from(self.working_seconds().0));
        let mut identity = match self.kind {
            PrincipalKind::Role => {
                let session = format!("{}-{}", self.name, day_start.format("%Y%m%d"));
                CallerIdentity::assumed_role(&self.account, &self.iam_name, &session, session_start)
            }
            PrincipalKind::User => CallerIdentity::iam_user(&self.account, &self.iam_name),
            PrincipalKind::Root => CallerIdentity::root(&self.account),
        };
        let principal = match &identity {
            CallerIdentity::AssumedRole { session_name, .. } => format!(
                "arn:aws:sts::{}:assumed-role/{}/{session_name}",
                self.account, self.iam_name
            ),
            _ => self.arn.clone(),
        };
        let (source_ip, user_agent, via_service) = match (&self.via_service, network) {
            (Some(service), None) => {
                let host = format!("{service}.amazonaws.com");
                identity = identity.invoked_by(&host);
                (
                    host.clone(),
                    host,
                    Some(format!("{service}.{region}.amazonaws.com")),
                )
            }
            _ => {
                let (address, agent) = self.address_and_agent(network, rng);
                (address, agent.to_owned(), None)
            }
        };
        Caller {
            identity,
            principal,
            account: self.account.clone(),
            org_id: self.org_id.clone(),
            source_ip,
            user_agent,
            via_service,
        }
    }
}

impl Actor {
    /// A source address (in `network`, else one of its own networks) and a user agent.
    pub fn address_and_agent(
        &self,
        network: Option<(Ipv4Addr, u32)>,
        rng: &mut impl Rng,
    ) -> (String, &str) {
        let nets = if self.networks.is_empty() {
            std::slice::from_ref(&DEFAULT_NETWORK)
        } else {
            &self.networks[..]
        };
        let net = network.unwrap_or_else(|| nets[rng.random_range(0..nets.len())]);
        let agent = if self.user_agents.is_empty() {
            DEFAULT_USER_AGENT
        } else {
            &self.user_agents[rng.random_range(0..self.user_agents.len())]
        };
        (address_in(net, rng).to_string(), agent)
    }
}

/// A host address in `network`, avoiding the network and broadcast addresses when there
/// are other hosts.
pub fn address_in(network: (Ipv4Addr, u32), rng: &mut impl Rng) -> Ipv4Addr {
    let (base, prefix) = network;
    let size: u64 = 1 << (32 - prefix);
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    let first = u32::from(base) & mask;
    let offset = if size > 2 {
        rng.random_range(1..size - 1)
    } else {
        0
    };
    // `offset < size <= 2^32`, so it fits.
    Ipv4Addr::from(first.wrapping_add(u32::try_from(offset).unwrap_or(0)))
}

/// What a key policy says, as the simulator builds it.
#[derive(Debug, Clone, Default)]
pub struct PolicyPlan {
    /// The owner account.
    pub account: String,
    /// Administrator ARNs.
    pub admins: Vec<String>,
    /// User ARNs.
    pub users: Vec<String>,
    /// Whether usage is open to `"AWS": "*"` without a condition.
    pub open_to_all: bool,
    /// Whether the key's material is imported: administrators also get the import actions,
    /// as the console writes them for `EXTERNAL` keys.
    pub imported: bool,
}

/// The actions "Allow use of the key" grants for a key of `spec` and `usage`, as the
/// console's default policy lists them.
pub fn usage_actions(spec: KeySpec, usage: KeyUsage) -> Vec<&'static str> {
    match usage {
        KeyUsage::SignVerify => vec![
            "kms:Sign",
            "kms:Verify",
            "kms:GetPublicKey",
            "kms:DescribeKey",
        ],
        KeyUsage::GenerateVerifyMac => vec!["kms:GenerateMac", "kms:VerifyMac", "kms:DescribeKey"],
        _ if spec.is_asymmetric() => vec![
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GetPublicKey",
            "kms:DescribeKey",
        ],
        _ => vec![
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:DescribeKey",
        ],
    }
}

/// The key administrator actions of the console's default key policy.
pub const ADMIN_ACTIONS: &[&str] = &[
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
];

impl PolicyPlan {
    /// The policy JSON, in the console's default layout.
    pub fn document(&self, spec: KeySpec, usage: KeyUsage) -> String {
        let mut statements = vec![json!({
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{}:root", self.account) },
            "Action": "kms:*",
            "Resource": "*"
        })];
        let mut admin_actions = ADMIN_ACTIONS.to_vec();
        if self.imported {
            admin_actions.extend(["kms:ImportKeyMaterial", "kms:DeleteImportedKeyMaterial"]);
        }
        if !self.admins.is_empty() {
            statements.push(json!({
                "Sid": "Allow access for Key Administrators",
                "Effect": "Allow",
                "Principal": { "AWS": principals(&self.admins) },
                "Action": admin_actions,
                "Resource": "*"
            }));
        }
        let actions = usage_actions(spec, usage);
        if !self.users.is_empty() {
            statements.push(json!({
                "Sid": "Allow use of the key",
                "Effect": "Allow",
                "Principal": { "AWS": principals(&self.users) },
                "Action": actions,
                "Resource": "*"
            }));
            statements.push(json!({
                "Sid": "Allow attachment of persistent resources",
                "Effect": "Allow",
                "Principal": { "AWS": principals(&self.users) },
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": "*",
                "Condition": { "Bool": { "kms:GrantIsForAWSResource": "true" } }
            }));
        }
        if self.open_to_all {
            statements.push(json!({
                "Sid": "Allow everyone",
                "Effect": "Allow",
                "Principal": { "AWS": "*" },
                "Action": actions,
                "Resource": "*"
            }));
        }
        json!({ "Version": "2012-10-17", "Id": "key-consolepolicy-3", "Statement": statements })
            .to_string()
    }
}

fn principals(arns: &[String]) -> Value {
    match arns {
        [one] => Value::String(one.clone()),
        many => json!(many),
    }
}

/// The identity policy a principal needs to use keys of `account` (another account's keys
/// need the caller's own account to allow them too).
pub fn cross_account_identity_policy(account: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:DescribeKey", "kms:Sign", "kms:Verify", "kms:GetPublicKey",
                       "kms:GenerateMac", "kms:VerifyMac"],
            "Resource": format!("arn:aws:kms:*:{account}:key/*")
        }]
    })
    .to_string()
}

/// An identity policy allowing the account-level `actions` (resource `*`).
pub fn account_actions_identity_policy(actions: &BTreeSet<String>) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": actions, "Resource": "*" }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn addresses_stay_in_their_network() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        for _ in 0..200 {
            let ip = address_in((Ipv4Addr::new(10, 20, 30, 0), 24), &mut rng);
            let o = ip.octets();
            assert_eq!(&o[..3], &[10, 20, 30]);
            assert!((1..=254).contains(&o[3]), "{ip}");
        }
        let one = address_in((Ipv4Addr::new(192, 0, 2, 9), 32), &mut rng);
        assert_eq!(one, Ipv4Addr::new(192, 0, 2, 9));
    }

    #[test]
    fn policy_names_admins_users_and_everyone() {
        let plan = PolicyPlan {
            account: "111122223333".into(),
            admins: vec!["arn:aws:iam::111122223333:role/Admin".into()],
            users: vec![
                "arn:aws:iam::111122223333:role/App".into(),
                "arn:aws:iam::444455556666:role/Other".into(),
            ],
            open_to_all: true,
            imported: false,
        };
        let doc: Value = serde_json::from_str(
            &plan.document(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt),
        )
        .expect("json");
        let sids: Vec<&str> = doc["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        assert_eq!(
            sids,
            [
                "Enable IAM User Permissions",
                "Allow access for Key Administrators",
                "Allow use of the key",
                "Allow attachment of persistent resources",
                "Allow everyone"
            ]
        );
        assert_eq!(
            doc["Statement"][1]["Principal"]["AWS"],
            "arn:aws:iam::111122223333:role/Admin"
        );
        assert_eq!(
            doc["Statement"][2]["Principal"]["AWS"][1],
            "arn:aws:iam::444455556666:role/Other"
        );
        assert_eq!(doc["Statement"][4]["Principal"]["AWS"], "*");
        assert!(
            crate::kms::policy::document::PolicyDocument::parse_key_policy(&doc.to_string())
                .is_ok()
        );
    }
}
