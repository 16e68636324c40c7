"""A real SAML 2.0 identity provider for Vox's single sign-on tests: pysaml2
(with the xmlsec1 binary) behind a small HTTP server on loopback.

    python saml_idp.py DIR

DIR holds its keys (made on first start: RSA 2048 with a self-signed
certificate, and a second pair it signs with when asked to use an unknown
key). It listens on 127.0.0.1 on a free port, prints one JSON line
{"url": "http://127.0.0.1:PORT"} and serves until its standard input closes.

    GET  /metadata          the identity provider's metadata (entity id URL/metadata,
                            single sign-on URL/sso with the HTTP-Redirect binding)
    POST /sp                a service provider's metadata (XML body): trusted from now on
                            (several, e.g. one per tenant)
    GET  /sso?SAMLRequest=…&RelayState=…&SigAlg=…&Signature=…&user=EMAIL[&options]
                            checks the AuthnRequest (its signature must verify with the
                            SP's metadata) and answers the HTML form that posts the
                            Response to the SP's ACS, as a browser would get it
    GET  /unsolicited?sp=ENTITY_ID&user=EMAIL[&options]
                            an IdP-initiated Response to that SP (no request)

Options: groups=a,b (the `groups` attribute); name_id=TEXT (the NameID, when
it should differ from the user's e-mail, which the `mail` attribute holds); sign=response|assertion|both|none
(default both); encrypt=3des|aes128-cbc|aes256-cbc|aes128-gcm|aes256-gcm;
key=unknown (sign with the second key, which the metadata does not name);
shift=SECONDS (make the Response as if the clock were that far off: -900 is
an expired assertion); audience=ENTITY_ID (the assertion's audience instead of
the requesting SP's); recipient=URL (the assertion's Recipient instead of the
ACS, the Response's Destination left right: use with sign=assertion).
"""
import datetime
import functools
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import saml2.assertion
import saml2.entity
import saml2.sigver
import saml2.time_util
import saml2.xmldsig as ds
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import AUTHN_PASSWORD, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server

CIPHERS = {
    "aes128-cbc": ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", "aes-128"),
    "aes256-cbc": ("http://www.w3.org/2001/04/xmlenc#aes256-cbc", "aes-256"),
    "aes128-gcm": ("http://www.w3.org/2009/xmlenc11#aes128-gcm", "aes-128"),
    "aes256-gcm": ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "aes-256"),
}


def keypair(directory, name):
    key_file, cert_file = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".crt")
    if not os.path.exists(key_file):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vox-test-idp-" + name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        with open(key_file, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        with open(cert_file, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


class IdentityProvider:
    def __init__(self, directory, url):
        self.directory, self.url = directory, url
        self.keys = {"known": keypair(directory, "idp"), "unknown": keypair(directory, "unknown")}
        self.sps = []
        self.lock = threading.Lock()
        self.servers = {}
        self.rebuild()

    def config(self, key):
        key_file, cert_file = self.keys[key]
        cfg = IdPConfig()
        cfg.load({
            "entityid": self.url + "/metadata",
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [(self.url + "/sso", BINDING_HTTP_REDIRECT)]},
                "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}},
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "want_authn_requests_signed": True,
            }},
            "key_file": key_file, "cert_file": cert_file,
            "metadata": {"inline": list(self.sps)} if self.sps else {},
            "xmlsec_binary": "/usr/bin/xmlsec1",
        })
        return cfg

    def rebuild(self):
        self.servers = {key: Server(config=self.config(key)) for key in self.keys}

    def metadata(self):
        return str(entity_descriptor(self.config("known")))

    def add_sp(self, xml):
        with self.lock:
            self.sps.append(xml)
            self.rebuild()

    def respond(self, options, request_id=None, sp_entity_id=None, acs=None):
        server = self.servers["unknown" if options.get("key") == "unknown" else "known"]
        user = options["user"]
        identity = {"mail": [user]}
        if options.get("groups"):
            identity["groups"] = options["groups"].split(",")
        sign = options.get("sign", "both")
        shift = int(options.get("shift", "0"))
        recipient = options.get("recipient", acs)
        kwargs = dict(
            identity=identity, userid=user, in_response_to=request_id, destination=recipient,
            sp_entity_id=options.get("audience", sp_entity_id),
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=options.get("name_id", user)),
            authn={"class_ref": AUTHN_PASSWORD, "authn_auth": self.url},
            sign_response=sign in ("response", "both"), sign_assertion=sign in ("assertion", "both"),
            encrypt_assertion="encrypt" in options,
            sign_alg=ds.SIG_RSA_SHA256, digest_alg=ds.DIGEST_SHA256,
        )
        with self.lock, shifted(shift), cipher(options.get("encrypt")):
            if "audience" in options:
                # The audience is the one asked for; the SP's metadata still
                # gives the encryption key.
                kwargs["sp_entity_id"] = sp_entity_id
                with audience(options["audience"]):
                    response = str(server.create_authn_response(**kwargs))
            else:
                response = str(server.create_authn_response(**kwargs))
        if recipient != acs:
            # The assertion (signed) names the other recipient; the Response
            # itself (unsigned unless asked) is made to fit the real ACS.
            response = response.replace('Destination="%s"' % recipient, 'Destination="%s"' % acs, 1)
        return response

    def form(self, response, acs, relay_state):
        server = self.servers["known"]
        return server.apply_binding(BINDING_HTTP_POST, response, acs, relay_state, response=True)["data"]


class shifted:
    """pysaml2's clock, `seconds` off, while in the block."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        self.saved = (saml2.assertion.in_a_while, saml2.assertion.instant, saml2.entity.instant)
        if self.seconds:
            s = self.seconds
            in_a_while = saml2.time_util.in_a_while

            def later(**kw):
                kw["seconds"] = kw.get("seconds", 0) + s
                return in_a_while(**kw)

            def now(format=saml2.time_util.TIME_FORMAT, time_stamp=0):
                return time.strftime(format, time.gmtime(time.time() + s))

            saml2.assertion.in_a_while, saml2.assertion.instant, saml2.entity.instant = later, now, now

    def __exit__(self, *exc):
        saml2.assertion.in_a_while, saml2.assertion.instant, saml2.entity.instant = self.saved


class cipher:
    """The data cipher of encrypted assertions (pysaml2's default: triple DES)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.saved = (saml2.entity.pre_encryption_part, saml2.sigver.SecurityContext.encrypt_assertion)
        if self.name in CIPHERS:
            uri, session_key = CIPHERS[self.name]
            original = self.saved[1]
            saml2.entity.pre_encryption_part = functools.partial(saml2.sigver.pre_encryption_part, msg_enc=uri)

            def encrypt(ctx, statement, enc_key, template, key_type=None, node_xpath=None):
                return original(ctx, statement, enc_key, template, session_key, node_xpath)

            saml2.sigver.SecurityContext.encrypt_assertion = encrypt

    def __exit__(self, *exc):
        saml2.entity.pre_encryption_part, saml2.sigver.SecurityContext.encrypt_assertion = self.saved


class audience:
    """Assertions for `entity_id`'s audience while in the block."""

    def __init__(self, entity_id):
        self.entity_id = entity_id

    def __enter__(self):
        self.saved = saml2.assertion.Assertion.construct
        original, entity_id = self.saved, self.entity_id

        def construct(assertion, sp_entity_id, *args, **kwargs):
            return original(assertion, entity_id, *args, **kwargs)

        saml2.assertion.Assertion.construct = construct

    def __exit__(self, *exc):
        saml2.assertion.Assertion.construct = self.saved


def handler(idp):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body, content_type="text/plain; charset=utf-8"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                if url.path == "/metadata":
                    return self.answer(200, idp.metadata(), "application/samlmetadata+xml")
                if url.path == "/sso":
                    request = idp.servers["known"].parse_authn_request(
                        q["SAMLRequest"], BINDING_HTTP_REDIRECT, relay_state=q.get("RelayState"),
                        sigalg=q.get("SigAlg"), signature=q.get("Signature"))
                    if request is None:
                        return self.answer(400, "the AuthnRequest does not verify")
                    args = idp.servers["known"].response_args(request.message)
                    response = idp.respond(q, args["in_response_to"], args["sp_entity_id"], args["destination"])
                    return self.answer(200, idp.form(response, args["destination"], q.get("RelayState")),
                                       "text/html; charset=utf-8")
                if url.path == "/unsolicited":
                    sp = q["sp"]
                    acs = idp.servers["known"].metadata.assertion_consumer_service(sp, BINDING_HTTP_POST)[0]["location"]
                    response = idp.respond(q, None, sp, acs)
                    return self.answer(200, idp.form(response, acs, q.get("RelayState")), "text/html; charset=utf-8")
                return self.answer(404, "no such path")
            except Exception as e:  # the test reads the reason
                return self.answer(400, "%s: %s" % (type(e).__name__, e))

        def do_POST(self):
            if urlparse(self.path).path != "/sp":
                return self.answer(404, "no such path")
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            try:
                idp.add_sp(body)
            except Exception as e:
                return self.answer(400, "%s: %s" % (type(e).__name__, e))
            self.send_response(204)
            self.end_headers()

    return Handler


def main():
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), None)
    url = "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.RequestHandlerClass = handler(IdentityProvider(directory, url))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(json.dumps({"url": url}), flush=True)
    sys.stdin.read()  # until the test closes it (or exits)
    httpd.shutdown()


if __name__ == "__main__":
    main()
