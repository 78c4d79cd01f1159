//! Local users: people of the local organization who call with their own client certificate,
//! with the operations and practitioner roles the site's role configuration grants them (the
//! reference's `DEV_DSF_FHIR_SERVER_ROLECONFIG`, here as `[[fhir.users]]` tables in the site file).
//!
//! ```toml
//! [[fhir.users]]
//! name = "admin"
//! thumbprints = ["0123...cdef"]
//! email = "admin@dic1.example.org"
//! dsf_roles = ["CREATE:Task", "READ", "UPDATE:QuestionnaireResponse", "SEARCH", "HISTORY"]
//! practitioner_roles = ["DSF_ADMIN"]
//! ```

use std::sync::Arc;

use serde::Deserialize;

use crate::authz::Operation;

/// The practitioner-role CodeSystem.
pub const PRACTITIONER_ROLE: &str = "http://dsf.dev/fhir/CodeSystem/practitioner-role";
/// The naming system of practitioner identifiers (e-mail addresses).
pub const PRACTITIONER_IDENTIFIER: &str = "http://dsf.dev/sid/practitioner-identifier";

/// One rule of the role configuration, as written in the site file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRule {
    /// A name for log lines.
    pub name: String,
    /// SHA-512 thumbprints of the users' client certificates.
    #[serde(default)]
    pub thumbprints: Vec<String>,
    /// The user's e-mail address, the practitioner identifier (default
    /// `<thumbprint>@certificate.invalid`).
    pub email: Option<String>,
    /// Granted operations, `READ` or `CREATE:Task` (an operation on one type only).
    #[serde(default)]
    pub dsf_roles: Vec<String>,
    /// Practitioner roles, `DSF_ADMIN` or `system|code`.
    #[serde(default)]
    pub practitioner_roles: Vec<String>,
}

/// A local user as an identity carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practitioner {
    /// The practitioner identifier value (an e-mail address).
    pub email: String,
    /// Practitioner role codings, `(system, code)`.
    pub roles: Vec<(String, String)>,
    grants: Vec<(Operation, Option<String>)>,
}

impl Practitioner {
    /// Whether the configuration grants `operation` on `resource_type`.
    pub fn may(&self, operation: Operation, resource_type: &str) -> bool {
        self.grants
            .iter()
            .any(|(op, t)| *op == operation && t.as_deref().is_none_or(|t| t == resource_type))
    }

    /// Whether the user holds practitioner role `system|code`.
    pub fn has_role(&self, system: &str, code: &str) -> bool {
        self.roles.iter().any(|(s, c)| s == system && c == code)
    }

    /// Whether the user is a DSF administrator, whom process authorization admits like the local
    /// organization.
    pub fn is_admin(&self) -> bool {
        self.has_role(PRACTITIONER_ROLE, "DSF_ADMIN")
    }
}

/// A configured user: the certificate thumbprints that identify them and who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Lower-case thumbprints.
    pub thumbprints: Vec<String>,
    /// The practitioner, without e-mail when it is derived from the thumbprint.
    pub practitioner: Arc<Practitioner>,
    email_configured: bool,
}

impl User {
    /// The practitioner for a caller with `thumbprint`.
    pub fn practitioner_for(&self, thumbprint: &str) -> Arc<Practitioner> {
        if self.email_configured {
            return self.practitioner.clone();
        }
        Arc::new(Practitioner {
            email: format!("{thumbprint}@certificate.invalid"),
            ..(*self.practitioner).clone()
        })
    }
}

fn operation(name: &str) -> Option<Operation> {
    Some(match name {
        "CREATE" => Operation::Create,
        "READ" => Operation::Read,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        "SEARCH" => Operation::Search,
        "HISTORY" => Operation::History,
        "PERMANENT_DELETE" => Operation::PermanentDelete,
        "WEBSOCKET" => Operation::Websocket,
        _ => return None,
    })
}

/// Checks the role configuration and builds its users.
pub fn users(rules: &[UserRule]) -> Result<Vec<User>, String> {
    rules
        .iter()
        .map(|rule| {
            let grants = rule
                .dsf_roles
                .iter()
                .map(|role| {
                    let (name, resource_type) = match role.split_once(':') {
                        Some((name, t)) => (name.trim(), Some(t.trim().to_owned())),
                        None => (role.trim(), None),
                    };
                    let op = operation(name)
                        .ok_or_else(|| format!("user {}: unknown dsf_role {role}", rule.name))?;
                    if let Some(t) = &resource_type
                        && !dsf_fhir_store::search::params::is_served(t)
                    {
                        return Err(format!(
                            "user {}: unknown resource type in {role}",
                            rule.name
                        ));
                    }
                    Ok((op, resource_type))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let roles = rule
                .practitioner_roles
                .iter()
                .map(|r| match r.split_once('|') {
                    Some((system, code)) => (system.to_owned(), code.to_owned()),
                    None => (PRACTITIONER_ROLE.to_owned(), r.clone()),
                })
                .collect();
            let thumbprints: Vec<String> = rule
                .thumbprints
                .iter()
                .map(|t| t.to_ascii_lowercase())
                .collect();
            if thumbprints
                .iter()
                .any(|t| t.len() != 128 || !t.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(format!(
                    "user {}: a thumbprint is not 128 hexadecimal digits",
                    rule.name
                ));
            }
            Ok(User {
                thumbprints,
                practitioner: Arc::new(Practitioner {
                    email: rule.email.clone().unwrap_or_default(),
                    roles,
                    grants,
                }),
                email_configured: rule.email.is_some(),
            })
        })
        .collect()
}
