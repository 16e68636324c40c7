"""Decodes the Rust-encoded samples with fastavro, given only the .avsc files.

Checks the single-object header (C3 01 + little-endian CRC-64-AVRO
fingerprint of the schema's parsing canonical form) and the datum.
Usage: python3 check_fastavro.py SAMPLES_DIR SCHEMAS_DIR
"""
import io
import json
import struct
import sys
from pathlib import Path

import fastavro
from fastavro.schema import to_parsing_canonical_form

EMPTY = 0xC15D213AA4D7A795


def crc64_avro(data: bytes) -> int:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


EXPECTED = {
    "feedback_received": {"tenant_id": "acme", "external_id": "nps-1", "region": "eu"},
    "feedback_processed": {"tenant_id": "acme", "external_id": "nps-1", "processed_region": "eu", "rule_set_version": 1},
    "feedback_rejected": {"reason_code": "undecodable", "input": b"\x00\x9f\xff\x01", "event_id": None},
    "tenant_created": {"tenant_id": "acme", "name": "Acme Oy", "region": "eu"},
    "collection_created": {"tenant_id": "acme", "collection": "nps-2026", "name": "NPS 2026"},
    "client_credential_issued": {"client_id": "vox_ci_0011223344556677", "secret_version": 1},
    "client_secret_rotated": {"secret_version": 2, "kek_id": "kek-1"},
    "client_credential_revoked": {"secret_version": 1, "client_id": "vox_ci_0011223344556677"},
    "rule_set_published": {"tenant_id": "acme", "version": 1, "published_by": "ops"},
    "user_invited": {"email": "Aino.Analyst@acme.fi", "role": "analyst", "invitation_sha256": b"\x09" * 32},
    "user_password_set": {"cause": "invitation", "sealed_hash": b"\x01\x02\x03\x04", "invitation_sha256": b"\x09" * 32},
    "user_changed": {"change": "role", "role": "viewer"},
    "user_totp_set": {"sealed_seed": b"\x05\x06\x07", "recovery_sha256": [b"\x01" * 32, b"\x02" * 32]},
    "tenant_policy_set": {"tenant_id": "acme", "two_factor_required": True},
    "group_changed": {"group_id": "helsinki-stores", "change": "member_added", "name": None},
    "support_grant_changed": {"grant_id": "sg_0011223344556677", "reason": "ticket 4411: missing tags"},
    "access_grant_changed": {"grant_id": "ag_0011223344556677", "principal_kind": "group", "tag_filter": ["store:helsinki", "hr"]},
    "restricted_tags_set": {"tenant_id": "acme", "tag_names": ["hr", "legal"]},
    "sso_configured": {
        "tenant_id": "acme",
        "enabled": True,
        "certificates": [bytes([0x30, 0x82, 0x01, 0x0A])],
        "email_attribute": "mail",
        "group_map": [{"idp_group": "Helsinki stores", "group_id": "helsinki-stores"}],
    },
    "user_provisioned": {"user_id": "usr_8899aabbccddeeff", "email": "aino@acme.fi", "role": "viewer"},
    "sso_groups_set": {"user_id": "usr_8899aabbccddeeff", "group_ids": ["helsinki-stores"]},
    "audit_record": {"action": "feedback.batch", "outcome": "success", "details": {"accepted": "1"}},
}


def version(path: Path) -> int:
    return int(path.stem.rsplit(".v", 1)[1])


def main() -> int:
    samples, schemas = Path(sys.argv[1]), Path(sys.argv[2])
    passed = failed = 0
    files = sorted(schemas.glob("*.avsc"))
    stems = sorted({p.stem.rsplit(".v", 1)[0] for p in files})
    missing = [stem for stem in stems if stem not in EXPECTED]
    if missing:
        print(f"FAIL no sample for {', '.join(missing)}: add one to schemas/src/samples.rs and EXPECTED")
        failed += len(missing)
    for stem, expected in EXPECTED.items():
        versions = sorted(schemas.glob(f"{stem}.v*.avsc"), key=version)
        data = (samples / f"{stem}.bin").read_bytes()
        newest = versions[-1]
        writer = fastavro.parse_schema(json.loads(newest.read_text()))
        fingerprint = crc64_avro(to_parsing_canonical_form(writer).encode())
        for path in versions:
            # The newest version wrote the sample; every committed version
            # must read it (an older consumer, through schema resolution).
            reader = fastavro.parse_schema(json.loads(path.read_text()))
            problems = []
            if data[:2] != b"\xc3\x01":
                problems.append("missing C3 01 marker")
            if struct.unpack("<Q", data[2:10])[0] != fingerprint:
                problems.append("fingerprint is not the little-endian CRC-64-AVRO of the newest schema")
            try:
                record = fastavro.schemaless_reader(io.BytesIO(data[10:]), writer, reader)
            except Exception as e:  # noqa: BLE001 - report any decoding failure
                problems.append(f"does not decode: {e}")
                record = {}
            for key, value in expected.items():
                if key in record and record.get(key) != value:
                    problems.append(f"{key}: {record.get(key)!r} != {value!r}")
                if key not in record and path == newest:
                    problems.append(f"{key} is missing")
            if problems:
                failed += 1
                print(f"FAIL {path.name}: {'; '.join(problems)}")
            else:
                passed += 1
                how = "decoded" if path == newest else f"read (written as {newest.name})"
                print(f"ok   {path.name}: {how} by fastavro {fastavro.__version__}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
