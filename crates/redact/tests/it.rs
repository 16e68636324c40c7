//! Behaviour of the detectors on sentences, look-alikes that must survive, and properties of `redact`.

use std::sync::OnceLock;

use proptest::prelude::*;
use redact::{Custom, Detectors, Found, Kind, Redacted, Source, MAX_PASSES};

fn all() -> &'static Detectors {
    static ALL: OnceLock<Detectors> = OnceLock::new();
    ALL.get_or_init(Detectors::all)
}

/// The redacted text, or the input unchanged when nothing was found.
fn redacted(text: &str) -> String {
    all().redact(text).map_or_else(|| text.to_owned(), |r| r.text)
}

fn kinds(text: &str) -> Vec<Kind> {
    all()
        .find(text)
        .into_iter()
        .map(|f| match f.source {
            Source::Builtin(k) => k,
            Source::Custom(i) => panic!("no customs configured, got {i}"),
        })
        .collect()
}

#[track_caller]
fn check_table(table: &[(&str, &str)]) {
    for (input, expected) in table {
        assert_eq!(redacted(input), *expected, "input: {input:?}");
    }
}

#[track_caller]
fn check_untouched(inputs: &[&str]) {
    for input in inputs {
        assert_eq!(all().find(input), Vec::<Found>::new(), "input: {input:?}");
        assert_eq!(all().redact(input), None, "input: {input:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// Names and markers.

#[test]
fn names_and_markers() {
    let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(
        names,
        ["email", "phone", "card", "iban", "fi_hetu", "se_personnummer", "ip"]
    );
    let markers: Vec<_> = Kind::ALL.iter().map(|k| k.marker()).collect();
    assert_eq!(
        markers,
        [
            "[email]",
            "[phone]",
            "[card]",
            "[iban]",
            "[hetu]",
            "[personnummer]",
            "[ip]"
        ]
    );
    for k in Kind::ALL {
        assert_eq!(Kind::from_name(k.name()), Some(k));
    }
    assert_eq!(Kind::from_name("EMAIL"), None);
    assert_eq!(Kind::from_name("hetu"), None);
    assert_eq!(Kind::from_name(""), None);
}

#[test]
fn detectors_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Detectors>();
    assert_send_sync::<std::sync::Arc<Detectors>>();
}

// ------------------------------------------------------------------------------------------------
// E-mail.

#[test]
fn email_in_sentences() {
    check_table(&[
        ("mail me at anna.virtanen@example.fi", "mail me at [email]"),
        (
            "Lähetä viesti osoitteeseen matti.meikäläinen@yritys.fi, kiitos.",
            "Lähetä viesti osoitteeseen [email], kiitos.",
        ),
        (
            "Skicka till sven_svensson+enkät@mail.example.se.",
            "Skicka till [email].",
        ),
        (
            "Schreiben Sie an jürgen.müller@müller-bau.de!",
            "Schreiben Sie an [email]!",
        ),
        ("two: a@b.co and x.y%z@sub.domain.org", "two: [email] and [email]"),
        ("<ANNA@EXAMPLE.COM>", "<[email]>"),
    ]);
}

#[test]
fn email_look_alikes_survive() {
    check_untouched(&[
        "Follow us @vox_feedback",
        "anna@localhost",
        "meet at 10 @ the office",
        "price@5.00",
        "a@b.c",
        "user@ example.fi",
    ]);
}

// ------------------------------------------------------------------------------------------------
// Phone.

#[test]
fn phones_finnish() {
    check_table(&[
        ("Soita minulle numeroon 040 123 4567", "Soita minulle numeroon [phone]"),
        (
            "Soita minulle numeroon 040 123 4567.",
            "Soita minulle numeroon [phone].",
        ),
        ("Puh. 09 1234 5678 (vaihde)", "Puh. [phone] (vaihde)"),
        ("numero 050-1234567, kiitos", "numero [phone], kiitos"),
        ("soita +358 40 123 4567 tai +358401234567", "soita [phone] tai [phone]"),
        (
            "Tavoitat minut numerosta 0401234567",
            "Tavoitat minut numerosta [phone]",
        ),
    ]);
}

#[test]
fn phones_swedish() {
    check_table(&[
        ("Ring mig på 070-123 45 67", "Ring mig på [phone]"),
        (
            "Ring mig på 08-123 456 78 efter lunch",
            "Ring mig på [phone] efter lunch",
        ),
        ("Mitt nummer är 0701234567.", "Mitt nummer är [phone]."),
        ("Ring +46 70-123 45 67", "Ring [phone]"),
        ("Ring +46 (0)70 123 45 67", "Ring [phone]"),
    ]);
}

#[test]
fn phones_german() {
    check_table(&[
        (
            "Rufen Sie mich unter 0151 12345678 an",
            "Rufen Sie mich unter [phone] an",
        ),
        ("Telefon: 030 12345678", "Telefon: [phone]"),
        (
            "Büro (030) 1234 5678, mobil 0171/1234567",
            "Büro [phone], mobil [phone]",
        ),
        ("Tel. 030/1234567", "Tel. [phone]"),
        ("+49 30 12345678 oder +49 (0)151 12345678", "[phone] oder [phone]"),
    ]);
}

#[test]
fn phones_international_forms() {
    check_table(&[
        ("Call +1 (555) 123-4567 today", "Call [phone] today"),
        ("Call +1.555.123.4567", "Call [phone]"),
        ("Call +44 20 7946 0958", "Call [phone]"),
        ("numerot 040 123 4567 050 765 4321", "numerot [phone] [phone]"),
        ("on 01.02.2024 soita 040 123 4567", "on 01.02.2024 soita [phone]"),
        ("01/02/2024 0401234567", "01/02/2024 [phone]"),
    ]);
}

#[test]
fn phone_look_alikes_survive() {
    check_untouched(&[
        // Dates and times.
        "Tilaus tehtiin 01/02/2024 klo 12:30",
        "Termin am 05.01.2024 um 14:00 Uhr",
        "datum 2024-05-01 kl 08:15",
        "leverans 05-01-2024",
        "on 01 02 2024",
        "01/02/2024 12:30",
        "Öppet 08-12 13-17",
        "Öffnungszeiten 08:00-18:00",
        // Short numbers, order numbers, prices, years, postal codes.
        "tilausnumero 012345",
        "Bestellnummer 0815",
        "Hinta 1 299,00 €",
        "Preis: 1.299,00 EUR",
        "Pris 12 995 kr",
        "vuodesta 2019 vuoteen 2024",
        "00100 Helsinki",
        "114 55 Stockholm",
        "10115 Berlin",
        "01067 Dresden",
        // Digits inside longer tokens.
        "SKU ABC0401234567",
        "tuote 0401234567X",
        "serial 0401234567a",
        "x+3584012345678901234",
        "Bestellung 1234 0567 8901 2345",
        "12 040 123 4567 89 12",
        "+123456",
        "+0401234",
        "2+2=4",
    ]);
}

// ------------------------------------------------------------------------------------------------
// Card.

#[test]
fn cards_in_sentences() {
    check_table(&[
        (
            "My card is 4111 1111 1111 1111, expiry 12/27",
            "My card is [card], expiry 12/27",
        ),
        ("Korttini numero on 4111-1111-1111-1111.", "Korttini numero on [card]."),
        ("Mitt kort: 5555555555554444", "Mitt kort: [card]"),
        ("Amex 3782 822463 10005 bitte löschen", "Amex [card] bitte löschen"),
        ("two 4111 1111 1111 1111 5555 5555 5555 4444", "two [card] [card]"),
    ]);
}

#[test]
fn card_look_alikes_survive() {
    check_untouched(&[
        // Same length, fails Luhn.
        "Order number 4111 1111 1111 1112",
        "Tilausnumero 1234567890123",
        "Bestellung 1234-5678-9012-3456",
        // Too short / too long.
        "4111 1111 1111",
        "41111111111111111111111",
        "Ref 4111111111111111X",
        // Decimal with many digits is not a standalone number here either (glued to a letter).
        "pi3141592653589793",
    ]);
}

// ------------------------------------------------------------------------------------------------
// IBAN.

#[test]
fn ibans_in_sentences() {
    check_table(&[
        ("Tilinumeroni on FI21 1234 5600 0007 85.", "Tilinumeroni on [iban]."),
        ("Tilinumeroni on FI2112345600000785", "Tilinumeroni on [iban]"),
        (
            "Konto: DE89 3704 0044 0532 0130 00 bei der Bank",
            "Konto: [iban] bei der Bank",
        ),
        (
            "Mitt konto SE45 5000 0000 0583 9825 7466 från banken",
            "Mitt konto [iban] från banken",
        ),
        ("account gb82 west 1234 5698 7654 32", "account [iban]"),
    ]);
}

#[test]
fn iban_look_alikes_survive() {
    check_untouched(&[
        "Tilinumeroni on FI21 1234 5600 0007 86.",
        "Konto DE88 3704 0044 0532 0130 00",
        "code AB12CDEFGHIJKLMNOP",
        "XFI2112345600000785",
    ]);
}

// ------------------------------------------------------------------------------------------------
// Henkilötunnus.

#[test]
fn hetus_in_sentences() {
    check_table(&[
        ("Henkilötunnukseni on 131052-308T.", "Henkilötunnukseni on [hetu]."),
        ("hetu 131052-308t", "hetu [hetu]"),
        (
            "lapsen tunnus 010101A123N ja 290200A002C",
            "lapsen tunnus [hetu] ja [hetu]",
        ),
        ("uusi muoto 010190Y123M, 290204B4562", "uusi muoto [hetu], [hetu]"),
        ("isoisä 150875+900H", "isoisä [hetu]"),
    ]);
}

#[test]
fn hetu_look_alikes_survive() {
    check_untouched(&[
        "Henkilötunnus 131052-308U",
        "tunnus 290201A002C",
        "tunnus 290200-002C",
        "tunnus 320152-308T",
        "tunnus 131052-001T",
        "X131052-308T",
        "131052-308TT",
    ]);
}

// ------------------------------------------------------------------------------------------------
// Personnummer.

#[test]
fn personnummer_in_sentences() {
    check_table(&[
        (
            "Mitt personnummer är 811218-9876.",
            "Mitt personnummer är [personnummer].",
        ),
        ("pnr 19811218-9876", "pnr [personnummer]"),
        (
            "pnr 198112189876 och 8112189876",
            "pnr [personnummer] och [personnummer]",
        ),
        ("hundraåring 811218+9876", "hundraåring [personnummer]"),
        ("samordningsnummer 811278-9873", "samordningsnummer [personnummer]"),
    ]);
}

#[test]
fn personnummer_look_alikes_survive() {
    check_untouched(&[
        "personnummer 811218-9875",
        "pnr 19811218+9876",
        "pnr 811318-9876",
        "pnr A811218-9876",
        "ordernummer 20240501-0001",
    ]);
}

// ------------------------------------------------------------------------------------------------
// IP.

#[test]
fn ips_in_sentences() {
    check_table(&[
        ("My IP is 192.168.1.10.", "My IP is [ip]."),
        ("server 10.0.0.1:8080 ei vastaa", "server [ip]:8080 ei vastaa"),
        ("IPv6 fe80::1 och 2001:db8::ff00:42:8329", "IPv6 [ip] och [ip]"),
        ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334!", "full [ip]!"),
        ("mapped ::ffff:192.0.2.128 here", "mapped [ip] here"),
        ("IP:fe80::1: es ging nicht", "IP:[ip]: es ging nicht"),
        ("[2001:db8::1]:443", "[[ip]]:443"),
        ("loopback ::1", "loopback [ip]"),
    ]);
}

#[test]
fn ip_look_alikes_survive() {
    check_untouched(&[
        "version 2.4.1",
        "1.2.3.4.5",
        "v1.2.3.4",
        "256.1.1.1",
        "192.168.001.1",
        "01.02.2024",
        "Termin 05.01.2024",
        "klo 12:30",
        "kl. 12:30:45",
        "std::vector",
        "dead::beef",
        "ratio 1:2:3",
        "10:30-12:00",
    ]);
}

// ------------------------------------------------------------------------------------------------
// Several at once, priority, counts.

#[test]
fn table_of_mixed_inputs() {
    check_table(&[
        ("", ""),
        ("Kiitos, kaikki toimi hyvin!", "Kiitos, kaikki toimi hyvin!"),
        (
            "Olen Anna (anna@example.fi, 040 123 4567), tili FI21 1234 5600 0007 85.",
            "Olen Anna ([email], [phone]), tili [iban].",
        ),
        ("Mail: 0401234567@example.fi", "Mail: [email]"),
        ("a@b.fi0401234567", "[email][phone]"),
        ("card 4111111111111111 from 10.0.0.1", "card [card] from [ip]"),
        ("hetu 131052-308T, pnr 811218-9876", "hetu [hetu], pnr [personnummer]"),
    ]);
}

#[test]
fn priority_email_over_phone_and_personnummer_over_phone() {
    assert_eq!(kinds("0401234567@example.fi"), [Kind::Email]);
    // A Luhn-valid 10-digit personnummer is also a national phone number: personnummer wins.
    assert_eq!(kinds("8112189876"), [Kind::SePersonnummer]);
    assert_eq!(kinds("0701234567"), [Kind::Phone]);
}

#[test]
fn find_reports_ranges_and_sources() {
    let text = "anna@example.fi / 040 123 4567";
    let found = all().find(text);
    assert_eq!(
        found,
        [
            Found {
                range: 0..15,
                source: Source::Builtin(Kind::Email)
            },
            Found {
                range: 18..30,
                source: Source::Builtin(Kind::Phone)
            },
        ]
    );
}

#[test]
fn counts_are_sorted_and_summed() {
    let r = all().redact("b@c.fi 040 123 4567 a@b.fi 10.0.0.1").expect("found");
    assert_eq!(r.text, "[email] [phone] [email] [ip]");
    assert_eq!(
        r.counts,
        [
            (Source::Builtin(Kind::Email), 2),
            (Source::Builtin(Kind::Phone), 1),
            (Source::Builtin(Kind::Ip), 1)
        ]
    );
    // A second pass finds the phone number that was glued to the address.
    let r = all().redact("a@b.fi0401234567").expect("found");
    assert_eq!(
        r.counts,
        [(Source::Builtin(Kind::Email), 1), (Source::Builtin(Kind::Phone), 1)]
    );
}

#[test]
fn only_enabled_kinds_run() {
    let d = Detectors::new(&[Kind::Email], Vec::new());
    assert_eq!(
        d.redact("anna@example.fi 040 123 4567").map(|r| r.text).as_deref(),
        Some("[email] 040 123 4567")
    );
    let none = Detectors::new(&[], Vec::new());
    assert_eq!(none.redact("anna@example.fi 040 123 4567"), None);
}

#[test]
fn customs_come_first_in_order() {
    let customs = vec![
        Custom {
            regex: regex::Regex::new(r"ORD-[0-9]+").expect("valid"),
            marker: "[order]".into(),
        },
        Custom {
            regex: regex::Regex::new(r"[0-9]{3} [0-9]{4}").expect("valid"),
            marker: "[tail]".into(),
        },
        Custom {
            regex: regex::Regex::new(r"x*").expect("valid"),
            marker: "[empty]".into(),
        },
    ];
    let d = Detectors::new(&Kind::ALL, customs);
    let r = d.redact("ORD-0401234567 ja 040 123 4567").expect("found");
    assert_eq!(r.text, "[order] ja 040 [tail]");
    assert_eq!(r.counts, [(Source::Custom(0), 1), (Source::Custom(1), 1)]);
    // The custom claimed part of the phone number; the rest is too short to be one.
    assert_eq!(d.find(&r.text), []);
}

#[test]
fn a_custom_marker_that_matches_itself_stops_after_the_bound() {
    let customs = vec![Custom {
        regex: regex::Regex::new("a").expect("valid"),
        marker: "aa".into(),
    }];
    let d = Detectors::new(&[], customs);
    let r = d.redact("a").expect("found");
    assert_eq!(r.text.len(), 1 << MAX_PASSES);
    assert_eq!(r.counts, [(Source::Custom(0), (1 << MAX_PASSES) - 1)]);
}

// ------------------------------------------------------------------------------------------------
// Properties.

/// Pieces that make detectors fire, and pieces that glue or break them.
const PIECES: &[&str] = &[
    "0",
    "1",
    "4",
    "7",
    "9",
    "00",
    "12",
    "040",
    "358",
    "2024",
    " ",
    " ",
    "-",
    "/",
    ".",
    ":",
    "::",
    "@",
    "+",
    "(",
    ")",
    ",",
    "a",
    "F",
    "x",
    "T",
    "ä",
    "ß",
    "é",
    "€",
    "\u{a0}",
    "\n",
    "040 123 4567",
    "+358 40 123 4567",
    "(030) 1234 5678",
    "4111 1111 1111 1111",
    "4111111111111111",
    "FI21 1234 5600 0007 85",
    "131052-308T",
    "811218-9876",
    "8112189876",
    "anna@example.fi",
    "a@b.fi",
    "10.0.0.1",
    "fe80::1",
    "::ffff:1.2.3.4",
    "01/02/2024",
    "12:30",
];

fn mixed() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|v| v.concat())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[0-9 .:+@()/a-fA-F-]{0,60}", mixed()]
}

fn with_customs() -> &'static Detectors {
    static D: OnceLock<Detectors> = OnceLock::new();
    D.get_or_init(|| {
        let customs = vec![
            Custom {
                regex: regex::Regex::new(r"(?i)order\s*#?[0-9]+").expect("valid"),
                marker: "[order]".into(),
            },
            Custom {
                regex: regex::Regex::new(r"[0-9]{2}:").expect("valid"),
                marker: "[c]".into(),
            },
        ];
        Detectors::new(&Kind::ALL, customs)
    })
}

#[track_caller]
fn check_found(text: &str, found: &[Found]) {
    let mut last_end = 0;
    for f in found {
        assert!(!f.range.is_empty(), "{text:?}: empty span {f:?}");
        assert!(f.range.start >= last_end, "{text:?}: overlapping or unsorted {found:?}");
        assert!(
            text.is_char_boundary(f.range.start) && text.is_char_boundary(f.range.end),
            "{text:?}: {f:?}"
        );
        assert!(f.range.end <= text.len());
        last_end = f.range.end;
    }
}

#[track_caller]
fn check_redaction(d: &Detectors, text: &str) {
    let found = d.find(text);
    check_found(text, &found);
    match d.redact(text) {
        None => assert!(found.is_empty(), "{text:?}: found {found:?} but redact returned None"),
        Some(Redacted { text: out, counts }) => {
            assert!(!found.is_empty());
            assert_eq!(d.find(&out), [], "{text:?} redacted to {out:?}");
            assert_eq!(d.redact(&out), None, "{text:?} redacted to {out:?}");
            assert!(counts.windows(2).all(|w| w[0].0 < w[1].0), "{counts:?}");
            assert!(counts.iter().all(|(_, n)| *n > 0), "{counts:?}");
            assert!(counts.iter().map(|(_, n)| n).sum::<usize>() >= found.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn redaction_is_complete_and_idempotent(text in text()) {
        check_redaction(all(), &text);
    }

    #[test]
    fn redaction_with_customs_is_complete_and_idempotent(text in text()) {
        check_redaction(with_customs(), &text);
    }

    #[test]
    fn embedded_data_is_always_redacted(
        before in "[a-zäö ,.!?]{0,20}",
        piece in prop::sample::select(&[
            "anna@example.fi", "040 123 4567", "+358 40 123 4567", "4111 1111 1111 1111", "FI21 1234 5600 0007 85",
            "131052-308T", "811218-9876", "10.0.0.1", "fe80::1",
        ][..]),
        after in "[ ,.!?][a-zäö ,.!?]{0,20}",
    ) {
        let text = format!("{before} {piece}{after}");
        let out = redacted(&text);
        prop_assert!(!out.contains(piece), "{text:?} -> {out:?}");
    }
}
