//! Tests with the invariants of the DSF profiles: every one parses, and the evaluator gets them
//! right on hand-written resources; malformed expressions never panic.

use super::{Expression, Focus};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The shared fixtures; `None` (skip) when absent outside CI.
fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("fixtures missing at {}", dir.display());
    }
    eprintln!("skipping: fixtures missing at {}", dir.display());
    None
}

/// The `.xml` files of a directory, sorted.
fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "xml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The profile files of dsf-core and of every plugin.
fn profile_files(fixtures: &Path) -> Vec<PathBuf> {
    let mut files = xml_files(&fixtures.join("dsf-core/fhir/StructureDefinition"));
    let mut plugins: Vec<PathBuf> = std::fs::read_dir(fixtures.join("plugins"))
        .expect("plugins dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    plugins.sort();
    for plugin in plugins {
        files.extend(xml_files(&plugin.join("fhir/StructureDefinition")));
    }
    files
}

fn decode_entities(s: &str) -> String {
    s.replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

/// The `<expression value="...">` of every `<constraint>` in an XML text, decoded (white space
/// around the attribute and either quote allowed).
fn constraint_expressions(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<constraint>") {
        let after = &rest[start..];
        let end = after.find("</constraint>").expect("closed constraint");
        let block = &after[..end];
        if let Some(e) = block.find("<expression") {
            let attr = block[e + "<expression".len()..].trim_start();
            let value = attr.strip_prefix("value=").expect("expression value");
            let quote = value.chars().next().expect("quoted value");
            let value = &value[1..];
            let close = value.find(quote).expect("closed attribute");
            out.push(decode_entities(&value[..close]));
        }
        rest = &after[end..];
    }
    out
}

/// Every DSF invariant, with the file it comes from.
fn fixture_expressions() -> Option<Vec<(PathBuf, String)>> {
    let dir = fixtures()?;
    let mut out = Vec::new();
    for file in profile_files(&dir) {
        let xml = std::fs::read_to_string(&file).expect("read profile");
        out.extend(
            constraint_expressions(&xml)
                .into_iter()
                .map(|e| (file.clone(), e)),
        );
    }
    Some(out)
}

#[test]
fn every_dsf_invariant_parses() {
    let Some(expressions) = fixture_expressions() else {
        return;
    };
    assert!(expressions.len() >= 33, "found {}", expressions.len());
    assert!(expressions.iter().any(|(_, e)| e.contains('\n')));
    let mut failures = Vec::new();
    for (file, text) in &expressions {
        if let Err(e) = Expression::parse(text) {
            failures.push(format!("{}: {text:?}: {e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn holds(text: &str, this: Focus<'_>, resource: &Value) -> bool {
    Expression::parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .check(this, resource)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

const BUSINESS_KEY: &str = "((%resource.status = 'in-progress') or\n    (%resource.status = 'completed') or\n    (%resource.status = 'failed'))\n      implies\n    input.type.coding.where(\n      system = 'http://dsf.dev/fhir/CodeSystem/bpmn-message' and\n      code = 'business-key')\n    .exists()";

fn task(status: &str, input_codes: &[&str]) -> Value {
    let inputs: Vec<Value> = input_codes
        .iter()
        .map(|c| {
            json!({
                "type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": c}]},
                "valueString": "x"
            })
        })
        .collect();
    json!({"resourceType": "Task", "status": status, "intent": "order", "input": inputs})
}

#[test]
fn task_business_key_invariant() {
    let cases = [
        ("in-progress", &["message-name", "business-key"][..], true),
        ("in-progress", &["message-name"][..], false),
        ("completed", &["business-key"][..], true),
        ("failed", &[][..], false),
        ("requested", &["message-name"][..], true),
        ("draft", &[][..], true),
    ];
    for (status, codes, want) in cases {
        let t = task(status, codes);
        assert_eq!(
            holds(BUSINESS_KEY, Focus::resource(&t), &t),
            want,
            "{status} {codes:?}"
        );
    }
}

#[test]
fn task_draft_identifier_invariant() {
    let e = "%resource.status = 'draft' implies identifier.where(system = 'http://dsf.dev/sid/task-identifier' and value.exists()).exists()";
    let mut t = task("draft", &[]);
    assert!(!holds(e, Focus::resource(&t), &t));
    t["identifier"] = json!([{"system": "http://dsf.dev/sid/task-identifier", "value": "a/b"}]);
    assert!(holds(e, Focus::resource(&t), &t));
    let other = task("requested", &[]);
    assert!(holds(e, Focus::resource(&other), &other));
}

#[test]
fn reference_identifier_type_invariant() {
    let e = "identifier.system = 'http://dsf.dev/sid/organization-identifier' implies type.empty() or type = 'Organization'";
    let t = json!({"resourceType": "Task", "requester": {}});
    let check = |reference: Value| {
        let mut t = t.clone();
        t["requester"] = reference;
        holds(e, Focus::new(&t["requester"], Some("Reference")), &t)
    };
    let id = json!({"system": "http://dsf.dev/sid/organization-identifier", "value": "org.test"});
    assert!(check(json!({"identifier": id, "type": "Organization"})));
    assert!(check(json!({"identifier": id})));
    assert!(!check(json!({"identifier": id, "type": "Practitioner"})));
    // Another identifier system: the invariant does not apply.
    assert!(check(
        json!({"identifier": {"system": "http://example.org", "value": "x"}, "type": "Patient"})
    ));
    // No identifier: `{} implies ...` is empty unless the right side is true.
    assert!(check(json!({"reference": "Organization/1"})));
}

#[test]
fn extension_hash_invariant() {
    let e = "value.matches('^[a-f0-9]{128}$')";
    let ok = json!({"url": "http://dsf.dev/fhir/StructureDefinition/extension-ping-status", "valueString": "ab".repeat(64)});
    let short = json!({"url": "u", "valueString": "abc"});
    let upper = json!({"url": "u", "valueString": "AB".repeat(64)});
    let none = json!({"url": "u"});
    for (ext, want) in [
        (&ok, true),
        (&short, false),
        (&upper, false),
        (&none, false),
    ] {
        assert_eq!(
            holds(e, Focus::new(ext, Some("Extension")), ext),
            want,
            "{ext}"
        );
    }
}

#[test]
fn binary_read_access_xor() {
    let e = "meta.tag.where(system = 'http://dsf.dev/fhir/CodeSystem/read-access-tag').exists() xor securityContext.exists()";
    let tag = json!({"tag": [{"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": "ALL"}]});
    let ctx = json!({"reference": "Task/1"});
    let binary = |meta: Option<&Value>, sc: Option<&Value>| {
        let mut b = json!({"resourceType": "Binary", "contentType": "text/plain"});
        if let Some(m) = meta {
            b["meta"] = m.clone();
        }
        if let Some(s) = sc {
            b["securityContext"] = s.clone();
        }
        holds(e, Focus::resource(&b), &b)
    };
    assert!(binary(Some(&tag), None));
    assert!(binary(None, Some(&ctx)));
    assert!(!binary(Some(&tag), Some(&ctx)));
    assert!(!binary(None, None));
}

#[test]
fn read_access_tag_invariants() {
    let all_implies_not_local = "tag.where(system = 'http://dsf.dev/fhir/CodeSystem/read-access-tag' and code = 'ALL').exists() implies tag.where(system = 'http://dsf.dev/fhir/CodeSystem/read-access-tag' and code = 'LOCAL').exists().not()";
    let meta = |codes: &[&str]| {
        let tags: Vec<Value> = codes
            .iter()
            .map(|c| json!({"system": "http://dsf.dev/fhir/CodeSystem/read-access-tag", "code": c}))
            .collect();
        json!({"resourceType": "Organization", "meta": {"tag": tags}})
    };
    let check = |codes: &[&str]| {
        let r = meta(codes);
        holds(
            all_implies_not_local,
            Focus::new(&r["meta"], Some("Meta")),
            &r,
        )
    };
    assert!(check(&["ALL"]));
    assert!(check(&["LOCAL"]));
    assert!(!check(&["ALL", "LOCAL"]));
}

#[test]
fn primitive_focus_invariants() {
    let content_type = "$this.empty().not() implies ($this = 'application/fhir+json' or $this = 'application/fhir+xml')";
    let duration = "matches('^P(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)D)?(T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)(?:[.,]([0-9]{0,9}))?S)?)?$')";
    let r = json!({"resourceType": "Binary", "contentType": "application/fhir+json"});
    let string = |s: &'static str| json!(s);
    for (value, want) in [
        ("application/fhir+json", true),
        ("application/fhir+xml", true),
        ("text/plain", false),
    ] {
        let v = string(value);
        assert_eq!(
            holds(content_type, Focus::new(&v, Some("code")), &r),
            want,
            "{value}"
        );
    }
    for (value, want) in [
        ("PT5M", true),
        ("P1Y2M3DT4H5M6.5S", true),
        ("PT0.000000001S", true),
        ("5 minutes", false),
        ("P1H", false),
    ] {
        let v = string(value);
        assert_eq!(
            holds(duration, Focus::new(&v, Some("string")), &r),
            want,
            "{value}"
        );
    }
}

#[test]
fn base_r4_invariants() {
    let ele_1 = "hasValue() or (children().count() > id.count())";
    let ext_1 = "extension.exists() != value.exists()";
    let r = json!({"resourceType": "Basic"});
    let s = json!("text");
    assert!(holds(ele_1, Focus::new(&s, Some("string")), &r));
    let empty_coding = json!({});
    assert!(!holds(ele_1, Focus::new(&empty_coding, Some("Coding")), &r));
    let only_id = json!({"id": "x"});
    assert!(!holds(ele_1, Focus::new(&only_id, Some("Coding")), &r));
    let coding = json!({"id": "x", "code": "c"});
    assert!(holds(ele_1, Focus::new(&coding, Some("Coding")), &r));

    let simple = json!({"url": "u", "valueCode": "c"});
    let complex = json!({"url": "u", "extension": [{"url": "a", "valueString": "x"}]});
    let both =
        json!({"url": "u", "valueCode": "c", "extension": [{"url": "a", "valueString": "x"}]});
    let neither = json!({"url": "u"});
    for (ext, want) in [
        (&simple, true),
        (&complex, true),
        (&both, false),
        (&neither, false),
    ] {
        assert_eq!(
            holds(ext_1, Focus::new(ext, Some("Extension")), &r),
            want,
            "{ext}"
        );
    }
}

/// Sample expressions for the robustness test when the fixtures are absent.
const SAMPLES: [&str; 6] = [
    BUSINESS_KEY,
    "identifier.system = 'http://dsf.dev/sid/organization-identifier' implies type.empty() or type = 'Organization'",
    "value.matches('^[a-f0-9]{128}$')",
    "(type = 'display') or (type = 'string') or (type = 'text')",
    "name.where(use = 'official').given[0].substring(1, 2) ~ @2020-01-01T10:00:00Z",
    "`div`.descendants().ofType(FHIR.Reference).as(System.String) | %`vs-x` & $this.iif(true, {}, -1.5)",
];

/// A tiny deterministic generator (xorshift) for malformed inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn malformed_expressions_never_panic() {
    let mut sources: Vec<String> = SAMPLES.iter().map(|s| s.to_string()).collect();
    if let Some(fixture) = fixture_expressions() {
        sources.extend(fixture.into_iter().map(|(_, e)| e));
    }
    let mut inputs = Vec::new();
    for s in &sources {
        let chars: Vec<char> = s.chars().collect();
        for cut in (0..chars.len()).step_by(3) {
            inputs.push(chars[..cut].iter().collect::<String>());
            inputs.push(chars[cut..].iter().collect::<String>());
        }
    }
    let alphabet: Vec<char> = "()[]{}.,'`\"\\%$@&|=!~<>+-*/ aZ0T:19_\u{e9}\n"
        .chars()
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..400 {
        let len = 1 + rng.next(40);
        inputs.push(
            (0..len)
                .map(|_| alphabet[rng.next(alphabet.len())])
                .collect(),
        );
    }
    for _ in 0..200 {
        // A source with a few random characters replaced.
        let mut chars: Vec<char> = sources[rng.next(sources.len())].chars().collect();
        for _ in 0..3 {
            let i = rng.next(chars.len());
            chars[i] = alphabet[rng.next(alphabet.len())];
        }
        inputs.push(chars.into_iter().collect());
    }
    inputs.push("(".repeat(100_000));
    inputs.push("-".repeat(100_000));
    inputs.push("a.".repeat(50_000));
    inputs.push("'".repeat(3));
    inputs.push("@".to_string());
    inputs.push("@T".to_string());
    inputs.push("'\\u12".to_string());
    assert!(inputs.len() > 500, "{}", inputs.len());
    let task = task("in-progress", &["business-key"]);
    let mut parsed = 0;
    for text in &inputs {
        if let Ok(e) = Expression::parse(text) {
            parsed += 1;
            // Evaluation may fail, but must not panic either.
            let _ = e.evaluate(Focus::resource(&task), &task);
        }
    }
    assert!(parsed > 0);
}

#[test]
fn base_r4_invariants_parse_and_evaluate() {
    let dom_3 = "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()";
    let txt_2 = "htmlChecks()";
    let dom_6 = "text.`div`.exists()";
    let ref_1 = "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))";
    let per_1 = "start.hasValue().not() or end.hasValue().not() or (start <= end)";
    for text in [dom_3, txt_2, dom_6, ref_1, per_1] {
        assert!(Expression::parse(text).is_ok(), "{text}");
    }
    let task = json!({
        "resourceType": "Task",
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
        "contained": [{"resourceType": "Organization", "id": "org"}],
        "status": "requested",
        "intent": "order",
        "owner": {"reference": "#org"},
        "requester": {"reference": "#missing"},
        "executionPeriod": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T09:00:00Z"}
    });
    let root = Focus::resource(&task);
    assert!(holds(dom_3, root, &task));
    assert!(holds(dom_6, root, &task));
    assert!(holds(
        ref_1,
        Focus::new(&task["owner"], Some("Reference")),
        &task
    ));
    assert!(!holds(
        ref_1,
        Focus::new(&task["requester"], Some("Reference")),
        &task
    ));
    let period = &task["executionPeriod"];
    assert!(!holds(per_1, Focus::new(period, Some("Period")), &task));
    let mut unreferenced = task.clone();
    unreferenced["owner"] = json!({"reference": "Organization/1"});
    assert!(!holds(dom_3, Focus::resource(&unreferenced), &unreferenced));
}
