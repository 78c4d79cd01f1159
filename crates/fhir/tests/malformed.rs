//! Bad input is rejected with the element's path and a clear message, never with a panic.

use dsf_fhir::{Format, ParseError, parse};

/// Parses JSON that must be rejected as invalid FHIR; returns (path, message).
fn invalid_json(body: &str) -> (String, String) {
    match parse(body.as_bytes(), Format::Json) {
        Err(ParseError::Invalid { path, message }) => (path, message),
        other => panic!("expected Invalid for {body}, got {other:?}"),
    }
}

fn invalid_xml(body: &str) -> (String, String) {
    match parse(body.as_bytes(), Format::Xml) {
        Err(ParseError::Invalid { path, message }) => (path, message),
        other => panic!("expected Invalid for {body}, got {other:?}"),
    }
}

fn syntax(body: &[u8], format: Format) -> String {
    match parse(body, format) {
        Err(ParseError::Syntax { message, .. }) => message,
        other => panic!("expected Syntax, got {other:?}"),
    }
}

#[test]
fn json_structure_errors_name_the_path() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"resourceType":"Patient","foo":1}"#,
            "Patient.foo",
            "unknown element",
        ),
        (
            r#"{"resourceType":"Patient","gender":["male"]}"#,
            "Patient.gender",
            "max cardinality 1",
        ),
        (
            r#"{"resourceType":"Patient","name":{"family":"x"}}"#,
            "Patient.name",
            "expected an array",
        ),
        (
            r#"{"resourceType":"Patient","active":"true"}"#,
            "Patient.active",
            "expected a boolean",
        ),
        (
            r#"{"resourceType":"Patient","multipleBirthInteger":1.5}"#,
            "Patient.multipleBirthInteger",
            "integer",
        ),
        (
            r#"{"resourceType":"Patient","multipleBirthInteger":2147483648}"#,
            "Patient.multipleBirthInteger",
            "out of range",
        ),
        (
            r#"{"resourceType":"Patient","multipleBirthInteger":1e999999}"#,
            "Patient.multipleBirthInteger",
            "integer",
        ),
        (
            r#"{"resourceType":"Patient","birthDate":"1970-13-01"}"#,
            "Patient.birthDate",
            "invalid date",
        ),
        (
            r#"{"resourceType":"Patient","id":"a b"}"#,
            "Patient.id",
            "invalid id",
        ),
        (
            r#"{"resourceType":"Patient","gender":" male"}"#,
            "Patient.gender",
            "invalid code",
        ),
        (
            r#"{"resourceType":"Patient","name":[{"family":""}]}"#,
            "Patient.name[0].family",
            "empty string",
        ),
        (
            r#"{"resourceType":"Patient","name":[{}]}"#,
            "Patient.name[0]",
            "empty object",
        ),
        (
            r#"{"resourceType":"Patient","name":[]}"#,
            "Patient.name",
            "empty array",
        ),
        (
            r#"{"resourceType":"Patient","gender":null}"#,
            "Patient.gender",
            "found null",
        ),
        (
            r#"{"resourceType":"Patient","name":[{"given":["a",null]}]}"#,
            "Patient.name[0].given[1]",
            "null",
        ),
        (
            r#"{"resourceType":"Patient","name":[{"given":["a"],"_given":[null,{"id":"x"}]}]}"#,
            "Patient.name[0].given",
            "companion",
        ),
        (
            r#"{"resourceType":"Patient","_birthDate":{"foo":1}}"#,
            "Patient._birthDate.foo",
            "unknown element",
        ),
        (
            r#"{"resourceType":"Patient","_name":{"id":"x"}}"#,
            "Patient._name",
            "only primitive",
        ),
        (
            r#"{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"}"#,
            "Patient.deceasedDateTime",
            "more than one type",
        ),
        (
            r#"{"resourceType":"Patient","deceasedString":"x"}"#,
            "Patient.deceasedString",
            "unknown element",
        ),
        (
            r#"{"resourceType":"Patient","fhir_comments":["x"]}"#,
            "Patient.fhir_comments",
            "fhir_comments",
        ),
        (
            r#"{"resourceType":"Nope"}"#,
            "resourceType",
            "unknown resource type",
        ),
        (
            r#"{"resourceType":"Resource"}"#,
            "resourceType",
            "unknown resource type",
        ),
        (
            r#"{"resourceType":"Patient","contained":[{"resourceType":"Patient","foo":1}]}"#,
            "Patient.contained[0].Patient.foo",
            "unknown element",
        ),
        (
            r#"{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Task"}}]}"#,
            "Bundle.entry[0].resource.Task.status",
            "missing required",
        ),
        (
            r#"{"resourceType":"Patient","text":{"status":"generated","div":"hello"}}"#,
            "Patient.text.div",
            "<div",
        ),
        (
            r#"{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p></div>"}}"#,
            "Patient.text.div",
            "well-formed",
        ),
        (
            r#"{"resourceType":"Patient","text":{"status":"generated","div":"<div>x</div>"}}"#,
            "Patient.text.div",
            "xmlns",
        ),
        (
            r#"{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">&nbsp;</div>"}}"#,
            "Patient.text.div",
            "entity",
        ),
        (
            r#"{"resourceType":"Patient","extension":[{"valueString":"x"}]}"#,
            "Patient.extension[0].url",
            "missing required",
        ),
        (
            r#"{"resourceType":"Patient","name":[{"family":"a\u0001"}]}"#,
            "Patient.name[0].family",
            "control",
        ),
    ];
    for (body, path, msg) in cases {
        let (p, m) = invalid_json(body);
        assert_eq!(&p, path, "path for {body}: {m}");
        assert!(
            m.contains(msg),
            "message for {body}: {m:?} should contain {msg:?}"
        );
    }
    assert!(invalid_json("[1]").1.contains("not a resource"));
    assert!(invalid_json(r#"{"id":"x"}"#).1.contains("resourceType"));
}

#[test]
fn json_syntax_errors() {
    syntax(b"{", Format::Json);
    syntax(b"", Format::Json);
    syntax(
        b"{\"resourceType\":\"Patient\",\"id\":\"\xff\"}",
        Format::Json,
    );
    // serde_json's recursion limit guards the parser; nothing overflows the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    syntax(deep.as_bytes(), Format::Json);
    let mut nested = String::from(r#"{"resourceType":"Patient","extension":"#);
    for _ in 0..5_000 {
        nested.push_str(r#"[{"url":"a","extension":"#);
    }
    nested.push_str("[]");
    nested.push_str(&"}]".repeat(5_000));
    nested.push('}');
    syntax(nested.as_bytes(), Format::Json);
}

#[test]
fn valid_edge_cases_are_kept() {
    let body = r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50000000000000000000100},"_status":{"id":"s"}}"#;
    let r = parse(body.as_bytes(), Format::Json).expect("valid");
    let json = String::from_utf8(dsf_fhir::serialize(&r, Format::Json, false)).expect("utf8");
    assert!(json.contains("1.50000000000000000000100"), "{json}");
    let xml = String::from_utf8(dsf_fhir::serialize(&r, Format::Xml, false)).expect("utf8");
    assert!(xml.contains(r#"<status id="s" value="final"/>"#), "{xml}");
    assert!(
        xml.contains(r#"<value value="1.50000000000000000000100"/>"#),
        "{xml}"
    );
    let back = parse(xml.as_bytes(), Format::Xml).expect("xml back");
    assert_eq!(back.as_json(), r.as_json());

    // An array of primitives with extension-only items, and an extension-only choice primitive.
    let body = r#"{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"extension":[{"url":"u","valueCode":"unknown"}]}]}],"_birthDate":{"extension":[{"url":"u","valueBoolean":true}]}}"#;
    let r = parse(body.as_bytes(), Format::Json).expect("valid");
    let xml = dsf_fhir::serialize(&r, Format::Xml, true);
    let back = parse(&xml, Format::Xml).expect("xml back");
    assert_eq!(back.as_json(), r.as_json());

    // Strings keep newlines, tabs and markup characters through XML attributes.
    let body = "{\"resourceType\":\"Patient\",\"name\":[{\"text\":\"a\\n\\tb \\\"<&>\\r\"}]}";
    let r = parse(body.as_bytes(), Format::Json).expect("valid");
    let back = parse(&dsf_fhir::serialize(&r, Format::Xml, false), Format::Xml).expect("xml back");
    assert_eq!(back.as_json(), r.as_json());
}

#[test]
fn xml_errors_name_the_path() {
    const NS: &str = r#"xmlns="http://hl7.org/fhir""#;
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!(r#"<Patient {NS}><foo value="1"/></Patient>"#),
            "Patient.foo",
            "unknown element",
        ),
        (
            format!(r#"<Patient {NS} foo="1"/>"#),
            "Patient.@foo",
            "unknown attribute",
        ),
        (
            format!(r#"<Patient {NS}><active value="yes"/></Patient>"#),
            "Patient.active",
            "invalid boolean",
        ),
        (
            format!(r#"<Patient {NS}><active/></Patient>"#),
            "Patient.active",
            "no value",
        ),
        (
            format!(r#"<Patient {NS}><active value="true" foo="x"/></Patient>"#),
            "Patient.active.@foo",
            "unknown attribute",
        ),
        (
            format!(r#"<Patient {NS}><gender value="male"/><gender value="female"/></Patient>"#),
            "Patient.gender",
            "max cardinality is 1",
        ),
        (
            format!(
                r#"<Patient {NS}><deceasedBoolean value="true"/><deceasedDateTime value="2020"/></Patient>"#
            ),
            "Patient.deceasedDateTime",
            "more than one type",
        ),
        (
            format!(r#"<Patient {NS}><active>true</active></Patient>"#),
            "Patient.active",
            "text content",
        ),
        (
            format!(r#"<Patient {NS}>text</Patient>"#),
            "Patient",
            "text content",
        ),
        (
            format!(r#"<Patient {NS}><multipleBirthInteger value="1.5"/></Patient>"#),
            "Patient.multipleBirthInteger",
            "integer",
        ),
        (
            format!(r#"<Patient {NS}><birthDate value="1970-02-30T"/></Patient>"#),
            "Patient.birthDate",
            "invalid date",
        ),
        (
            format!(r#"<Patient {NS}><name value="x"/></Patient>"#),
            "Patient.name.@value",
            "unknown attribute",
        ),
        (
            format!(r#"<Patient {NS}><contained><Nope/></contained></Patient>"#),
            "Patient.contained",
            "unknown resource type",
        ),
        (
            format!(r#"<Patient {NS}><contained/></Patient>"#),
            "Patient.contained",
            "must contain a resource",
        ),
        (
            format!(
                r#"<Patient {NS}><text><status value="generated"/><div>x</div></text></Patient>"#
            ),
            "Patient.text.div",
            "namespace",
        ),
        (
            format!(
                r#"<Patient {NS}><name xmlns="urn:other"><family value="x"/></name></Patient>"#
            ),
            "Patient.name",
            "namespace",
        ),
        (
            r#"<Patient><id value="x"/></Patient>"#.to_owned(),
            "",
            "FHIR namespace",
        ),
        (format!(r#"<Nope {NS}/>"#), "", "unknown resource type"),
        (
            format!(r#"<Patient {NS}><name><given value=""/></name></Patient>"#),
            "Patient.name[0].given[0]",
            "empty string",
        ),
    ];
    for (body, path, msg) in &cases {
        let (p, m) = invalid_xml(body);
        assert_eq!(&p, path, "path for {body}: {m}");
        assert!(
            m.contains(msg),
            "message for {body}: {m:?} should contain {msg:?}"
        );
    }
}

#[test]
fn xml_syntax_errors_and_xxe() {
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Patient xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Patient>"#;
    assert!(syntax(xxe.as_bytes(), Format::Xml).contains("DOCTYPE"));
    let undefined = r#"<Patient xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Patient>"#;
    assert!(parse(undefined.as_bytes(), Format::Xml).is_err());
    syntax(b"<Patient xmlns=\"http://hl7.org/fhir\">", Format::Xml);
    syntax(
        b"<Patient xmlns=\"http://hl7.org/fhir\"></Practitioner>",
        Format::Xml,
    );
    syntax(b"", Format::Xml);
    syntax(
        b"<Patient xmlns=\"http://hl7.org/fhir\"><id value=\"\xff\"/></Patient>",
        Format::Xml,
    );
    syntax(
        b"<Patient xmlns=\"http://hl7.org/fhir\"/><Patient xmlns=\"http://hl7.org/fhir\"/>",
        Format::Xml,
    );
    let pi = r#"<?xml-stylesheet href="x"?><Patient xmlns="http://hl7.org/fhir"/>"#;
    assert!(parse(pi.as_bytes(), Format::Xml).is_err());
}

#[test]
fn deep_xml_is_bounded() {
    let mut body = String::from(r#"<Patient xmlns="http://hl7.org/fhir">"#);
    let n = 100_000;
    body.push_str(&r#"<extension url="a">"#.repeat(n));
    body.push_str(&"</extension>".repeat(n));
    body.push_str("</Patient>");
    let (_, m) = invalid_xml(&body);
    assert!(m.contains("nesting deeper"), "{m}");

    let mut body =
        String::from(r#"<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/>"#);
    let n = 10_000;
    body.push_str(&"<entry><resource><Bundle><type value=\"collection\"/>".repeat(n));
    body.push_str(&"</Bundle></resource></entry>".repeat(n));
    body.push_str("</Bundle>");
    let (_, m) = invalid_xml(&body);
    assert!(m.contains("nesting deeper"), "{m}");
}

#[test]
fn trusted_garbage_serializes_without_panic() {
    let odd = serde_json::json!({
        "resourceType": "Patient",
        "unknown": {"x": 1},
        "active": "not a bool",
        "name": {"family": ["a"]},
        "gender": [1, 2],
        "_gender": "x",
        "text": {"status": "generated", "div": "<div><unclosed>"},
        "contained": [{"resourceType": "Nope"}, 5, {"resourceType": "Patient", "id": "c"}],
        "extension": [{"url": "u", "valueString": "a\u{1}b"}],
    });
    let serde_json::Value::Object(map) = odd else {
        unreachable!()
    };
    let r = dsf_fhir::Resource::trusted(map);
    for pretty in [false, true] {
        let xml = dsf_fhir::serialize(&r, Format::Xml, pretty);
        // Whatever survives is well-formed XML.
        let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("written XML is malformed: {e}"),
            }
        }
        assert!(!dsf_fhir::serialize(&r, Format::Json, pretty).is_empty());
    }
    let mut no_type = serde_json::Map::new();
    no_type.insert("id".into(), "x".into());
    assert!(
        dsf_fhir::serialize(&dsf_fhir::Resource::trusted(no_type), Format::Xml, false).is_empty()
    );
}

#[test]
fn xml_namespace_forms() {
    // Schema location hints, prefixed FHIR namespace, comments: all accepted.
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<f:Patient xmlns:f="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://hl7.org/fhir patient.xsd">
  <!-- inside -->
  <f:id value="x"/>
  <f:text><f:status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>a &amp; b &#160;</p></div></f:text>
  <f:active value="true"/>
</f:Patient>"#;
    let r = parse(body.as_bytes(), Format::Xml).expect("valid");
    assert_eq!(r.id(), Some("x"));
    assert_eq!(
        r.as_json()["text"]["div"],
        r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>a &amp; b &#160;</p></div>"#
    );
    assert_eq!(r.as_json()["active"], true);
    let (path, _) = invalid_xml(r#"<Patient xmlns="http://hl7.org/fhir" xml:lang="en"/>"#);
    assert_eq!(path, "Patient.@xml:lang");
}

#[test]
fn narrative_without_active_content() {
    for div in [
        r#"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script></div>"#,
        r#"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p onclick=\"x()\">a</p></div>"#,
        r#"<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\" JavaScript:x()\">a</a></div>"#,
        r#"<div xmlns=\"http://www.w3.org/1999/xhtml\"><IFRAME src=\"x\"/></div>"#,
    ] {
        let body = format!(
            r#"{{"resourceType":"Patient","text":{{"status":"generated","div":"{div}"}}}}"#
        );
        let (path, message) = invalid_json(&body);
        assert_eq!(path, "Patient.text.div", "{message}");
        assert!(message.contains("txt-1"), "{message}");
    }
}

#[test]
fn error_display() {
    let e = parse(br#"{"resourceType":"Patient","foo":1}"#, Format::Json).expect_err("invalid");
    assert_eq!(
        e.to_string(),
        r#"Patient.foo: unknown element "foo" in Patient"#
    );
    let e = parse(b"[]", Format::Json).expect_err("invalid");
    assert!(e.to_string().starts_with("not a resource"), "{e}");
    let e = parse(b"{", Format::Json).expect_err("invalid");
    assert!(e.to_string().starts_with("malformed JSON"), "{e}");
}

#[test]
fn json_duplicate_members_are_rejected() {
    let m = syntax(
        br#"{"resourceType":"Patient","active":true,"active":false}"#,
        Format::Json,
    );
    assert!(m.contains("duplicate member \"active\""), "{m}");
    let m = syntax(
        br#"{"resourceType":"Patient","name":[{"family":"a","family":"b"}]}"#,
        Format::Json,
    );
    assert!(m.contains("duplicate member \"family\""), "{m}");
    // Numbers keep their text.
    let r = parse(br#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":0.10000000000000000000001}}"#, Format::Json).expect("valid");
    assert_eq!(
        r.as_json()["valueQuantity"]["value"].to_string(),
        "0.10000000000000000000001"
    );
}

#[test]
fn format_names() {
    assert_eq!(
        Format::from_mime("application/fhir+json; charset=UTF-8"),
        Some(Format::Json)
    );
    assert_eq!(Format::from_mime("JSON"), Some(Format::Json));
    assert_eq!(Format::from_mime("text/xml"), Some(Format::Xml));
    assert_eq!(Format::from_mime("application/fhir+xml"), Some(Format::Xml));
    assert_eq!(Format::from_mime("text/html"), None);
    assert_eq!(Format::Xml.mime_type(), "application/fhir+xml");
    assert_eq!(Format::Json.to_string(), "JSON");
}
