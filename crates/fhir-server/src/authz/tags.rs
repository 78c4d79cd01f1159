//! Validity of read-access tags (`meta.tag` with system
//! `http://dsf.dev/fhir/CodeSystem/read-access-tag`): either exactly one `ALL` and nothing else,
//! or exactly one `LOCAL` plus any number of `ORGANIZATION` and `ROLE` tags, each naming an
//! organization or a parent organization and role that exist.

use dsf_fhir_store::search::access::{
    READ_ACCESS_ORGANIZATION, READ_ACCESS_PARENT_ORGANIZATION_ROLE, READ_ACCESS_TAG,
    organization_identifier,
};
use serde_json::Value;

use super::{array_at, extensions, str_at};
use crate::allow_list::AllowList;

/// The organization-role CodeSystem.
pub const ORGANIZATION_ROLE: &str = "http://dsf.dev/fhir/CodeSystem/organization-role";
/// Its codes (version 2.0.0).
pub const ORGANIZATION_ROLES: [&str; 14] = [
    "UAC", "COS", "CRR", "DIC", "DMS", "DTS", "HRP", "TTP", "AMS", "ASP", "SPR", "TSP", "PPH",
    "BIO",
];

/// Whether `coding` is a known organization role.
pub fn is_organization_role(coding: Option<&Value>) -> bool {
    coding.is_some_and(|c| {
        str_at(c, "system") == Some(ORGANIZATION_ROLE)
            && str_at(c, "code").is_some_and(|code| ORGANIZATION_ROLES.contains(&code))
    })
}

/// Checks one `ORGANIZATION` tag.
fn check_organization_tag(tag: &Value, allow_list: &AllowList) -> Result<(), String> {
    let mut found = 0;
    for ext in extensions(tag, READ_ACCESS_ORGANIZATION) {
        let identifier = organization_identifier(ext.get("valueIdentifier"))
            .ok_or("ORGANIZATION read-access tag without an organization identifier")?;
        if allow_list.by_identifier(identifier).is_none() {
            return Err(format!(
                "ORGANIZATION read-access tag names unknown organization {identifier}"
            ));
        }
        found += 1;
    }
    if found == 1 {
        Ok(())
    } else {
        Err("ORGANIZATION read-access tag needs exactly one organization extension".into())
    }
}

/// Checks one `ROLE` tag.
fn check_role_tag(tag: &Value, allow_list: &AllowList) -> Result<(), String> {
    let mut found = 0;
    for ext in extensions(tag, READ_ACCESS_PARENT_ORGANIZATION_ROLE) {
        let parent = extensions(ext, "parent-organization")
            .find_map(|e| organization_identifier(e.get("valueIdentifier")))
            .ok_or("ROLE read-access tag without a parent organization identifier")?;
        if allow_list.by_identifier(parent).is_none() {
            return Err(format!(
                "ROLE read-access tag names unknown parent organization {parent}"
            ));
        }
        let role = extensions(ext, "organization-role").find_map(|e| e.get("valueCoding"));
        if !is_organization_role(role) {
            return Err("ROLE read-access tag without a known organization role".into());
        }
        found += 1;
    }
    if found == 1 {
        Ok(())
    } else {
        Err("ROLE read-access tag needs exactly one parent-organization-role extension".into())
    }
}

/// Checks the read-access tags of `resource`; `Ok` also when there are none and `required` is
/// false.
pub fn check(resource: &Value, allow_list: &AllowList, required: bool) -> Result<(), String> {
    let tags: Vec<&Value> = array_at(resource.get("meta").unwrap_or(&Value::Null), "tag")
        .iter()
        .filter(|t| str_at(t, "system") == Some(READ_ACCESS_TAG))
        .collect();
    if tags.is_empty() {
        return if required {
            Err("read-access tag missing".into())
        } else {
            Ok(())
        };
    }
    let count = |code: &str| {
        tags.iter()
            .filter(|t| str_at(t, "code") == Some(code))
            .count()
    };
    let (all, local) = (count("ALL"), count("LOCAL"));
    if all == 1 && tags.len() == 1 {
        return Ok(());
    }
    if all > 0 {
        return Err("read-access tag ALL must be the only read-access tag".into());
    }
    if local != 1 {
        return Err("read-access tags need exactly one LOCAL tag (or only ALL)".into());
    }
    for tag in tags {
        match str_at(tag, "code") {
            Some("LOCAL") => {}
            Some("ORGANIZATION") => check_organization_tag(tag, allow_list)?,
            Some("ROLE") => check_role_tag(tag, allow_list)?,
            other => {
                return Err(format!(
                    "unknown read-access tag code {}",
                    other.unwrap_or("(none)")
                ));
            }
        }
    }
    Ok(())
}
