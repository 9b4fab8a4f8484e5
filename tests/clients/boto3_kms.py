#!/usr/bin/env python3
"""Drives a KMS endpoint with boto3, unchanged, and prints what it saw as one JSON object.

Run by tests/suite/kms_clients.rs against `kms-audit kms serve`:

    python3 tests/clients/boto3_kms.py --endpoint-url http://127.0.0.1:PORT --region us-east-1 \
        --alice AKID:SECRET --bob AKID:SECRET

Alice's identity is allowed `kms:*` by an identity policy; Bob has none. The script does not
judge the answers: every step's response (blobs as base64, dates as ISO 8601) or error
(`Error.Code`, message, HTTP status) goes into the output under the step's name, and the Rust
test asserts on them. Only a step that cannot run at all (a missing earlier result) stops it.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import sys

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

PLAINTEXT = b"boto3 says hello \x00\x01\xfe\xff"
CONTEXT = {"app": "kms-clients", "purpose": "boto3-test"}
WRONG_CONTEXT = {"app": "kms-clients", "purpose": "something-else"}
ALIAS = "alias/boto3-app"
MESSAGE = b"a message signed through boto3"


def plain(value):
    """A boto3 response as JSON-able data: bytes to base64, datetimes to ISO 8601."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def client(args, credentials: str):
    access_key_id, secret = credentials.split(":", 1)
    return boto3.session.Session().client(
        "kms",
        endpoint_url=args.endpoint_url,
        region_name=args.region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint-url", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--alice", required=True, help="ACCESS_KEY_ID:SECRET of the allowed identity")
    ap.add_argument("--bob", required=True, help="ACCESS_KEY_ID:SECRET of the identity without permissions")
    args = ap.parse_args()

    alice = client(args, args.alice)
    bob = client(args, args.bob)
    out = {"boto3": boto3.__version__, "botocore": botocore.__version__}

    def step(name, kms, operation, **kwargs):
        try:
            response = getattr(kms, operation)(**kwargs)
            out[name] = plain(response)
            out[name]["_http_status"] = response["ResponseMetadata"]["HTTPStatusCode"]
            return response
        except ClientError as err:
            out[name] = {
                "error": err.response.get("Error", {}).get("Code"),
                "message": err.response.get("Error", {}).get("Message"),
                "http_status": err.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            }
            return None

    def finish(code: int) -> int:
        json.dump(out, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return code

    created = step("create_key", alice, "create_key", Description="created by boto3")
    if created is None:
        return finish(1)
    key_id = created["KeyMetadata"]["KeyId"]
    step("create_alias", alice, "create_alias", AliasName=ALIAS, TargetKeyId=key_id)
    step("describe_alias", alice, "describe_key", KeyId=ALIAS)
    step("list_aliases", alice, "list_aliases", KeyId=key_id)

    encrypted = step("encrypt", alice, "encrypt", KeyId=ALIAS, Plaintext=PLAINTEXT, EncryptionContext=CONTEXT)
    if encrypted is not None:
        blob = encrypted["CiphertextBlob"]
        step("decrypt", alice, "decrypt", CiphertextBlob=blob, EncryptionContext=CONTEXT)
        step("decrypt_wrong_context", alice, "decrypt", CiphertextBlob=blob, EncryptionContext=WRONG_CONTEXT)
    out["plaintext_sent"] = base64.b64encode(PLAINTEXT).decode()

    data_key = step("generate_data_key", alice, "generate_data_key", KeyId=key_id, KeySpec="AES_256",
                    EncryptionContext=CONTEXT)
    if data_key is not None:
        step("decrypt_data_key", alice, "decrypt", CiphertextBlob=data_key["CiphertextBlob"],
             EncryptionContext=CONTEXT)

    rsa = step("create_rsa_key", alice, "create_key", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY",
               Description="boto3 signing key")
    if rsa is not None:
        rsa_id = rsa["KeyMetadata"]["KeyId"]
        step("get_public_key", alice, "get_public_key", KeyId=rsa_id)
        signed = step("sign", alice, "sign", KeyId=rsa_id, Message=MESSAGE, MessageType="RAW",
                      SigningAlgorithm="RSASSA_PSS_SHA_256")
        if signed is not None:
            step("verify", alice, "verify", KeyId=rsa_id, Message=MESSAGE, MessageType="RAW",
                 Signature=signed["Signature"], SigningAlgorithm="RSASSA_PSS_SHA_256")
            step("verify_tampered", alice, "verify", KeyId=rsa_id, Message=MESSAGE + b"!", MessageType="RAW",
                 Signature=signed["Signature"], SigningAlgorithm="RSASSA_PSS_SHA_256")
    out["message_signed"] = base64.b64encode(MESSAGE).decode()

    step("denied_encrypt", bob, "encrypt", KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext=CONTEXT)
    return finish(0)


if __name__ == "__main__":
    sys.exit(main())
