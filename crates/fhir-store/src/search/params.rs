//! The search parameters the server supports, per resource type, as the reference serves them.

/// What kind of values a search parameter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `code`, `system|code`, `|code`, `system|`; booleans are tokens too.
    Token,
    /// Case-insensitive starts-with by default; `:exact`, `:contains`.
    String,
    /// Exact, or `:below` for prefixes.
    Uri,
    /// Date ranges with `eq ne gt lt ge le` prefixes.
    Date,
    /// Literal references (`id`, `Type/id`, absolute URL), `:Type`, `:identifier`.
    Reference,
    /// Canonical URLs, `url` or `url|version`.
    Canonical,
}

/// One search parameter of one resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamDef {
    /// The parameter's name in the query string.
    pub name: &'static str,
    /// How its values compare.
    pub kind: ParamKind,
    /// Element paths (dot separated, below the resource) whose values it indexes.
    pub paths: &'static [&'static str],
    /// For references: the resource types it may point to.
    pub targets: &'static [&'static str],
    /// Whether the `:not` modifier is supported (tokens).
    pub not: bool,
    /// Whether a resource has at most one index row for it (the element is `0..1` and holds one
    /// value), so that counting rows counts resources.
    pub single: bool,
}

impl ParamDef {
    const fn single(self) -> ParamDef {
        ParamDef {
            single: true,
            ..self
        }
    }
}

const fn p(name: &'static str, kind: ParamKind, paths: &'static [&'static str]) -> ParamDef {
    ParamDef {
        name,
        kind,
        paths,
        targets: &[],
        not: false,
        single: false,
    }
}

const fn token_not(name: &'static str, paths: &'static [&'static str]) -> ParamDef {
    ParamDef {
        name,
        kind: ParamKind::Token,
        paths,
        targets: &[],
        not: true,
        single: false,
    }
}

const fn r(
    name: &'static str,
    paths: &'static [&'static str],
    targets: &'static [&'static str],
) -> ParamDef {
    ParamDef {
        name,
        kind: ParamKind::Reference,
        paths,
        targets,
        not: false,
        single: false,
    }
}

use ParamKind::{Canonical, Date, String as Str, Token, Uri};

const IDENTIFIER: ParamDef = p("identifier", Token, &["identifier"]);
const ACTIVE: ParamDef = token_not("active", &["active"]).single();
const STATUS: ParamDef = token_not("status", &["status"]).single();
const NAME: ParamDef = p("name", Str, &["name"]);
const DATE: ParamDef = p("date", Date, &["date"]).single();
const URL: ParamDef = p("url", Uri, &["url"]).single();
const VERSION: ParamDef = p("version", Token, &["version"]).single();

/// The parameters of the canonical (definitional) resource types.
const CANONICAL_RESOURCE: &[ParamDef] = &[DATE, IDENTIFIER, NAME, STATUS, URL, VERSION];
const IDENTIFIER_ONLY: &[ParamDef] = &[IDENTIFIER];
const ACTIVE_IDENTIFIER: &[ParamDef] = &[ACTIVE, IDENTIFIER];
const PRACTITIONER_TARGETS: &[&str] = &["Practitioner", "PractitionerRole"];
const REQUESTER_TARGETS: &[&str] = &[
    "Practitioner",
    "Organization",
    "Patient",
    "PractitionerRole",
];

/// The 26 resource types the server serves, in alphabetical order.
pub const RESOURCE_TYPES: [&str; 26] = [
    "ActivityDefinition",
    "Binary",
    "Bundle",
    "CodeSystem",
    "DocumentReference",
    "Endpoint",
    "Group",
    "HealthcareService",
    "Library",
    "Location",
    "Measure",
    "MeasureReport",
    "NamingSystem",
    "Organization",
    "OrganizationAffiliation",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "ResearchStudy",
    "StructureDefinition",
    "Subscription",
    "Task",
    "ValueSet",
];

/// Whether the server serves `resource_type`.
pub fn is_served(resource_type: &str) -> bool {
    RESOURCE_TYPES.binary_search(&resource_type).is_ok()
}

/// The type-specific search parameters of `resource_type` (the common `_id`, `_lastUpdated` and
/// `_profile` are not listed here).
pub fn params_of(resource_type: &str) -> &'static [ParamDef] {
    match resource_type {
        "ActivityDefinition"
        | "CodeSystem"
        | "Library"
        | "Questionnaire"
        | "StructureDefinition"
        | "ValueSet" => CANONICAL_RESOURCE,
        "Binary" => const { &[p("contentType", Token, &["contentType"]).single()] },
        "Bundle" | "DocumentReference" | "Group" | "MeasureReport" => IDENTIFIER_ONLY,
        "Endpoint" => {
            const {
                &[
                    p("address", Uri, &["address"]).single(),
                    IDENTIFIER,
                    NAME,
                    r("organization", &["managingOrganization"], &["Organization"]),
                    STATUS,
                ]
            }
        }
        "HealthcareService" => &[ACTIVE, IDENTIFIER, NAME],
        "Location" => const { &[IDENTIFIER, p("name", Str, &["name", "alias"])] },
        "Measure" => {
            const {
                &[
                    DATE,
                    ParamDef {
                        targets: &["Library"],
                        ..p("depends-on", Canonical, &["library"])
                    },
                    IDENTIFIER,
                    NAME,
                    STATUS,
                    URL,
                    VERSION,
                ]
            }
        }
        "NamingSystem" => &[DATE, NAME, STATUS],
        "Organization" => {
            const {
                &[
                    ACTIVE,
                    r("endpoint", &["endpoint"], &["Endpoint"]),
                    IDENTIFIER,
                    NAME,
                    p("type", Token, &["type"]),
                ]
            }
        }
        "OrganizationAffiliation" => {
            const {
                &[
                    ACTIVE,
                    r("endpoint", &["endpoint"], &["Endpoint"]),
                    IDENTIFIER,
                    r(
                        "participating-organization",
                        &["participatingOrganization"],
                        &["Organization"],
                    ),
                    r("primary-organization", &["organization"], &["Organization"]),
                    p("role", Token, &["code"]),
                ]
            }
        }
        "Patient" | "Practitioner" => ACTIVE_IDENTIFIER,
        "PractitionerRole" => {
            const {
                &[
                    ACTIVE,
                    IDENTIFIER,
                    r("organization", &["organization"], &["Organization"]),
                    r("practitioner", &["practitioner"], &["Practitioner"]),
                ]
            }
        }
        "QuestionnaireResponse" => {
            const {
                &[
                    r("author", &["author"], REQUESTER_TARGETS),
                    p("authored", Date, &["authored"]).single(),
                    IDENTIFIER,
                    ParamDef {
                        targets: &["Questionnaire"],
                        ..p("questionnaire", Canonical, &["questionnaire"])
                    },
                    STATUS,
                    r(
                        "subject",
                        &["subject"],
                        &["Organization", "Practitioner", "PractitionerRole"],
                    ),
                ]
            }
        }
        "ResearchStudy" => {
            const {
                &[
                    r("enrollment", &["enrollment"], &["Group"]),
                    IDENTIFIER,
                    r(
                        "principalinvestigator",
                        &["principalInvestigator"],
                        PRACTITIONER_TARGETS,
                    ),
                ]
            }
        }
        "Subscription" => {
            const {
                &[
                    p("criteria", Str, &["criteria"]).single(),
                    p("payload", Token, &["channel.payload"]).single(),
                    STATUS,
                    p("type", Token, &["channel.type"]).single(),
                ]
            }
        }
        "Task" => {
            const {
                &[
                    p("authored-on", Date, &["authoredOn"]).single(),
                    IDENTIFIER,
                    p("modified", Date, &["lastModified"]).single(),
                    r("requester", &["requester"], REQUESTER_TARGETS).single(),
                    STATUS,
                ]
            }
        }
        _ => &[],
    }
}

/// Finds the parameter `name` of `resource_type`.
pub fn param(resource_type: &str, name: &str) -> Option<&'static ParamDef> {
    params_of(resource_type).iter().find(|d| d.name == name)
}

/// The `_include` values the server supports, as `(source type, parameter, target type)`.
pub const INCLUDES: &[(&str, &str, &str)] = &[
    ("Endpoint", "organization", "Organization"),
    ("Organization", "endpoint", "Endpoint"),
    ("OrganizationAffiliation", "endpoint", "Endpoint"),
    (
        "OrganizationAffiliation",
        "participating-organization",
        "Organization",
    ),
    (
        "OrganizationAffiliation",
        "primary-organization",
        "Organization",
    ),
    ("PractitionerRole", "organization", "Organization"),
    ("PractitionerRole", "practitioner", "Practitioner"),
    ("Measure", "depends-on", "Library"),
    ("QuestionnaireResponse", "questionnaire", "Questionnaire"),
    ("QuestionnaireResponse", "author", "Practitioner"),
    ("QuestionnaireResponse", "author", "Organization"),
    ("QuestionnaireResponse", "author", "Patient"),
    ("QuestionnaireResponse", "author", "PractitionerRole"),
    ("QuestionnaireResponse", "subject", "Organization"),
    ("QuestionnaireResponse", "subject", "Practitioner"),
    ("QuestionnaireResponse", "subject", "PractitionerRole"),
    ("ResearchStudy", "enrollment", "Group"),
    ("ResearchStudy", "principalinvestigator", "Practitioner"),
    ("ResearchStudy", "principalinvestigator", "PractitionerRole"),
    ("Task", "requester", "Practitioner"),
    ("Task", "requester", "Organization"),
    ("Task", "requester", "Patient"),
    ("Task", "requester", "PractitionerRole"),
];

/// The `_revinclude` values the server supports, as `(searched type, source type, parameter)`.
pub const REVINCLUDES: &[(&str, &str, &str)] = &[
    ("Organization", "Endpoint", "organization"),
    (
        "Organization",
        "OrganizationAffiliation",
        "participating-organization",
    ),
    (
        "Organization",
        "OrganizationAffiliation",
        "primary-organization",
    ),
    ("Endpoint", "Organization", "endpoint"),
    ("Group", "ResearchStudy", "enrollment"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_are_sorted_for_binary_search() {
        let mut sorted = RESOURCE_TYPES;
        sorted.sort_unstable();
        assert_eq!(sorted, RESOURCE_TYPES);
        assert!(is_served("Task"));
        assert!(!is_served("Observation"));
    }

    #[test]
    fn includes_name_existing_reference_parameters() {
        for (source, name, target) in INCLUDES {
            let def = param(source, name).expect("parameter exists");
            assert!(def.targets.contains(target), "{source}:{name}:{target}");
        }
        for (searched, source, name) in REVINCLUDES {
            let def = param(source, name).expect("parameter exists");
            assert!(def.targets.contains(searched), "{source}:{name}");
        }
    }
}
