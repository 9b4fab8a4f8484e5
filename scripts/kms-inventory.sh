#!/bin/sh
# kms-inventory.sh: writes a KMS key inventory snapshot of one account and Region, for
# `kms-audit scan LOGS --inventory FILE` (keys created before the logs begin get their
# creation date, rotation setting, key policy and grants from it).
#
# Usage:
#   scripts/kms-inventory.sh [--region REGION] [--profile PROFILE] [--output FILE]
#
#   --region REGION    the Region to list [default: the AWS CLI's: AWS_DEFAULT_REGION, the
#                      profile's region]
#   --profile PROFILE  the AWS CLI profile to use [default: AWS_PROFILE, else "default"]
#   --output FILE      write the snapshot to FILE [default: standard output]
#
# Run it once per account and Region; scan with one file per run (merge the `keys` arrays
# with `jq -s '{taken: (map(.taken) | min), keys: (map(.keys) | add)}' a.json b.json` to
# combine several).
#
# Needs: a POSIX shell, the AWS CLI (v1 or v2) and jq (1.5 or later). The caller needs
# kms:ListKeys, and on every key kms:DescribeKey, kms:GetKeyPolicy, kms:ListGrants,
# kms:GetKeyRotationStatus and kms:ListKeyRotations (the AWS managed policy
# ReadOnlyAccess / SecurityAudit, or the key policies, grant them). Nothing is changed.
#
# What it does: `aws kms list-keys` (the CLI follows every page), then for each key
# `describe-key`, `get-key-policy --policy-name default`, `list-grants`,
# `get-key-rotation-status` and `list-key-rotations`, and writes
#
#   {"taken": "<UTC time the run started>",
#    "keys": [{"DescribeKey": <describe-key output>, "KeyPolicy": <get-key-policy output>,
#              "Grants": <list-grants output>, "RotationStatus": <get-key-rotation-status
#              output>, "KeyRotations": <list-key-rotations output>}, ...]}
#
# with each output unchanged (dates as the CLI prints them: ISO 8601 or epoch seconds,
# depending on cli_timestamp_format; kms-audit reads both). A call that fails (no
# permission; get-key-rotation-status and list-key-rotations on asymmetric, HMAC or imported
# keys, which KMS cannot rotate) leaves its member out with a warning on standard error; a key
# that describe-key cannot read is left out. docs/rule-views.md describes the format.
#
# Exit codes: 0 written; 1 list-keys failed or the output cannot be written; 2 usage error.

set -eu

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

region=""
profile=""
output=""
while [ $# -gt 0 ]; do
    case "$1" in
        --region)
            [ $# -ge 2 ] || { echo "kms-inventory: --region needs a value" >&2; exit 2; }
            region=$2
            shift 2
            ;;
        --profile)
            [ $# -ge 2 ] || { echo "kms-inventory: --profile needs a value" >&2; exit 2; }
            profile=$2
            shift 2
            ;;
        --output | -o)
            [ $# -ge 2 ] || { echo "kms-inventory: --output needs a value" >&2; exit 2; }
            output=$2
            shift 2
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "kms-inventory: unknown argument \`$1'" >&2
            usage >&2
            exit 2
            ;;
    esac
done

for tool in aws jq; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "kms-inventory: \`$tool' is not installed (needs the AWS CLI and jq)" >&2
        exit 2
    fi
done

# `aws kms ARGS...` with JSON output and the chosen Region and profile.
kms() {
    if [ -n "$region" ] && [ -n "$profile" ]; then
        aws --output json --region "$region" --profile "$profile" kms "$@"
    elif [ -n "$region" ]; then
        aws --output json --region "$region" kms "$@"
    elif [ -n "$profile" ]; then
        aws --output json --profile "$profile" kms "$@"
    else
        aws --output json kms "$@"
    fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kms-inventory.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

taken=$(date -u +%Y-%m-%dT%H:%M:%SZ)

if ! kms list-keys </dev/null >"$tmp/list-keys.json" 2>"$tmp/error"; then
    echo "kms-inventory: aws kms list-keys failed:" >&2
    cat "$tmp/error" >&2
    exit 1
fi
arns=$(jq -r '.Keys[]?.KeyArn // empty' "$tmp/list-keys.json")
total=$(printf '%s\n' "$arns" | grep -c . || true)

# Runs `aws kms COMMAND --key-id ARN [ARGS...]` into FILE; on failure leaves FILE empty and
# warns. Usage: call FILE COMMAND ARN [ARGS...]
call() {
    into=$1
    op=$2
    key=$3
    shift 3
    if kms "$op" --key-id "$key" "$@" </dev/null >"$into" 2>"$tmp/error"; then
        return 0
    fi
    : >"$into"
    echo "kms-inventory: $key: aws kms $op failed, left out: $(tr '\n' ' ' <"$tmp/error")" >&2
    return 1
}

: >"$tmp/keys.jsonl"
set -f
count=0
for arn in $arns; do
    count=$((count + 1))
    echo "kms-inventory: $count/$total $arn" >&2
    if ! call "$tmp/describe.json" describe-key "$arn"; then
        continue
    fi
    call "$tmp/policy.json" get-key-policy "$arn" --policy-name default || true
    call "$tmp/grants.json" list-grants "$arn" || true
    call "$tmp/status.json" get-key-rotation-status "$arn" || true
    call "$tmp/rotations.json" list-key-rotations "$arn" || true
    jq -c -n \
        --slurpfile describe "$tmp/describe.json" \
        --slurpfile policy "$tmp/policy.json" \
        --slurpfile grants "$tmp/grants.json" \
        --slurpfile status "$tmp/status.json" \
        --slurpfile rotations "$tmp/rotations.json" \
        '{DescribeKey: $describe[0]}
         + (if ($policy | length) > 0 then {KeyPolicy: $policy[0]} else {} end)
         + (if ($grants | length) > 0 then {Grants: $grants[0]} else {} end)
         + (if ($status | length) > 0 then {RotationStatus: $status[0]} else {} end)
         + (if ($rotations | length) > 0 then {KeyRotations: $rotations[0]} else {} end)' \
        >>"$tmp/keys.jsonl"
done
set +f

if [ -n "$output" ]; then
    jq -s --arg taken "$taken" '{taken: $taken, keys: .}' "$tmp/keys.jsonl" >"$output" || {
        echo "kms-inventory: cannot write $output" >&2
        exit 1
    }
    echo "kms-inventory: $(jq '.keys | length' "$output") keys written to $output" >&2
else
    jq -s --arg taken "$taken" '{taken: $taken, keys: .}' "$tmp/keys.jsonl"
fi
