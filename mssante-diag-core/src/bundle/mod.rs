//! The full-diagnostic archive of the guide ("Outils de diagnostic"), built in process:
//! system, Docker, network, disk, database, recent logs, configuration, certificates (public
//! parts) and the JSON report, with `MANIFEST.json` giving the size and SHA-256 of each member
//! and the reason for each member that could not be collected.
//!
//! Every member goes through [`redact::Redactor`] before it is added; the archive is assembled
//! in memory and written once, to the output only. Each collection step runs under the step
//! timeout, each member is capped at [`MAX_MEMBER_BYTES`], each service's log at
//! [`LOG_LINES`] lines and [`crate::docker::LOG_BYTES`].

pub mod redact;

mod collect;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::Report;
use redact::Redactor;

/// Largest member, bytes: longer content is cut, and the cut is said at its end.
pub const MAX_MEMBER_BYTES: usize = 8 << 20;
/// Lines of recent log per service (the guide's `docker compose logs --tail=500`).
pub const LOG_LINES: u32 = 500;
/// Name of the manifest member.
pub const MANIFEST: &str = "MANIFEST.json";

/// What to put in the bundle.
#[derive(Debug, Clone)]
pub struct Options {
    /// Mask e-mail addresses (`d***@domain`). Default: true.
    pub mask_emails: bool,
    /// Lines of recent log per service. Default: [`LOG_LINES`].
    pub log_lines: u32,
    /// The report to include; `None` runs every check.
    pub report: Option<Report>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            mask_emails: true,
            log_lines: LOG_LINES,
            report: None,
        }
    }
}

/// One member of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Path inside the archive, below its top folder.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

/// A member that could not be collected, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    /// The member it would have been.
    pub name: String,
    /// Why it is not there.
    pub reason: String,
}

/// The bundle's manifest (also its `MANIFEST.json` member).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of mssante-diag that built it.
    pub version: String,
    /// When it was built, RFC 3339.
    pub created_at: String,
    /// Host it was built on.
    pub host: String,
    /// Top folder of the archive; every member is below it.
    pub root: String,
    /// Whether e-mail addresses are masked.
    pub emails_masked: bool,
    /// The members, in archive order (the manifest itself excepted).
    pub members: Vec<Member>,
    /// What could not be collected.
    pub missing: Vec<Missing>,
}

/// A bundle collected in memory, redacted, ready to write.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The manifest.
    pub manifest: Manifest,
    contents: Vec<Vec<u8>>,
}

/// Members under construction: every content is redacted as it is added.
pub(crate) struct Builder {
    redactor: Redactor,
    members: Vec<(String, Vec<u8>)>,
    missing: Vec<Missing>,
}

impl Builder {
    /// Adds a text member, redacted and capped.
    pub(crate) fn text(&mut self, name: &str, text: &str) {
        let clean = self.redactor.text(text);
        self.raw(name, clean);
    }

    /// Adds a JSON member, redacted and capped.
    pub(crate) fn json(&mut self, name: &str, value: &serde_json::Value) {
        let clean = self.redactor.json(value);
        let text = serde_json::to_string_pretty(&clean).unwrap_or_default() + "\n";
        self.raw(name, text);
    }

    /// Adds text already redacted by this builder's redactor.
    fn raw(&mut self, name: &str, mut text: String) {
        if text.len() > MAX_MEMBER_BYTES {
            let mut cut = MAX_MEMBER_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("\n[cut at 8 MiB]\n");
        }
        tracing::debug!(
            member = name,
            bytes = text.len(),
            "bundle: member added (redacted)"
        );
        self.members.push((name.to_owned(), text.into_bytes()));
    }

    /// Records a member that could not be collected.
    pub(crate) fn missing(&mut self, name: &str, reason: &str) {
        let reason = self.redactor.text(reason);
        tracing::debug!(member = name, %reason, "bundle: member not collected");
        self.missing.push(Missing {
            name: name.to_owned(),
            reason,
        });
    }

    /// The redactor (for members that need their own pre-processing, such as `.env`).
    pub(crate) fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

/// The default output name: `mssante-diagnostic-<YYYYmmdd_HHMMSS>.tar.gz` (the guide's).
#[must_use]
pub fn default_file_name() -> String {
    format!("{}.tar.gz", root_name(&chrono::Local::now()))
}

fn root_name(now: &chrono::DateTime<chrono::Local>) -> String {
    format!("mssante-diagnostic-{}", now.format("%Y%m%d_%H%M%S"))
}

/// Collects the bundle of a platform (read-only; nothing is written).
pub async fn collect(config: Arc<Config>, opts: Options) -> Bundle {
    let now = chrono::Local::now();
    let redactor = Redactor::new(collect::secret_values(&config), opts.mask_emails);
    let mut b = Builder {
        redactor,
        members: Vec::new(),
        missing: Vec::new(),
    };
    // The mail log summaries of the report hide client and e-mail addresses too.
    let config = if opts.mask_emails && !config.postfix.mask_addresses {
        let mut masked = (*config).clone();
        masked.postfix.mask_addresses = true;
        Arc::new(masked)
    } else {
        config
    };
    collect::all(&config, opts.log_lines, opts.report, &mut b).await;
    let members = b
        .members
        .iter()
        .map(|(name, content)| Member {
            name: name.clone(),
            size: content.len() as u64,
            sha256: hex(&Sha256::digest(content)),
        })
        .collect();
    let manifest = Manifest {
        version: crate::VERSION.to_owned(),
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        host: nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default(),
        root: root_name(&now),
        emails_masked: opts.mask_emails,
        members,
        missing: b.missing,
    };
    Bundle {
        manifest,
        contents: b.members.into_iter().map(|(_, c)| c).collect(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Bundle {
    /// Writes the `.tar.gz` (members under [`Manifest::root`], then `MANIFEST.json`) to `w`.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write(&self, w: impl Write) -> std::io::Result<()> {
        let gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let mtime = chrono::Utc::now().timestamp().max(0).unsigned_abs();
        let manifest = serde_json::to_vec_pretty(&self.manifest).unwrap_or_default();
        let names = self
            .manifest
            .members
            .iter()
            .map(|m| m.name.as_str())
            .chain([MANIFEST]);
        for (name, content) in names.zip(
            self.contents
                .iter()
                .map(Vec::as_slice)
                .chain([manifest.as_slice()]),
        ) {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o600);
            header.set_mtime(mtime);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(
                &mut header,
                format!("{}/{name}", self.manifest.root),
                content,
            )?;
        }
        tar.into_inner()?.finish()?.flush()
    }
}

/// Collects the bundle and writes it to `output` (created with mode 600, replaced if it exists).
/// Nothing else is written.
///
/// # Errors
/// [`Error::Io`] when the output cannot be written.
pub async fn build(config: Arc<Config>, opts: Options, output: &Path) -> Result<Manifest> {
    let bundle = collect(config, opts).await;
    let io = |source| Error::Io {
        path: output.to_path_buf(),
        source,
    };
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(output)
            .map_err(io)?
    };
    bundle.write(std::io::BufWriter::new(file)).map_err(io)?;
    Ok(bundle.manifest)
}
