//! Converts one FHIR resource between JSON and XML (reads a file, writes to stdout), checking it.
//!
//! `cargo run -p dsf-fhir --example convert -- <file.json|file.xml> [json|xml] [--compact]`

use dsf_fhir::{Format, parse, serialize};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .ok_or("usage: convert <file> [json|xml] [--compact]")?;
    let input = if path.ends_with(".xml") {
        Format::Xml
    } else {
        Format::Json
    };
    let output = match args.get(1).map(String::as_str) {
        Some("xml") => Format::Xml,
        Some("json") => Format::Json,
        _ if input == Format::Json => Format::Xml,
        _ => Format::Json,
    };
    let pretty = !args.iter().any(|a| a == "--compact");
    let resource = parse(&std::fs::read(path)?, input)?;
    let out = serialize(&resource, output, pretty);
    std::io::Write::write_all(&mut std::io::stdout(), &out)?;
    Ok(())
}
