//! `dsf pki`: a development certificate authority, server and client certificates, thumbprints.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dsf_pki::{CertificateAuthority, IssuedCertificate, OffsetDateTime, Validity};

/// Certificate commands.
#[derive(Debug, clap::Subcommand)]
pub enum PkiCommand {
    /// Create a certificate authority: OUT/ca.crt and OUT/ca.key.
    Ca {
        /// Directory to write to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Common name of the CA certificate.
        #[arg(long, default_value = "DSF Dev Root CA")]
        name: String,
        /// Days of validity.
        #[arg(long, default_value_t = 3650)]
        days: u32,
        #[command(flatten)]
        key: KeyOptions,
    },
    /// Issue a TLS server certificate: OUT/server.crt and OUT/server.key.
    Server {
        /// Common name, usually the host name.
        #[arg(long)]
        name: String,
        /// Subject alternative names (DNS names or IP addresses); defaults to the common name.
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        #[command(flatten)]
        issue: IssueOptions,
    },
    /// Issue a TLS client certificate for a site: OUT/client.crt and OUT/client.key.
    Client {
        /// Common name, the site's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        issue: IssueOptions,
    },
    /// Print the SHA-512 thumbprint of a PEM certificate (the first one in the file).
    Thumbprint {
        /// PEM certificate file.
        file: PathBuf,
    },
    /// Check that a private key belongs to its certificate and that the certificate is valid now.
    Check {
        /// PEM certificate file.
        #[arg(long)]
        cert: PathBuf,
        /// PEM private key file.
        #[arg(long)]
        key: PathBuf,
        /// File holding the key's password (first line).
        #[arg(long)]
        key_password_file: Option<PathBuf>,
    },
}

/// Where `dsf pki server` and `dsf pki client` take the CA from and write to.
#[derive(Debug, clap::Args)]
pub struct IssueOptions {
    #[command(flatten)]
    ca: CaOptions,
    /// Directory to write to (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Days of validity.
    #[arg(long, default_value_t = 365)]
    days: u32,
    #[command(flatten)]
    key: KeyOptions,
}

impl IssueOptions {
    /// Checks the target files, then issues with the CA and writes OUT/NAME.crt and OUT/NAME.key.
    fn issue(
        &self,
        name: &str,
        issue: impl FnOnce(
            &CertificateAuthority,
            Validity,
            Option<&str>,
        ) -> Result<IssuedCertificate, dsf_pki::PkiError>,
    ) -> anyhow::Result<()> {
        refuse_existing(&pair_paths(&self.out, name), self.key.force)?;
        let password = read_optional_password(self.key.key_password_file.as_deref())?;
        let issued = issue(
            &load_ca(&self.ca)?,
            Validity::days(self.days),
            password.as_deref(),
        )?;
        write_pair(&self.out, name, &issued)?;
        println!("wrote {}", self.out.join(format!("{name}.crt")).display());
        println!("thumbprint {}", dsf_pki::thumbprint(&issued.der));
        Ok(())
    }
}

/// The issuing CA of `dsf pki server` and `dsf pki client`.
#[derive(Debug, clap::Args)]
pub struct CaOptions {
    /// Directory holding ca.crt and ca.key.
    #[arg(long = "ca", value_name = "DIR")]
    pub dir: PathBuf,
    /// File holding the CA key's password (first line).
    #[arg(long)]
    pub ca_key_password_file: Option<PathBuf>,
}

/// Writing the new key and files.
#[derive(Debug, clap::Args)]
pub struct KeyOptions {
    /// Encrypt the new private key with the password in this file (first line).
    #[arg(long)]
    pub key_password_file: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// Reads a password file: its first line, without the line break.
pub fn read_password(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the password file {}", path.display()))?;
    let password = text.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        bail!("the password file {} is empty", path.display());
    }
    Ok(password)
}

fn read_optional_password(path: Option<&Path>) -> anyhow::Result<Option<String>> {
    path.map(read_password).transpose()
}

/// Fails, naming the first, if any of the files exists, unless `force`.
pub fn refuse_existing(paths: &[PathBuf], force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    if let Some(existing) = paths.iter().find(|p| p.exists()) {
        bail!(
            "{} exists already; use --force to overwrite",
            existing.display()
        );
    }
    Ok(())
}

/// Writes a file, creating its directory; secrets (keys, passwords) get mode 0600 on Unix.
pub fn write_file(path: &Path, contents: &str, secret: bool) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write = |options: &std::fs::OpenOptions| -> std::io::Result<()> {
        use std::io::Write;
        let mut file = options.open(path)?;
        #[cfg(unix)]
        if secret {
            // An overwritten file keeps its old mode otherwise.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    };
    write(&options).with_context(|| format!("writing {}", path.display()))
}

/// Writes a certificate and its key as DIR/NAME.crt and DIR/NAME.key.
pub fn write_pair(dir: &Path, name: &str, issued: &IssuedCertificate) -> anyhow::Result<()> {
    write_file(&dir.join(format!("{name}.crt")), &issued.cert_pem, false)?;
    write_file(&dir.join(format!("{name}.key")), &issued.key_pem, true)
}

fn pair_paths(dir: &Path, name: &str) -> Vec<PathBuf> {
    vec![
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    ]
}

fn load_ca(options: &CaOptions) -> anyhow::Result<CertificateAuthority> {
    let password = read_optional_password(options.ca_key_password_file.as_deref())?;
    Ok(CertificateAuthority::load(
        options.dir.join("ca.crt"),
        options.dir.join("ca.key"),
        password.as_deref(),
    )?)
}

/// Runs a `dsf pki` command.
pub fn run(command: PkiCommand) -> anyhow::Result<()> {
    match command {
        PkiCommand::Ca {
            out,
            name,
            days,
            key,
        } => {
            refuse_existing(&pair_paths(&out, "ca"), key.force)?;
            let password = read_optional_password(key.key_password_file.as_deref())?;
            let ca = CertificateAuthority::generate_with_validity(&name, Validity::days(days))?;
            write_file(&out.join("ca.crt"), &ca.cert_pem(), false)?;
            write_file(&out.join("ca.key"), &ca.key_pem(password.as_deref())?, true)?;
            println!("wrote {}", out.join("ca.crt").display());
            println!("thumbprint {}", dsf_pki::thumbprint(ca.cert_der()));
        }
        PkiCommand::Server { name, dns, issue } => {
            issue.issue("server", |ca, validity, password| {
                ca.issue_server(&name, &dns, validity, password)
            })?;
        }
        PkiCommand::Client { name, issue } => {
            issue.issue("client", |ca, validity, password| {
                ca.issue_client(&name, validity, password)
            })?;
        }
        PkiCommand::Thumbprint { file } => {
            let certs = dsf_pki::load_certificates(&file)?;
            let leaf = certs.first().context("no certificate")?;
            println!("{}", dsf_pki::thumbprint(leaf));
        }
        PkiCommand::Check {
            cert,
            key,
            key_password_file,
        } => {
            let password = read_optional_password(key_password_file.as_deref())?;
            let info = dsf_pki::check_certified_key(
                &cert,
                &key,
                password.as_deref(),
                OffsetDateTime::now_utc(),
            )?;
            println!("{}: {info}", cert.display());
        }
    }
    Ok(())
}
