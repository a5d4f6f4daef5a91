//! Every event fixture read back to its published fields, and the refusals.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::*;
use crate::wechat::fixture;

fn parse(xml: &str) -> Result<BTreeMap<String, String>, XmlError> {
    parse_children(xml.as_bytes())
}

/// A JSON value as the text the XML carried: numbers in the index are written bare.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[test]
fn every_event_fixture_parses_to_its_published_fields() {
    let index = fixture::json("events/index.json");

    for sample in index["samples"].as_array().into_iter().flatten() {
        let file = fixture::str(sample, "file");
        let expected: BTreeMap<String, String> = sample["expected_fields_after_trim"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, value)| (name.clone(), text_of(value)))
            .collect();

        let fields = parse_children(&fixture::bytes(&format!("events/{file}")));

        assert_eq!(fields.as_ref(), Ok(&expected), "{file}");
    }
}

#[test]
fn nested_elements_are_flattened_to_dotted_paths() {
    let xml = "<xml><Event>scancode_push</Event><ScanCodeInfo>\n  \
               <ScanType><![CDATA[qrcode]]></ScanType>\n  \
               <ScanResult><![CDATA[1]]></ScanResult>\n</ScanCodeInfo></xml>";

    let fields = parse(xml).expect("parses");

    assert_eq!(
        fields.get("ScanCodeInfo.ScanType").map(String::as_str),
        Some("qrcode")
    );
    assert_eq!(
        fields.get("ScanCodeInfo.ScanResult").map(String::as_str),
        Some("1")
    );
    assert!(!fields.contains_key("ScanCodeInfo"));
}

#[test]
fn empty_elements_are_kept_and_the_first_of_a_repeated_name_wins() {
    let xml = "<xml><A/><B></B><C> <![CDATA[]]> </C><D>1</D><D>2</D></xml>";

    let fields = parse(xml).expect("parses");

    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(pairs, [("A", ""), ("B", ""), ("C", ""), ("D", "1")]);
}

#[test]
fn predefined_entities_and_character_references_are_unescaped() {
    let xml = "<?xml version=\"1.0\"?><!-- hi --><xml><Content>a &amp; b &lt;c&gt; \
               &#20320;&#x597D;</Content><Raw><![CDATA[&amp; ]]]]><![CDATA[>]]></Raw></xml>";

    let fields = parse(xml).expect("parses");

    assert_eq!(fields["Content"], "a & b <c> 你好");
    assert_eq!(fields["Raw"], "&amp; ]]>");
}

#[test]
fn doctypes_and_entity_declarations_are_refused() {
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY a \"aaaaaaaa\">\
                  <!ENTITY b \"&a;&a;&a;&a;\">]><xml><Content>&b;</Content></xml>";
    let external = "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
                    <xml><Content>&x;</Content></xml>";

    let refused = [parse(laughs), parse(external)];

    assert_eq!(refused, [Err(XmlError::Doctype), Err(XmlError::Doctype)]);
    assert!(matches!(
        parse("<xml><C>&x;</C></xml>"),
        Err(XmlError::Malformed(_))
    ));
}

#[test]
fn a_root_other_than_xml_is_refused() {
    let root = parse("<message><A>1</A></message>");
    let long = parse(&format!("<{}/>", "n".repeat(500)));

    assert_eq!(root, Err(XmlError::NotXmlRoot("message".into())));
    assert_eq!(
        long,
        Err(XmlError::NotXmlRoot("n".repeat(MAX_QUOTED_NAME_CHARS)))
    );
    assert_eq!(parse(" \n "), Err(XmlError::NoRoot));
    assert_eq!(parse(""), Err(XmlError::NoRoot));
}

#[test]
fn malformed_documents_are_refused_with_a_message() {
    let broken = [
        "<xml><A>1</A>",
        "<xml><A>1</B></xml>",
        "<xml><A>1</A></xml><xml></xml>",
        "<xml></xml>trailing",
        "text before<xml></xml>",
        "<xml><A><![CDATA[never closed</A></xml>",
        "<xml><A>1</A></xml></A>",
    ];

    for xml in broken {
        let error = parse(xml).expect_err(xml);

        assert!(matches!(error, XmlError::Malformed(_)), "{xml}: {error:?}");
        assert!(error.to_string().starts_with("malformed xml: "), "{error}");
    }
}

#[test]
fn bytes_that_are_not_utf8_are_refused() {
    let mut xml = b"<xml><A>".to_vec();
    xml.extend_from_slice(&[0xff, 0xfe]);
    xml.extend_from_slice(b"</A><B><![CDATA[\xc3]]></B></xml>");

    let parsed = parse_children(&xml);

    assert!(matches!(parsed, Err(XmlError::Malformed(_))), "{parsed:?}");
}

#[test]
fn nesting_and_element_count_are_bounded() {
    let deep = format!(
        "<xml>{}{}</xml>",
        "<a>".repeat(MAX_DEPTH),
        "</a>".repeat(MAX_DEPTH)
    );
    let just_deep_enough = format!(
        "<xml>{}x{}</xml>",
        "<a>".repeat(MAX_DEPTH - 1),
        "</a>".repeat(MAX_DEPTH - 1)
    );
    let wide = format!("<xml>{}</xml>", "<a/>".repeat(MAX_ELEMENTS));

    assert_eq!(parse(&deep), Err(XmlError::TooDeep));
    assert_eq!(parse(&just_deep_enough).map(|f| f.len()), Ok(1));
    assert_eq!(parse(&wide), Err(XmlError::TooManyElements));
}

#[test]
fn garbage_and_mutated_documents_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x1dea);
    let valid = fixture::bytes("events/user_get_card.xml");
    let splices: [&[u8]; 8] = [
        b"<",
        b">",
        b"&",
        b"]]>",
        b"<![CDATA[",
        b"</",
        b"<!DOCTYPE",
        b"\0",
    ];
    let mut parsed = 0;

    for round in 0..3000 {
        let mut bytes = valid.clone();
        match round % 4 {
            0 => bytes = (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect(),
            1 => bytes.truncate(rng.gen_range(0..valid.len())),
            2 => {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = rng.gen();
            }
            _ => {
                let at = rng.gen_range(0..bytes.len());
                let splice = splices[rng.gen_range(0..splices.len())];
                bytes.splice(at..at, splice.iter().copied());
            }
        }

        parsed += usize::from(parse_children(&bytes).is_ok());
    }

    assert!(parsed < 3000, "garbage must not all parse");
}
