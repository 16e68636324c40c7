"""Cross-checks Vox's password hashes and TOTP codes with independent
implementations: Python's `bcrypt` (pyca) and `pyotp`.

Usage: python3 check_people.py IN OUT

IN  (written by the Rust test `interop_bcrypt_and_totp_with_python`):
    {"hashes": [{"password": ..., "hash": ...}],
     "totp":   [{"secret_base32": ..., "time": ..., "code": ...}]}
    Every hash must verify with bcrypt.checkpw, every code must equal
    pyotp.TOTP(secret).at(time).
OUT (read back by the same test): the same shape, made here by Python
    (bcrypt cost 11, pyotp codes of a fresh secret), for Rust to verify.

Prints one line per check and `N passed, N failed`; exits 1 on any failure
(or when IN holds nothing to check), 2 on bad usage.
"""
import json
import sys
import time

try:
    import bcrypt
    import pyotp
except ImportError as e:  # pragma: no cover - depends on the interpreter
    print(
        f"{e}: install them into this interpreter with "
        f"`{sys.executable} -m pip install 'bcrypt==5.0.0' 'pyotp==2.9.0'`",
        file=sys.stderr,
    )
    sys.exit(3)

COST = 11
# RFC 6238, appendix B, and one more.
TIMES = [59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000]
PASSWORDS = [
    "correct horse battery staple",
    "Zoë's pässwörd, ünïcödé ✓ 42",
    "y" * 72,  # exactly what bcrypt reads
]


def check(cases):
    passed = failed = 0

    def report(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok   {what}")
        else:
            failed += 1
            print(f"FAIL {what}")

    for i, case in enumerate(cases.get("hashes", [])):
        password = case["password"].encode("utf-8")
        stored = case["hash"].encode("ascii")
        try:
            ok = bcrypt.checkpw(password, stored)
            wrong = bcrypt.checkpw(password + b"!", stored) if len(password) < 72 else False
        except ValueError as e:
            ok, wrong = False, False
            print(f"     hash {i}: {e}")
        report(ok and not wrong, f"hash {i} ({stored[:7].decode()}…) verifies with bcrypt {bcrypt.__version__}")

    for i, case in enumerate(cases.get("totp", [])):
        expected = pyotp.TOTP(case["secret_base32"]).at(int(case["time"]))
        report(
            expected == case["code"],
            f"totp {i} at {case['time']}: Vox {case['code']}, pyotp {expected}",
        )
    return passed, failed


def made_here():
    hashes = [
        {"password": p, "hash": bcrypt.hashpw(p.encode("utf-8"), bcrypt.gensalt(rounds=COST, prefix=b"2b")).decode("ascii")}
        for p in PASSWORDS
    ]
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    times = TIMES + [int(time.time())]
    codes = [{"secret_base32": secret, "time": t, "code": totp.at(t)} for t in times]
    return {"hashes": hashes, "totp": codes}


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    passed, failed = check(cases)
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(made_here(), f, ensure_ascii=False)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
