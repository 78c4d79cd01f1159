//! The narrative `div`: well-formed XHTML in the XHTML namespace, without DTDs or unknown entities,
//! and without active content (R4 invariant txt-1 allows only basic formatting elements; scripts,
//! frames, forms, event-handler attributes and `javascript:` links are rejected here).

use quick_xml::Reader;
use quick_xml::events::Event;

/// The XHTML namespace the narrative `div` must declare.
pub(crate) const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// Elements that carry active or external content.
const FORBIDDEN: &[&str] = &[
    "script", "style", "object", "applet", "embed", "iframe", "frame", "frameset", "form", "input",
    "button", "select", "textarea", "base", "link", "meta",
];

/// Checks that `s` is one well-formed `<div xmlns="http://www.w3.org/1999/xhtml">` element.
pub(crate) fn check(s: &str) -> Result<(), String> {
    if !s.starts_with("<div") {
        return Err("narrative must be an XHTML text starting with <div".into());
    }
    let mut reader = Reader::from_str(s);
    let mut depth = 0usize;
    let mut seen_root = false;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("narrative is not well-formed XHTML: {e}"))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if depth == 0 {
                    if seen_root {
                        return Err("narrative must be a single <div> element".into());
                    }
                    seen_root = true;
                    let ns = e
                        .try_get_attribute("xmlns")
                        .ok()
                        .flatten()
                        .is_some_and(|a| a.value == XHTML_NS);
                    if e.name().0 != "div" || !ns {
                        return Err(format!("narrative root must be <div xmlns=\"{XHTML_NS}\">"));
                    }
                }
                let name = e.local_name().into_inner();
                if FORBIDDEN.iter().any(|f| f.eq_ignore_ascii_case(name)) {
                    return Err(format!("<{name}> is not allowed in the narrative (txt-1)"));
                }
                for a in e.attributes() {
                    let a = a.map_err(|e| format!("narrative is not well-formed XHTML: {e}"))?;
                    let key = a.key.local_name().into_inner();
                    if key.len() > 2 && key[..2].eq_ignore_ascii_case("on") {
                        return Err(format!(
                            "event attribute {key} is not allowed in the narrative (txt-1)"
                        ));
                    }
                    if a.value
                        .trim_start()
                        .get(..11)
                        .is_some_and(|v| v.eq_ignore_ascii_case("javascript:"))
                    {
                        return Err(
                            "javascript: links are not allowed in the narrative (txt-1)".into()
                        );
                    }
                }
                if matches!(ev, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            // Nothing, not even whitespace, may follow the root element: XML has no place for it.
            Event::Text(_) | Event::Comment(_) | Event::GeneralRef(_) if depth == 0 => {
                return Err("content after the narrative </div>".into());
            }
            Event::GeneralRef(ref r) => check_ref(r)?,
            Event::DocType(_) => return Err("DOCTYPE is not allowed in the narrative".into()),
            Event::Decl(_) | Event::PI(_) => {
                return Err("processing instructions are not allowed in the narrative".into());
            }
            Event::Eof => {
                return if depth == 0 && seen_root {
                    Ok(())
                } else {
                    Err("narrative is not well-formed XHTML: unclosed element".into())
                };
            }
            Event::Text(_) | Event::CData(_) | Event::Comment(_) => {}
        }
    }
}

/// Only character references and the five predefined entities exist without a DTD.
pub(crate) fn check_ref(r: &quick_xml::events::BytesRef<'_>) -> Result<(), String> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(_)) => Ok(()),
            _ => Err("invalid character reference in narrative".into()),
        };
    }
    match r.as_ref() {
        "lt" | "gt" | "amp" | "apos" | "quot" => Ok(()),
        other => Err(format!("undefined entity &{other};")),
    }
}
