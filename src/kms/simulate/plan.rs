//! What happens when: the calls of each simulated day drawn from the principals' habits, the
//! key set-up before the start, and the calls each incident adds, with the ground-truth
//! entry that describes the incident.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, RngExt};
use serde::Serialize;

use crate::kms::simulate::actors::Actor;
use crate::kms::simulate::scenario::{
    parse_cidr, Incident, IncidentType, Scenario, HABIT_OPERATIONS,
};

/// What one call does.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A habitual operation (`op` is one of [`HABIT_OPERATIONS`]) on a key, or on the
    /// account for `ListKeys`, `ListAliases`, `GenerateRandom`.
    Habit {
        /// The operation.
        op: &'static str,
        /// The key (scenario index).
        key: Option<usize>,
    },
    /// Creates the key with its alias, rotation and imported material.
    SetupKey(usize),
    /// `DisableKeyRotation`.
    DisableRotation(usize),
    /// `DisableKey`.
    DisableKey(usize),
    /// `EnableKey`.
    EnableKey(usize),
    /// `ScheduleKeyDeletion` with a waiting period in days.
    ScheduleDeletion(usize, u32),
    /// `CancelKeyDeletion` (the key stays disabled) and `EnableKey`.
    CancelDeletion(usize),
    /// `PutKeyPolicy` adding a user (principal index).
    AddUser(usize, usize),
    /// `PutKeyPolicy` opening use to `"AWS": "*"`.
    OpenToAll(usize),
    /// `CreateGrant` of Decrypt and GenerateDataKey to a grantee (principal index).
    CreateGrant {
        /// The key.
        key: usize,
        /// The grantee.
        grantee: usize,
    },
    /// `ReEncrypt` of the caller's ciphertext under `key` to `foreign`.
    ReEncryptTo {
        /// The source key.
        key: usize,
        /// The destination key.
        foreign: usize,
    },
    /// `Encrypt` under `foreign` (by key ARN).
    EncryptUnder(usize),
    /// A call the caller has no right to make.
    Probe {
        /// The operation.
        op: &'static str,
        /// The key.
        key: usize,
    },
}

/// One call: when, by whom, what.
#[derive(Debug, Clone)]
pub struct Action {
    /// When.
    pub time: DateTime<Utc>,
    /// Who (principal index).
    pub actor: usize,
    /// What.
    pub step: Step,
    /// A network to call from instead of the caller's own.
    pub network: Option<(Ipv4Addr, u32)>,
    /// The habit (principal index, habit index) whose encryption context to send.
    pub context: Option<(usize, usize)>,
}

/// One injected incident, as `ground-truth.json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct TruthEntry {
    /// `INC-001`, in scenario order.
    pub id: String,
    /// The incident type.
    #[serde(rename = "type")]
    pub kind: IncidentType,
    /// The rule family expected to flag it.
    pub family: &'static str,
    /// The principal's ARN (role, user or root ARN, as the lake's principal column).
    pub principal: Option<String>,
    /// The key's ARN (filled in once the key exists).
    pub key: Option<String>,
    /// The other account's key the incident used (`foreign_key` of a ransomware-style
    /// incident), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign_key: Option<String>,
    /// The key's account.
    pub account: Option<String>,
    /// The key's Region.
    pub region: Option<String>,
    /// First moment of the incident.
    pub start: DateTime<Utc>,
    /// Last moment of the incident.
    pub end: DateTime<Utc>,
    /// What was done.
    pub description: String,
    /// The calls the simulator made for it.
    pub calls: u32,
}

/// The start of day `day` of the simulation.
pub fn day_start(scenario: &Scenario, day: u32) -> DateTime<Utc> {
    let start = scenario
        .start
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(scenario.start, |t| t.and_utc());
    start + Duration::days(i64::from(day))
}

/// When key `index` is created: `age_days` before the start, an hour before midnight, a
/// minute apart per key so set-ups never interleave.
pub fn key_created(scenario: &Scenario, index: usize) -> DateTime<Utc> {
    let age = i64::from(scenario.keys[index].age_days);
    day_start(scenario, 0) - Duration::days(age) - Duration::hours(1)
        + Duration::minutes(i64::try_from(index).unwrap_or(0))
}

/// The habitual calls of day `day`, unsorted.
pub fn habit_actions(
    scenario: &Scenario,
    actors: &[Actor],
    day: u32,
    rng: &mut impl Rng,
    out: &mut Vec<Action>,
) {
    let start = day_start(scenario, day);
    for (p, principal) in scenario.principals.iter().enumerate() {
        let actor = &actors[p];
        if !actor.works_on(start) {
            continue;
        }
        let (from, to) = actor.working_seconds();
        for (h, habit) in principal.habits.iter().enumerate() {
            let count = draw_count(habit.daily, rng);
            let total: u32 = habit.operations.values().sum();
            for _ in 0..count {
                let mut pick = rng.random_range(0..total);
                let mut op = "";
                for (name, weight) in &habit.operations {
                    if pick < *weight {
                        op = static_op(name);
                        break;
                    }
                    pick -= weight;
                }
                let key = (!habit.keys.is_empty())
                    .then(|| rng.random_range(0..habit.keys.len()))
                    .and_then(|k| scenario.key_index(&habit.keys[k]));
                let second = rng.random_range(from..to);
                out.push(Action {
                    time: start + Duration::seconds(i64::from(second)),
                    actor: p,
                    step: Step::Habit { op, key },
                    network: None,
                    context: Some((p, h)),
                });
            }
        }
    }
}

/// A count with mean `daily`: ±20 % around it, the fraction drawn.
fn draw_count(daily: f64, rng: &mut impl Rng) -> u32 {
    let scaled = daily * rng.random_range(0.8..1.2);
    let whole = scaled.floor();
    let extra = u32::from(rng.random_bool((scaled - whole).clamp(0.0, 1.0)));
    // Scenario checks keep `daily` finite and non-negative.
    (whole as u32).saturating_add(extra)
}

fn static_op(name: &str) -> &'static str {
    HABIT_OPERATIONS
        .iter()
        .copied()
        .find(|op| *op == name)
        .unwrap_or("DescribeKey")
}

/// The set-up calls: one per key, at its creation time, oldest key first.
pub fn setup_actions(scenario: &Scenario) -> Vec<Action> {
    let mut actions: Vec<Action> = (0..scenario.keys.len())
        .map(|k| Action {
            time: key_created(scenario, k),
            actor: creator(scenario, k),
            step: Step::SetupKey(k),
            network: None,
            context: None,
        })
        .collect();
    actions.sort_by_key(|a| a.time);
    actions
}

/// Who creates key `k`: its first administrator, else a root principal of its account (the
/// engine is told to create such keys as the account root).
pub fn creator(scenario: &Scenario, k: usize) -> usize {
    let key = &scenario.keys[k];
    key.admins
        .first()
        .and_then(|name| scenario.principal_index(name))
        .unwrap_or(usize::MAX)
}

/// The incident calls by day, and the ground-truth entries (key ARNs filled in later).
pub fn incident_actions(
    scenario: &Scenario,
    actors: &[Actor],
    rng: &mut impl Rng,
) -> (BTreeMap<u32, Vec<Action>>, Vec<TruthEntry>) {
    let mut by_day: BTreeMap<u32, Vec<Action>> = BTreeMap::new();
    let mut truth = Vec::new();
    let end = day_start(scenario, scenario.days) - Duration::seconds(1);
    for (i, incident) in scenario.incidents.iter().enumerate() {
        let mut actions = Vec::new();
        let entry = expand(scenario, actors, incident, end, rng, &mut actions);
        let calls = u32::try_from(actions.len()).unwrap_or(u32::MAX);
        for action in actions {
            let day = (action.time - day_start(scenario, 0)).num_days();
            let day = u32::try_from(day.max(0)).unwrap_or(u32::MAX);
            by_day.entry(day).or_default().push(action);
        }
        truth.push(TruthEntry {
            id: format!("INC-{:03}", i + 1),
            calls,
            ..entry
        });
    }
    (by_day, truth)
}

/// The calls of one incident and its ground-truth entry.
fn expand(
    scenario: &Scenario,
    actors: &[Actor],
    incident: &Incident,
    end: DateTime<Utc>,
    rng: &mut impl Rng,
    out: &mut Vec<Action>,
) -> TruthEntry {
    use IncidentType as T;
    let p = incident
        .principal
        .as_deref()
        .and_then(|n| scenario.principal_index(n));
    let k = incident.key.as_deref().and_then(|n| scenario.key_index(n));
    let key = k.map(|k| &scenario.keys[k]);
    let admin = k.map(|k| creator(scenario, k));
    let actor = p.or(admin).unwrap_or(usize::MAX);
    let start = day_start(scenario, incident.day);
    let default_hour = match (incident.kind, p.map(|p| &actors[p])) {
        (T::OffHours, _) => 3,
        (_, Some(a)) => a.hours.map_or(14, |[from, to]| (from + to) / 2),
        (_, None) => 14,
    };
    let at = start + Duration::hours(i64::from(incident.hour.unwrap_or(default_hour)));
    let habit_on = |p: usize, k: usize| {
        scenario.principals[p]
            .habits
            .iter()
            .position(|h| {
                h.keys
                    .iter()
                    .any(|name| scenario.key_index(name) == Some(k))
            })
            .map(|h| (p, h))
    };
    // `count` calls by `who` spread over `minutes` from `from`.
    let mut spread = |from: DateTime<Utc>,
                      minutes: i64,
                      count: u32,
                      who: usize,
                      step: &dyn Fn(u32) -> Step,
                      network: Option<(Ipv4Addr, u32)>,
                      context: Option<(usize, usize)>| {
        for n in 0..count {
            let offset = rng.random_range(0..(minutes * 60).max(1));
            out.push(Action {
                time: from + Duration::seconds(offset),
                actor: who,
                step: step(n),
                network,
                context,
            });
        }
    };
    let mut entry = TruthEntry {
        id: String::new(),
        kind: incident.kind,
        family: incident.kind.family(),
        principal: p.map(|p| actors[p].arn.clone()),
        key: None,
        foreign_key: None,
        account: key.map(|k| k.account.clone()),
        region: key.map(|k| k.region.clone()),
        start: at,
        end: at,
        description: String::new(),
        calls: 0,
    };
    let use_key = |k: usize| {
        let (first, rest) = usage_ops(&scenario.keys[k]);
        move |n: u32| Step::Habit {
            op: if n % 3 == 0 { first } else { rest },
            key: Some(k),
        }
    };
    match (incident.kind, k) {
        (T::DecryptSpike, Some(k)) => {
            let count = incident.count.unwrap_or(500);
            let context = p.and_then(|p| habit_on(p, k));
            spread(
                at,
                60,
                1,
                actor,
                &|_| Step::Habit {
                    op: "GenerateDataKey",
                    key: Some(k),
                },
                None,
                context,
            );
            spread(
                at + Duration::seconds(60),
                59,
                count,
                actor,
                &|_| Step::Habit {
                    op: "Decrypt",
                    key: Some(k),
                },
                None,
                context,
            );
            entry.end = at + Duration::minutes(60);
            entry.description = format!("{count} Decrypt calls within an hour");
        }
        (T::NewPrincipal | T::OffHours | T::NewRegion | T::CrossAccount | T::RootUse, Some(k)) => {
            let count = incident.count.unwrap_or(6);
            let minutes = if incident.kind == T::OffHours {
                50
            } else {
                120
            };
            spread(at, minutes, count, actor, &use_key(k), None, None);
            entry.end = at + Duration::minutes(minutes);
            entry.description = match incident.kind {
                T::NewPrincipal => format!("{count} calls by a principal new to the key"),
                T::OffHours => format!("{count} calls outside working hours"),
                T::NewRegion => format!("{count} calls in a Region the principal never used"),
                T::CrossAccount => format!("{count} calls from another account"),
                _ => format!("{count} calls by the account root user"),
            };
        }
        (T::NewNetwork, Some(k)) => {
            let count = incident.count.unwrap_or(6);
            let network = incident.network.as_deref().and_then(|n| parse_cidr(n).ok());
            let context = p.and_then(|p| habit_on(p, k));
            spread(at, 120, count, actor, &use_key(k), network, context);
            entry.end = at + Duration::minutes(120);
            entry.description = format!(
                "{count} calls from {}",
                incident.network.as_deref().unwrap_or("a new network")
            );
        }
        (T::RotationDisabled, Some(k)) => {
            spread(at, 1, 1, actor, &|_| Step::DisableRotation(k), None, None);
            entry.principal = entry
                .principal
                .or_else(|| admin.map(|a| actors[a].arn.clone()));
            entry.end = end;
            entry.description = "automatic rotation disabled".into();
        }
        (T::RotationOverdue, Some(k)) => {
            let created = key_created(scenario, k);
            entry.start = created + Duration::days(365);
            entry.end = end;
            let fixed = key.is_some_and(|k| k.spec != "SYMMETRIC_DEFAULT" || k.origin != "AWS_KMS");
            entry.description = if fixed {
                "key material older than 365 days; the key cannot rotate automatically".into()
            } else {
                "key material older than 365 days, rotation never enabled".into()
            };
        }
        (T::ImportedMaterialExpiring, Some(k)) => {
            let valid_to = key_created(scenario, k)
                + Duration::days(i64::from(
                    key.and_then(|k| k.material_valid_days).unwrap_or(0),
                ));
            entry.start = valid_to - Duration::days(30);
            entry.end = valid_to + Duration::hours(1);
            entry.description = "imported key material reaches its ValidTo and is deleted".into();
        }
        (T::KeyDisabledInUse, Some(k)) => {
            let undo = incident.undo_after_days.unwrap_or(2);
            spread(at, 1, 1, actor, &|_| Step::DisableKey(k), None, None);
            let back = at + Duration::days(i64::from(undo));
            if back < end {
                spread(back, 1, 1, actor, &|_| Step::EnableKey(k), None, None);
            }
            entry.principal = admin.map(|a| actors[a].arn.clone());
            entry.end = (back + Duration::minutes(1)).min(end);
            entry.description = format!("key disabled for {undo} days while in use");
        }
        (T::KeyDeletionInUse, Some(k)) => {
            let undo = incident.undo_after_days.unwrap_or(3);
            spread(
                at,
                1,
                1,
                actor,
                &|_| Step::ScheduleDeletion(k, 30),
                None,
                None,
            );
            let back = at + Duration::days(i64::from(undo));
            if back < end {
                spread(back, 1, 1, actor, &|_| Step::CancelDeletion(k), None, None);
            }
            entry.principal = admin.map(|a| actors[a].arn.clone());
            entry.end = (back + Duration::minutes(1)).min(end);
            entry.description =
                format!("key scheduled for deletion while in use, cancelled after {undo} days");
        }
        (T::PolicyPublic, Some(k)) => {
            spread(at, 1, 1, actor, &|_| Step::OpenToAll(k), None, None);
            entry.principal = admin.map(|a| actors[a].arn.clone());
            entry.end = end;
            entry.description = "key policy opened to \"AWS\": \"*\" without a condition".into();
        }
        (T::GrantNeverRetired, Some(k)) => {
            let grantee = actor;
            let count = incident.count.unwrap_or(4);
            let admin = admin.unwrap_or(usize::MAX);
            spread(
                at,
                1,
                1,
                admin,
                &|_| Step::CreateGrant { key: k, grantee },
                None,
                None,
            );
            spread(
                at + Duration::minutes(5),
                60,
                count,
                grantee,
                &use_key(k),
                None,
                None,
            );
            entry.end = end;
            entry.description = format!("grant created, used {count} times, never retired");
        }
        (T::AdminAndUser, Some(k)) => {
            let count = incident.count.unwrap_or(5);
            spread(at, 1, 1, actor, &|_| Step::AddUser(k, actor), None, None);
            spread(
                at + Duration::minutes(10),
                120,
                count,
                actor,
                &use_key(k),
                None,
                None,
            );
            entry.end = at + Duration::minutes(130);
            entry.description =
                format!("an administrator granted itself use of the key and made {count} calls");
        }
        (T::Ransomware, Some(k)) => {
            let count = incident.count.unwrap_or(40);
            let foreign = incident
                .foreign_key
                .as_deref()
                .and_then(|n| scenario.key_index(n))
                .unwrap_or(usize::MAX);
            let context = p.and_then(|p| habit_on(p, k));
            spread(
                at,
                1,
                1,
                actor,
                &|_| Step::Habit {
                    op: "GenerateDataKey",
                    key: Some(k),
                },
                None,
                context,
            );
            spread(
                at + Duration::minutes(1),
                30,
                count,
                actor,
                &|n| {
                    if n % 4 == 3 {
                        Step::EncryptUnder(foreign)
                    } else {
                        Step::ReEncryptTo { key: k, foreign }
                    }
                },
                None,
                context,
            );
            entry.end = at + Duration::minutes(31);
            entry.description =
                format!("{count} ReEncrypt/Encrypt calls to a key of a foreign account");
        }
        (T::AccessDeniedProbing, _) => {
            let count = incident.count.unwrap_or(30);
            let account = p.map(|p| actors[p].account.clone()).unwrap_or_default();
            let targets: Vec<usize> = (0..scenario.keys.len())
                .filter(|&i| scenario.keys[i].account == account || k == Some(i))
                .collect();
            const PROBES: [&str; 5] = [
                "DescribeKey",
                "GenerateDataKey",
                "GetKeyPolicy",
                "ListGrants",
                "Encrypt",
            ];
            if !targets.is_empty() {
                spread(
                    at,
                    10,
                    count,
                    actor,
                    &|n| Step::Probe {
                        op: PROBES[n as usize % PROBES.len()],
                        key: targets[n as usize % targets.len()],
                    },
                    None,
                    None,
                );
            }
            entry.account = Some(account);
            entry.end = at + Duration::minutes(10);
            entry.description = format!("{count} calls denied across {} keys", targets.len());
        }
        _ => {
            entry.description = "nothing to inject".into();
        }
    }
    if let Some(first) = out.iter().map(|a| a.time).min() {
        if !matches!(
            incident.kind,
            T::RotationOverdue | T::ImportedMaterialExpiring
        ) {
            entry.start = first;
        }
    }
    entry
}

/// The operations an incident uses a key with, by its usage: one that produces something
/// (a ciphertext, a signature, a MAC) and one that consumes it.
fn usage_ops(key: &crate::kms::simulate::scenario::KeyPlan) -> (&'static str, &'static str) {
    use crate::kms::crypto::{KeySpec, KeyUsage};
    let spec: Option<KeySpec> = key.spec.parse().ok();
    let usage: Option<KeyUsage> = match &key.usage {
        Some(text) => text.parse().ok(),
        None => spec.and_then(|s| s.allowed_usages().first().copied()),
    };
    match usage {
        Some(KeyUsage::SignVerify) => ("Sign", "Verify"),
        Some(KeyUsage::GenerateVerifyMac) => ("GenerateMac", "VerifyMac"),
        _ if spec.is_some_and(KeySpec::is_asymmetric) => ("Encrypt", "Decrypt"),
        _ => ("GenerateDataKey", "Decrypt"),
    }
}
