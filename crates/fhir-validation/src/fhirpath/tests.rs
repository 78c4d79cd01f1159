//! Unit tests of operators, logic, functions and navigation.

use super::{Expression, FhirPathError, Focus, Item};
use serde_json::{Value, json};

fn eval<'a>(text: &str, resource: &'a Value) -> Vec<Item<'a>> {
    let e = Expression::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
    e.evaluate(Focus::resource(resource), resource)
        .unwrap_or_else(|err| panic!("{text}: {err}"))
}

fn check(text: &str, resource: &Value) -> bool {
    let e = Expression::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
    e.check(Focus::resource(resource), resource)
        .unwrap_or_else(|err| panic!("{text}: {err}"))
}

fn eval_err(text: &str, resource: &Value) -> FhirPathError {
    let e = Expression::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
    match e.evaluate(Focus::resource(resource), resource) {
        Ok(r) => panic!("{text}: expected an error, got {r:?}"),
        Err(err) => err,
    }
}

/// The one value of `text` as a string (`toString()` form), or `"{}"` when empty.
fn one(text: &str) -> String {
    let empty = json!({});
    let r = eval(text, &empty);
    match r.as_slice() {
        [] => "{}".into(),
        [item] => match item {
            Item::Boolean(b) => b.to_string(),
            Item::Integer(n) => n.to_string(),
            Item::Decimal(n) => format!("{n}d"),
            Item::String(s) => format!("'{s}'"),
            Item::Date(s) | Item::DateTime(s) | Item::Time(s) => format!("@{s}"),
            Item::Node(f) => f.value.to_string(),
        },
        _ => panic!("{text}: {} items", r.len()),
    }
}

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "active": true,
        "birthDate": "1970-03-04",
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
            {"use": "usual", "given": ["Jim"]}
        ],
        "extension": [
            {"url": "http://example.org/a", "valueString": "A"},
            {"url": "http://example.org/b", "valueBoolean": false}
        ],
        "contact": [{"name": {"family": "Du Marché"}}]
    })
}

fn task() -> Value {
    json!({
        "resourceType": "Task",
        "status": "in-progress",
        "intent": "order",
        "input": [
            {
                "type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "message-name"}]},
                "valueString": "helloWorld"
            },
            {
                "type": {"coding": [{"system": "http://dsf.dev/fhir/CodeSystem/bpmn-message", "code": "business-key"}]},
                "valueString": "6d1e2b2c"
            },
            {
                "type": {"coding": [{"system": "http://example.org", "code": "target"}]},
                "valueReference": {"reference": "Organization/1", "type": "Organization"}
            }
        ]
    })
}

#[test]
fn arithmetic_and_precedence() {
    assert_eq!(one("1 + 2 * 3"), "7");
    assert_eq!(one("(1 + 2) * 3"), "9");
    assert_eq!(one("7 div 2"), "3");
    assert_eq!(one("7 mod 2"), "1");
    assert_eq!(one("7 / 2"), "3.5d");
    assert_eq!(one("1.5 + 1"), "2.5d");
    assert_eq!(one("-5 + 2"), "-3");
    assert_eq!(one("- (2 * 3)"), "-6");
    assert_eq!(one("+4"), "4");
    assert_eq!(one("1 / 0"), "{}");
    assert_eq!(one("5 div 0"), "{}");
    assert_eq!(one("1 + {}"), "{}");
    assert_eq!(one("'ab' + 'cd'"), "'abcd'");
    assert_eq!(one("'ab' & {}"), "'ab'");
    assert_eq!(one("'ab' & 1"), "'ab1'");
    assert_eq!(one("9223372036854775807 + 1"), "{}");
    assert!(matches!(
        eval_err("'a' + 1", &json!({})),
        FhirPathError::Evaluation(_)
    ));
    // `=` binds looser than `+`, `and` looser than `=`.
    assert_eq!(one("1 + 1 = 2 and 2 * 2 = 4"), "true");
    assert_eq!(one("2 > 1 = true"), "true");
}

#[test]
fn literals_and_escapes() {
    assert_eq!(one(r"'it\'s'"), "'it's'");
    assert_eq!(one(r"'\u0041\t'"), "'A\t'");
    assert_eq!(one(r"'a\\b'"), r"'a\b'");
    assert_eq!(one(r"'\d+'"), r"'\d+'");
    assert_eq!(one("true"), "true");
    assert_eq!(one("{}"), "{}");
    assert_eq!(one("@2020-01-01"), "@2020-01-01");
    assert_eq!(one("@2020-01-01T10:00:00Z"), "@2020-01-01T10:00:00Z");
    assert_eq!(one("@T10:30"), "@10:30");
    assert_eq!(one("1 // comment\n + /* block */ 2"), "3");
    assert_eq!(one("%ucum"), "'http://unitsofmeasure.org'");
    assert_eq!(one("%sct"), "'http://snomed.info/sct'");
    assert_eq!(one("%loinc"), "'http://loinc.org'");
    assert_eq!(
        one("%`vs-administrative-gender`"),
        "'http://hl7.org/fhir/ValueSet/administrative-gender'"
    );
}

#[test]
fn comparison_and_equality() {
    assert_eq!(one("1 < 2"), "true");
    assert_eq!(one("2 <= 2.0"), "true");
    assert_eq!(one("'a' > 'b'"), "false");
    assert_eq!(one("@2020-01-01 < @2020-02-01"), "true");
    assert_eq!(one("@2020-01-01T10:00:00Z > @2020-01-01T09:59:59Z"), "true");
    assert_eq!(one("@2020-01 = @2020-01-01"), "{}");
    assert_eq!(one("@2020-01 < @2020-02-15"), "true");
    assert_eq!(one("@2020-01-01 = @2020-01-01"), "true");
    assert_eq!(one("{} = 1"), "{}");
    assert_eq!(one("1 != {}"), "{}");
    assert_eq!(one("1 = 1.0"), "true");
    assert_eq!(one("'a' = 1"), "false");
    assert_eq!(one("(1 | 2) = (1 | 2)"), "true");
    assert_eq!(one("(1 | 2) = (2 | 1)"), "false");
    assert_eq!(one("(1 | 2) = 1"), "false");
    assert_eq!(one("'A  b' ~ 'a b'"), "true");
    assert_eq!(one("{} ~ {}"), "true");
    assert_eq!(one("(1 | 2) ~ (2 | 1)"), "true");
    assert_eq!(one("1 !~ 2"), "true");
    assert_eq!(one("{} < 1"), "{}");
    assert!(matches!(
        eval_err("1 < 'a'", &json!({})),
        FhirPathError::Evaluation(_)
    ));
    assert!(matches!(
        eval_err("(1 | 2) < 3", &json!({})),
        FhirPathError::Evaluation(_)
    ));
}

#[test]
fn three_valued_logic() {
    let t = "true";
    let f = "false";
    let e = "{}";
    let cases = [
        // (left, op, right, result)
        (t, "and", t, t),
        (t, "and", f, f),
        (t, "and", e, e),
        (f, "and", e, f),
        (e, "and", f, f),
        (e, "and", e, e),
        (t, "or", e, t),
        (e, "or", t, t),
        (f, "or", f, f),
        (f, "or", e, e),
        (e, "or", e, e),
        (t, "xor", f, t),
        (t, "xor", t, f),
        (t, "xor", e, e),
        (e, "xor", f, e),
        (t, "implies", t, t),
        (t, "implies", f, f),
        (t, "implies", e, e),
        (f, "implies", e, t),
        (f, "implies", f, t),
        (e, "implies", t, t),
        (e, "implies", f, e),
        (e, "implies", e, e),
    ];
    for (l, op, r, want) in cases {
        assert_eq!(one(&format!("{l} {op} {r}")), want, "{l} {op} {r}");
    }
    // `or` and `xor` bind equally, looser than `and`; `implies` loosest.
    assert_eq!(one("true or false and false"), "true");
    assert_eq!(one("false implies false and true"), "true");
    // Short-circuit: the right side is not evaluated (it would fail).
    assert_eq!(one("false and (1 | 2) < 3"), "false");
    assert_eq!(one("true or (1 | 2) < 3"), "true");
    // Singleton evaluation: a single non-boolean is true, several are an error.
    assert_eq!(one("'x' and true"), "true");
    assert!(
        eval_err("(1 | 2) and true", &json!({}))
            .to_string()
            .contains("single")
    );
    assert_eq!(one("true.not()"), "false");
    assert_eq!(one("{}.not()"), "{}");
}

#[test]
fn membership_and_sets() {
    assert_eq!(one("1 in (1 | 2)"), "true");
    assert_eq!(one("(1 | 2) contains 3"), "false");
    assert_eq!(one("{} in (1 | 2)"), "{}");
    assert_eq!(one("(1 | 2 | 1).count()"), "2");
    assert_eq!(one("(1 | 2).combine(1).count()"), "3");
    assert_eq!(one("(1 | 2).union(2 | 3).count()"), "3");
    assert_eq!(one("(1 | 2 | 3).intersect(2 | 3 | 4).count()"), "2");
    assert_eq!(one("(1 | 2 | 3).exclude(2).count()"), "2");
    assert_eq!(one("(1 | 2).subsetOf(1 | 2 | 3)"), "true");
    assert_eq!(one("(1 | 2).supersetOf(1 | 3)"), "false");
    assert_eq!(one("(1 | 2).combine(2).distinct().count()"), "2");
    assert_eq!(one("(1 | 2).combine(2).isDistinct()"), "false");
}

#[test]
fn collection_functions() {
    let p = patient();
    assert_eq!(eval("name.given", &p).len(), 3);
    assert_eq!(eval("Patient.name.given", &p).len(), 3);
    assert!(check(
        "name.where(use = 'official').given.first() = 'Peter'",
        &p
    ));
    assert!(check("name.given.last() = 'Jim'", &p));
    assert!(check("name.given.tail().first() = 'James'", &p));
    assert!(check("name.given.skip(2) = 'Jim'", &p));
    assert!(check("name.given.take(2).count() = 2", &p));
    assert!(check("name[1].given = 'Jim'", &p));
    assert!(check("name[5].empty()", &p));
    assert!(check("name.select(given).count() = 3", &p));
    assert!(check("name.select(given.first()).count() = 2", &p));
    assert!(check("name.exists(family = 'Chalmers')", &p));
    assert!(check("name.exists()", &p));
    assert!(check("name.all(given.exists())", &p));
    assert!(!check("name.all(family.exists())", &p));
    assert!(check("{}.all(false)", &p));
    assert!(check(
        "name.given.where($this.startsWith('J')).count() = 2",
        &p
    ));
    assert!(check("name.given.where($index = 1) = 'James'", &p));
    assert!(check(
        "(true | false).anyTrue() and (true | false).anyFalse()",
        &p
    ));
    assert!(check("(true).allTrue() and (false).allFalse()", &p));
    assert!(check("{}.allTrue() and {}.allFalse()", &p));
    assert!(check("name.count() = 2", &p));
    assert!(check("id.single() = 'p1'", &p));
    assert!(eval_err("name.single()", &p).to_string().contains("single"));
    assert!(check("iif(active, 'yes', 'no') = 'yes'", &p));
    assert!(check("iif(name.empty(), 'yes').empty()", &p));
    assert!(check("(1 | 2 | 3).aggregate($this + $total, 0) = 6", &p));
    assert!(check("name.trace('names').count() = 2", &p));
    assert!(check("contact.name.family = 'Du Marché'", &p));
}

#[test]
fn tree_functions() {
    let p = patient();
    // id, active, birthDate, 2 names, 2 extensions, 1 contact
    assert!(check("children().count() = 8", &p));
    assert!(check("descendants().ofType(HumanName).count() = 3", &p));
    assert!(check("descendants().where($this = 'Jim').exists()", &p));
    let q = json!({
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [
            {"linkId": "1", "type": "group", "item": [
                {"linkId": "1.1", "type": "string"},
                {"linkId": "1.2", "type": "group", "item": [{"linkId": "1.2.1", "type": "display"}]}
            ]},
            {"linkId": "2", "type": "boolean"}
        ]
    });
    assert!(check("repeat(item).count() = 5", &q));
    assert!(check(
        "repeat(item).where(type = 'display').linkId = '1.2.1'",
        &q
    ));
    assert!(check("item.item.linkId.count() = 2", &q));
}

#[test]
fn string_functions() {
    assert_eq!(one("'abcdef'.matches('^[a-f]+$')"), "true");
    assert_eq!(one("'abc'.matches('b')"), "true");
    assert_eq!(one("'a\nb'.matches('a.b')"), "true");
    assert_eq!(one("'abc'.replaceMatches('[ac]', 'x')"), "'xbx'");
    assert_eq!(
        one("'2020-01-02'.replaceMatches('(\\\\d+)-(\\\\d+)-(\\\\d+)', '${3}.${2}.${1}')"),
        "'02.01.2020'"
    );
    assert_eq!(one("'abc'.startsWith('ab')"), "true");
    assert_eq!(one("'abc'.endsWith('bc')"), "true");
    assert_eq!(one("'abc'.contains('d')"), "false");
    assert_eq!(one("'abcdef'.substring(2)"), "'cdef'");
    assert_eq!(one("'abcdef'.substring(1, 2)"), "'bc'");
    assert_eq!(one("'abc'.substring(5)"), "{}");
    assert_eq!(one("'äbc'.length()"), "3");
    assert_eq!(one("'aBc'.upper()"), "'ABC'");
    assert_eq!(one("'aBc'.lower()"), "'abc'");
    assert_eq!(one("'abcb'.indexOf('b')"), "1");
    assert_eq!(one("'abc'.indexOf('x')"), "-1");
    assert_eq!(one("'abcb'.replace('b', 'x')"), "'axcx'");
    assert_eq!(one("'abc'.toChars().count()"), "3");
    assert_eq!(one("{}.upper()"), "{}");
    assert_eq!(one("1.5.toString()"), "'1.5'");
    assert_eq!(one("2.0.toString()"), "'2.0'");
    assert_eq!(one("true.toString()"), "'true'");
    assert_eq!(one("'42'.toInteger() + 1"), "43");
    assert_eq!(one("'4.5'.toDecimal()"), "4.5d");
    assert_eq!(one("'x'.toInteger()"), "{}");
    assert_eq!(one("'42'.convertsToInteger()"), "true");
    assert_eq!(one("'4.2'.convertsToInteger()"), "false");
    assert_eq!(one("'4.2'.convertsToDecimal()"), "true");
    assert_eq!(one("'yes'.toBoolean()"), "true");
    assert_eq!(one("'maybe'.convertsToBoolean()"), "false");
    assert_eq!(one("1.convertsToString()"), "true");
    assert!(matches!(
        eval_err("'a'.matches('(')", &json!({})),
        FhirPathError::Evaluation(_)
    ));
    assert!(matches!(
        eval_err("('a' | 'b').upper()", &json!({})),
        FhirPathError::Evaluation(_)
    ));
}

#[test]
fn choice_navigation_and_types() {
    let t = task();
    assert!(check("Task.input.value.count() = 3", &t));
    assert!(check("input.value.first() = 'helloWorld'", &t));
    assert!(check(
        "input.value.ofType(Reference).reference = 'Organization/1'",
        &t
    ));
    assert!(check("input.value.ofType(string).count() = 2", &t));
    assert!(check("input.value.ofType(FHIR.string).count() = 2", &t));
    assert!(check("input[0].value is string", &t));
    assert!(check("input[2].value is Reference", &t));
    assert!(check("input[2].value.is(FHIR.Reference)", &t));
    assert!(!check("input[2].value is string", &t));
    assert!(check(
        "(input[2].value as Reference).type = 'Organization'",
        &t
    ));
    assert!(check("input.value.as(string).count() = 2", &t));
    assert!(check("input.type.coding.first() is Coding", &t));
    assert!(check("input.first() is Task.input", &t));
    assert!(check(
        "$this is Task and $this is Resource and $this is DomainResource",
        &t
    ));
    assert!(check(
        "1 is Integer and 'a' is System.String and 1.0 is Decimal",
        &t
    ));
    assert!(check("@2020-01-01 is Date and (1 is String).not()", &t));
    assert!(check("status is code and intent.is(code)", &t));
    // Untyped focus: choice members are found by prefix.
    let ext = json!({"url": "http://example.org", "valueCoding": {"system": "s", "code": "c"}});
    let focus = Focus::new(&ext, None);
    let e = Expression::parse("value.ofType(Coding).code = 'c'").expect("parse");
    assert!(e.check(focus, &ext).expect("eval"));
}

#[test]
fn variables_and_this() {
    let t = task();
    let input = &t["input"][2];
    let focus = Focus::new(input, Some("Task.input"));
    let run = |text: &str| {
        Expression::parse(text)
            .expect("parse")
            .check(focus, &t)
            .expect("eval")
    };
    assert!(run("%resource.status = 'in-progress'"));
    assert!(run("%rootResource.intent = 'order'"));
    assert!(run("%context.value.reference = 'Organization/1'"));
    assert!(run("$this.value.reference = 'Organization/1'"));
    assert!(run("value.reference = 'Organization/1'"));
    assert!(run("%resource.input.count() = 3"));
    assert!(run(
        "%resource.input.where($this.value.reference.exists()).count() = 1"
    ));
}

#[test]
fn extensions_and_has_value() {
    let p = patient();
    assert!(check("extension('http://example.org/a').value = 'A'", &p));
    assert!(check("extension('http://example.org/b').value = false", &p));
    assert!(check("extension('http://example.org/c').empty()", &p));
    assert!(check("extension.value.ofType(boolean).count() = 1", &p));
    assert!(check("birthDate.hasValue()", &p));
    assert!(!check("name.first().hasValue()", &p));
    assert!(check("birthDate < @2000-01-01", &p));
    assert!(check("birthDate = @1970-03-04", &p));
    assert!(check("active = true and active", &p));
}

#[test]
fn date_functions() {
    assert_eq!(one("today() = today()"), "true");
    assert_eq!(one("now() > @2020-01-01T00:00:00Z"), "true");
    assert_eq!(one("today() is Date"), "true");
    assert_eq!(one("now() is DateTime"), "true");
}

#[test]
fn check_semantics() {
    let r = json!({"resourceType": "Basic"});
    assert!(check("true", &r));
    assert!(!check("false", &r));
    assert!(!check("{}", &r));
    assert!(!check("'x'", &r));
    assert!(check("true | true", &r));
    assert!(!check("true.combine(true)", &r));
}

#[test]
fn parse_errors() {
    let unsupported = |t: &str| matches!(Expression::parse(t), Err(FhirPathError::Unsupported(_)));
    let syntax = |t: &str| matches!(Expression::parse(t), Err(FhirPathError::Syntax { .. }));
    assert!(unsupported("name.frobnicate()"));
    assert!(unsupported("%unknown"));
    assert!(syntax("1 +"));
    assert!(syntax("name.where("));
    assert!(syntax("substring()"));
    assert!(syntax("'abc"));
    assert!(syntax("1 2"));
    assert!(syntax("@2020-1-1"));
    assert!(syntax("$foo"));
    assert!(syntax("ofType('x')"));
    assert!(syntax("99999999999999999999"));
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    assert!(syntax(&deep));
    let chain = format!("a{}", ".a".repeat(500));
    assert!(syntax(&chain));
    let ors = vec!["true"; 500].join(" or ");
    assert!(syntax(&ors));
    let minus = format!("{}1", "-".repeat(1000));
    assert!(syntax(&minus));
    // Moderate nesting is fine.
    let ok = format!("{}1{}", "(".repeat(30), ")".repeat(30));
    assert!(Expression::parse(&ok).is_ok());
}

#[test]
fn unimplemented_functions_fail_when_evaluated() {
    let r = json!({"resourceType": "Basic", "code": {"coding": [{"code": "x"}]}});
    for text in [
        "code.memberOf('http://example.org/vs')",
        "subject.resolve()",
        "conformsTo('http://example.org/sd')",
        "htmlChecks()",
    ] {
        assert!(
            matches!(eval_err(text, &r), FhirPathError::Unsupported(_)),
            "{text}"
        );
    }
}

#[test]
fn deepest_accepted_expressions_evaluate() {
    let r = json!({"resourceType": "Basic", "code": {"text": "x"}});
    let mut accepted = 0;
    for n in [20, 40, 60, 64, 80, 100, 126, 127, 128] {
        let nested_where = format!("{}true{}", "code.where(".repeat(n), ")".repeat(n));
        let nested_iif = format!("{}1{}", "iif(true, ".repeat(n), ")".repeat(n));
        let nested_parens = format!("{}code.text = 'x'{}", "(".repeat(n), ")".repeat(n));
        let nested_neg = format!("{}1", "-".repeat(n));
        for text in [nested_where, nested_iif, nested_parens, nested_neg] {
            if let Ok(e) = Expression::parse(&text) {
                accepted += 1;
                e.evaluate(Focus::resource(&r), &r).expect("evaluates");
            }
        }
    }
    assert!(accepted >= 20, "{accepted}");
}
