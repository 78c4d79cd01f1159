//! `dsf federation init`: a complete local federation of DSF sites, with certificates, each
//! site's configuration and the shared allow list.
//!
//! Layout of DIR (stable, relied on by scripts and tests):
//!
//! ```text
//! ca/ca.crt, ca/ca.key            the federation's development CA
//! <site>/server.crt, server.key   TLS server certificate: CN localhost, SANs localhost, <site>, 127.0.0.1
//! <site>/client.crt, client.key   TLS client certificate: CN <site>; its thumbprint is in the allow list
//! <site>/key.password             only with --key-password-file: the keys' password
//! <site>/site.toml                the site's FHIR server configuration
//! allow-list.json                 transaction Bundle: Organizations, Endpoints, parent, affiliations
//! README.md                       what the files are, ports, how to start a site and call it
//! ```
//!
//! The i-th site (0-based, in `--sites` order) listens on `base_port + 10 * i`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dsf_pki::{CertificateAuthority, Validity};

use crate::pki::{read_password, refuse_existing, write_file, write_pair};
use dsf_fhir_server::allow_list::bundle::{Federation, Member};
use dsf_fhir_server::authz::tags::ORGANIZATION_ROLES as ROLE_CODES;

/// Federation commands.
#[derive(Debug, clap::Subcommand)]
pub enum FederationCommand {
    /// Write certificates, site configurations and the allow list of a local federation.
    Init(InitArgs),
}

/// Settings of `dsf federation init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to write the federation to.
    pub dir: PathBuf,
    /// Site names, lowercase host labels, e.g. dic1,dic2,ttp.
    #[arg(long, value_delimiter = ',', required = true)]
    pub sites: Vec<String>,
    /// Roles of a site, overriding those implied by its name: SITE=CODE[,CODE].
    #[arg(long = "role", value_name = "SITE=CODES")]
    pub roles: Vec<String>,
    /// FHIR port of the first site; the i-th site gets base port + 10 * i.
    #[arg(long, default_value_t = 8001)]
    pub base_port: u16,
    /// Identifier of the parent organization the sites are affiliated with.
    #[arg(long, default_value = "dsf.test")]
    pub parent: String,
    /// Encrypt the sites' and the CA's private keys with the password in this file.
    #[arg(long)]
    pub key_password_file: Option<PathBuf>,
    /// Days of validity of the sites' certificates.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Overwrite an existing federation's files.
    #[arg(long)]
    pub force: bool,
}

/// One site of the federation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Name, also the client certificate's CN.
    pub name: String,
    /// Organization role codes.
    pub roles: Vec<String>,
    /// FHIR port.
    pub port: u16,
}

impl Site {
    /// Organization and endpoint identifier value.
    pub fn identifier(&self) -> String {
        format!("{}.dsf.test", self.name)
    }

    /// The FHIR base URL.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}/fhir", self.port)
    }
}

/// Roles implied by a site name's prefix.
fn default_roles(site: &str) -> Option<&'static str> {
    [
        "dic", "ttp", "hrp", "cos", "uac", "dms", "dts", "crr", "ams",
    ]
    .into_iter()
    .find(|prefix| site.starts_with(prefix))
    .and_then(|prefix| {
        ROLE_CODES
            .into_iter()
            .find(|code| code.eq_ignore_ascii_case(prefix))
    })
}

/// Sites with roles and ports, checked.
pub fn plan(
    sites: &[String],
    role_overrides: &[String],
    base_port: u16,
) -> anyhow::Result<Vec<Site>> {
    let mut overrides = BTreeMap::new();
    for flag in role_overrides {
        let (site, codes) = flag
            .split_once('=')
            .with_context(|| format!("--role {flag}: expected SITE=CODE[,CODE]"))?;
        if !sites.iter().any(|s| s == site) {
            bail!("--role {flag}: {site} is not one of --sites");
        }
        let codes: Vec<String> = codes.split(',').map(|c| c.trim().to_owned()).collect();
        for code in &codes {
            if !ROLE_CODES.contains(&code.as_str()) {
                bail!(
                    "--role {flag}: {code} is not an organization role; choose from {}",
                    ROLE_CODES.join(" ")
                );
            }
        }
        overrides.insert(site.to_owned(), codes);
    }
    let mut planned: Vec<Site> = Vec::with_capacity(sites.len());
    for (i, name) in sites.iter().enumerate() {
        let label_ok = !name.is_empty()
            && name.len() <= 63
            && !name.starts_with('-')
            && !name.ends_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !label_ok {
            bail!("site name {name:?}: use lowercase letters, digits and inner hyphens");
        }
        if name == "ca" {
            bail!("site name \"ca\" is taken by the CA's directory");
        }
        if planned.iter().any(|s| &s.name == name) {
            bail!("site {name} is listed twice");
        }
        let roles = match overrides.remove(name) {
            Some(codes) => codes,
            None => vec![
                default_roles(name)
                    .with_context(|| {
                        format!("site {name}: no role implied by its name; give one with --role {name}=CODE")
                    })?
                    .to_owned(),
            ],
        };
        let port = u16::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(10))
            .and_then(|offset| base_port.checked_add(offset))
            .with_context(|| format!("site {name}: port beyond 65535, lower --base-port"))?;
        planned.push(Site {
            name: name.clone(),
            roles,
            port,
        });
    }
    Ok(planned)
}

/// The federation's allow list.
pub fn allow_list(parent: &str, sites: &[(Site, String)]) -> Federation {
    Federation {
        parent_identifier: parent.to_owned(),
        parent_name: format!("Federation {parent}"),
        members: sites
            .iter()
            .map(|(site, thumbprint)| Member {
                identifier: site.identifier(),
                name: format!("Site {}", site.name),
                thumbprints: vec![thumbprint.clone()],
                endpoint_identifier: site.identifier(),
                address: site.base_url(),
                roles: site.roles.clone(),
            })
            .collect(),
    }
}

/// A site's `site.toml`.
pub fn site_toml(dir: &Path, site: &Site, key_password: bool) -> String {
    let mut text = format!(
        "# DSF site {name} of the federation in {dir}\n\
         [fhir]\n\
         base_url = \"{base_url}\"\n\
         listen = \"127.0.0.1:{port}\"\n\
         organization_identifier = \"{identifier}\"\n\
         data_dir = \"data\"\n\
         server_certificate = \"server.crt\"\n\
         server_certificate_key = \"server.key\"\n",
        name = site.name,
        dir = dir.display(),
        base_url = site.base_url(),
        port = site.port,
        identifier = site.identifier(),
    );
    if key_password {
        text.push_str("server_certificate_key_password_file = \"key.password\"\n");
    }
    text.push_str(
        "client_certificate = \"client.crt\"\n\
         client_certificate_key = \"client.key\"\n",
    );
    if key_password {
        text.push_str("client_certificate_key_password_file = \"key.password\"\n");
    }
    text.push_str(
        "trusted_client_cas = \"../ca/ca.crt\"\n\
         init_bundle = \"../allow-list.json\"\n",
    );
    text
}

/// The federation's README.md.
pub fn readme(parent: &str, sites: &[(Site, String)], key_password: bool) -> String {
    let mut text = String::from(
        "# Local DSF federation\n\n\
         Written by `dsf federation init`. Development certificates only: never use them in production.\n\n\
         | file | what |\n|---|---|\n\
         | `ca/ca.crt`, `ca/ca.key` | the federation's certificate authority (ECDSA P-384) |\n\
         | `<site>/server.crt`, `server.key` | TLS server certificate, CN localhost, SANs localhost, `<site>`, 127.0.0.1 |\n\
         | `<site>/client.crt`, `client.key` | TLS client certificate, CN `<site>`; its SHA-512 thumbprint identifies the site |\n",
    );
    if key_password {
        text.push_str(
            "| `<site>/key.password` | the password of the site's encrypted keys (PKCS#8) |\n",
        );
    }
    let _ = write!(
        text,
        "| `<site>/site.toml` | the site's FHIR server configuration; paths are relative to its directory |\n\
         | `allow-list.json` | FHIR transaction Bundle loaded at every start-up: Organizations (with thumbprints), \
         Endpoints, the parent organization `{parent}` and each site's OrganizationAffiliation (roles) |\n\n\
         ## Sites\n\n| site | roles | FHIR base URL | organization identifier |\n|---|---|---|---|\n"
    );
    for (site, _) in sites {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} |",
            site.name,
            site.roles.join(", "),
            site.base_url(),
            site.identifier()
        );
    }
    let Some((first, _)) = sites.first() else {
        return text;
    };
    let pass = if key_password {
        format!(" --pass \"$(cat {}/key.password)\"", first.name)
    } else {
        String::new()
    };
    let _ = write!(
        text,
        "\n## Use\n\n\
         Start a site's FHIR server from this directory:\n\n\
         ```sh\ndsf fhir --config {name}/site.toml\n```\n\n\
         Call it as the site {name} (mutual TLS with its client certificate):\n\n\
         ```sh\ncurl --cacert ca/ca.crt --cert {name}/client.crt --key {name}/client.key{pass} \\\n  \
         -H 'Accept: application/fhir+json' '{url}/Organization?_include=Organization:endpoint'\n```\n\n\
         Thumbprint of a certificate: `dsf pki thumbprint {name}/client.crt`.\n",
        name = first.name,
        url = first.base_url(),
    );
    text
}

/// Runs a `dsf federation` command.
pub fn run(command: FederationCommand) -> anyhow::Result<()> {
    match command {
        FederationCommand::Init(args) => init(&args),
    }
}

/// Writes the federation `args` describes and prints its sites.
pub fn init(args: &InitArgs) -> anyhow::Result<()> {
    let sites = plan(&args.sites, &args.roles, args.base_port)?;
    let dir = &std::path::absolute(&args.dir)
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let mut files = vec![
        dir.join("ca/ca.crt"),
        dir.join("ca/ca.key"),
        dir.join("allow-list.json"),
        dir.join("README.md"),
    ];
    for site in &sites {
        for name in [
            "server.crt",
            "server.key",
            "client.crt",
            "client.key",
            "site.toml",
            "key.password",
        ] {
            files.push(dir.join(&site.name).join(name));
        }
    }
    refuse_existing(&files, args.force)?;
    let password = args
        .key_password_file
        .as_deref()
        .map(read_password)
        .transpose()?;
    let password = password.as_deref();

    let ca = CertificateAuthority::generate(&format!("DSF Dev Root CA {}", args.parent))?;
    write_file(&dir.join("ca/ca.crt"), &ca.cert_pem(), false)?;
    write_file(&dir.join("ca/ca.key"), &ca.key_pem(password)?, true)?;
    let validity = Validity::days(args.days);
    let mut members = Vec::with_capacity(sites.len());
    for site in sites {
        let site_dir = dir.join(&site.name);
        let names = [
            "localhost".to_owned(),
            site.name.clone(),
            "127.0.0.1".to_owned(),
        ];
        let server = ca.issue_server("localhost", &names, validity, password)?;
        let client = ca.issue_client(&site.name, validity, password)?;
        write_pair(&site_dir, "server", &server)?;
        write_pair(&site_dir, "client", &client)?;
        let stale_password = site_dir.join("key.password");
        match password {
            Some(password) => write_file(&stale_password, &format!("{password}\n"), true)?,
            None if stale_password.exists() => std::fs::remove_file(&stale_password)
                .with_context(|| format!("removing {}", stale_password.display()))?,
            None => {}
        }
        write_file(
            &site_dir.join("site.toml"),
            &site_toml(dir, &site, password.is_some()),
            false,
        )?;
        members.push((site, dsf_pki::thumbprint(&client.der)));
    }
    let bundle = allow_list(&args.parent, &members).to_bundle();
    write_file(
        &dir.join("allow-list.json"),
        &format!("{}\n", serde_json::to_string_pretty(&bundle)?),
        false,
    )?;
    write_file(
        &dir.join("README.md"),
        &readme(&args.parent, &members, password.is_some()),
        false,
    )?;

    println!(
        "Federation of {} sites in {} (parent organization {})\n",
        members.len(),
        dir.display(),
        args.parent
    );
    println!(
        "{:<10} {:<10} {:<32} thumbprint",
        "site", "roles", "base URL"
    );
    for (site, thumbprint) in &members {
        println!(
            "{:<10} {:<10} {:<32} {thumbprint}",
            site.name,
            site.roles.join(","),
            site.base_url()
        );
    }
    Ok(())
}
