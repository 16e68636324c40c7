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
    "tenant_created": {"tenant_id": "acme", "name": "Acme Oy", "region": "eu"},
    "feedback_rejected": {"reason_code": "undecodable", "input": b"\x00\x9f\xff\x01", "event_id": None},
}


def main() -> int:
    samples, schemas = Path(sys.argv[1]), Path(sys.argv[2])
    passed = failed = 0
    for stem, expected in EXPECTED.items():
        data = (samples / f"{stem}.bin").read_bytes()
        newest = sorted(schemas.glob(f"{stem}.v*.avsc"), key=lambda p: int(p.stem.rsplit(".v", 1)[1]))[-1]
        schema = fastavro.parse_schema(json.loads(newest.read_text()))
        fingerprint = crc64_avro(to_parsing_canonical_form(schema).encode())
        problems = []
        if data[:2] != b"\xc3\x01":
            problems.append("missing C3 01 marker")
        if struct.unpack("<Q", data[2:10])[0] != fingerprint:
            problems.append("fingerprint is not the little-endian CRC-64-AVRO of the schema")
        record = fastavro.schemaless_reader(io.BytesIO(data[10:]), schema)
        for key, value in expected.items():
            if record.get(key) != value:
                problems.append(f"{key}: {record.get(key)!r} != {value!r}")
        if problems:
            failed += 1
            print(f"FAIL {stem}: {'; '.join(problems)}")
        else:
            passed += 1
            print(f"ok   {stem}: decoded by fastavro {fastavro.__version__} from {newest.name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
