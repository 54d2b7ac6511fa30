//! `storage.smart`: SMART health of the disks under the data, Docker and backup folders
//! (guide: Stockage P2, "sudo smartctl -a /dev/sda").
//!
//! The disks are found from the folders (their device, through partitions, device-mapper and
//! md layers, and loop files, to the whole disks), then `smartctl -H -A --json -n standby`
//! reads each (a disk asleep is not woken). No `smartctl`, no permission, or no disk that
//! speaks SMART (a virtual disk) is `skipped` with the reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::checks::{step, Ctx, Outcome, Step};
use crate::exec::{self, ExecError, Place};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// Steps of the check's deadline: finding the disks, then one `smartctl` run per disk (up to
/// three disks in the timeout each; more share what is left).
pub(super) const STEPS: u32 = 4;

/// Layers followed from a folder's device down to its disks (dm on md on partitions...).
const MAX_DEPTH: usize = 6;

/// Generic remedy of `storage.smart`.
pub(super) const SMART_STEPS: &[Step] = &[
    step!(
        "Back up now, while the disk still reads",
        "Sauvegarder maintenant, tant que le disque se lit encore",
        guide = "BD P3",
        cmd = "{docker.compose} exec -T postgres pg_dumpall -U {postgres.user} > backup_emergency.sql"
    ),
    step!("Look for disk errors in the kernel log", "Chercher des erreurs disque dans le journal du noyau", guide = "Stockage P2", cmd = "dmesg | grep -i error"),
    step!("Read the disk's full SMART report", "Lire le rapport SMART complet du disque", guide = "Stockage P2", cmd = "smartctl -a /dev/sda"),
    step!(
        "Replace the disk, then check the filesystem (unmounted: interrupts service)",
        "Remplacer le disque, puis vérifier le système de fichiers (démonté : interrompt le service)",
        guide = "Stockage P2",
        cmd = "fsck /dev/sda1",
        destructive = true
    ),
];

/// A whole disk under one or more configured folders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    /// Its device node (`/dev/sda`, `/dev/nvme0n1`).
    pub device: PathBuf,
    /// The configured folders on it.
    pub paths: Vec<PathBuf>,
}

/// A configured folder with no local disk under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotOnDisk {
    /// The folder.
    pub path: PathBuf,
    /// Why (absent, tmpfs, a network filesystem...).
    pub reason: String,
}

/// The whole disks under `paths` (blocking: reads `/sys` and `/proc/self/mountinfo`).
#[must_use]
pub fn disks_under(paths: &[PathBuf]) -> (Vec<Disk>, Vec<NotOnDisk>) {
    let mut disks: Vec<Disk> = Vec::new();
    let mut elsewhere = Vec::new();
    for p in paths {
        match devices_of(p, 0) {
            Ok(devs) => {
                for d in devs {
                    match disks.iter_mut().find(|x| x.device == d) {
                        Some(x) => x.paths.push(p.clone()),
                        None => disks.push(Disk { device: d, paths: vec![p.clone()] }),
                    }
                }
            }
            Err(reason) => elsewhere.push(NotOnDisk { path: p.clone(), reason }),
        }
    }
    (disks, elsewhere)
}

/// The whole-disk devices holding `path`.
fn devices_of(path: &Path, depth: usize) -> Result<Vec<PathBuf>, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| e.kind().to_string())?;
    let dev = meta.dev();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let sys = if major == 0 {
        // An anonymous device (btrfs, overlay, tmpfs, NFS): the mount's source tells.
        let (fstype, source) = mount_source(path).ok_or_else(|| "no mount found".to_owned())?;
        let node = Path::new(&source);
        if !source.starts_with("/dev/") {
            return Err(format!("{fstype} ({source}), not a local disk"));
        }
        let real = node.canonicalize().map_err(|e| format!("{source}: {}", e.kind()))?;
        let name = real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        PathBuf::from("/sys/class/block").join(name)
    } else {
        PathBuf::from(format!("/sys/dev/block/{major}:{minor}"))
    };
    let sys = sys.canonicalize().map_err(|e| format!("{}: {}", sys.display(), e.kind()))?;
    whole_disks(&sys, depth)
}

/// From a block device's sysfs folder to the whole disks beneath it.
fn whole_disks(sys: &Path, depth: usize) -> Result<Vec<PathBuf>, String> {
    if depth > MAX_DEPTH {
        return Err("too many device layers".into());
    }
    // A partition: its disk is the parent folder.
    let disk = if sys.join("partition").exists() { sys.parent().unwrap_or(sys) } else { sys };
    let name = disk.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Device-mapper (LVM, LUKS) and md RAID: the disks under it.
    let slaves: Vec<PathBuf> = std::fs::read_dir(disk.join("slaves")).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    if !slaves.is_empty() {
        let mut out = Vec::new();
        for s in slaves {
            let real = s.canonicalize().map_err(|e| e.kind().to_string())?;
            for d in whole_disks(&real, depth + 1)? {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        return Ok(out);
    }
    // A loop device: the disk of its backing file.
    if let Ok(backing) = std::fs::read_to_string(disk.join("loop/backing_file")) {
        return devices_of(Path::new(backing.trim()), depth + 1);
    }
    Ok(vec![PathBuf::from("/dev").join(name)])
}

/// Filesystem type and source of the mount holding `path` (the longest mount point above it).
fn mount_source(path: &Path) -> Option<(String, String)> {
    let real = path.canonicalize().ok()?;
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, String, String)> = None;
    for line in text.lines() {
        let (left, right) = line.split_once(" - ")?;
        let point = unescape_mount(left.split(' ').nth(4)?);
        let mut r = right.split(' ');
        let (fstype, source) = (r.next()?.to_owned(), r.next()?.to_owned());
        if real.starts_with(&point) && best.as_ref().is_none_or(|(len, _, _)| point.len() >= *len) {
            best = Some((point.len(), fstype, source));
        }
    }
    best.map(|(_, f, s)| (f, s))
}

/// A mount point as mountinfo writes it (`\040` for a space).
fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// What `smartctl` said about one disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DiskState {
    /// SMART data was read.
    Read(SmartFacts),
    /// The disk has no SMART data to give (a virtual disk, an unknown bridge).
    NoSmart {
        /// smartctl's message.
        reason: String,
    },
    /// smartctl may not open the device (not root).
    NotPermitted {
        /// smartctl's message.
        reason: String,
    },
    /// The disk is in standby: not woken to be read.
    Asleep,
    /// smartctl could not run (absent, timed out...).
    NoTool {
        /// Why.
        reason: String,
    },
}

/// The SMART facts of one disk that the check judges.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SmartFacts {
    /// Model, if reported.
    pub model: Option<String>,
    /// `ATA`, `NVMe`, `SCSI`.
    pub protocol: Option<String>,
    /// The overall health self-assessment (`smart_status.passed`).
    pub passed: Option<bool>,
    /// ATA attribute 5, `Reallocated_Sector_Ct` (raw).
    pub reallocated: Option<u64>,
    /// ATA attribute 197, `Current_Pending_Sector` (raw).
    pub pending: Option<u64>,
    /// ATA attribute 198, `Offline_Uncorrectable` (raw).
    pub offline_uncorrectable: Option<u64>,
    /// ATA attributes at or below their threshold now (`when_failed: now`).
    pub failing_attributes: Vec<String>,
    /// NVMe: unrecovered data integrity errors.
    pub media_errors: Option<u64>,
    /// NVMe: critical warning bits (0 when none).
    pub critical_warning: Option<u64>,
    /// NVMe: available spare and its threshold, percent.
    pub available_spare: Option<(u64, u64)>,
    /// NVMe: endurance used, percent (may exceed 100).
    pub percentage_used: Option<u64>,
    /// SCSI: grown defect list length.
    pub grown_defects: Option<u64>,
}

/// Reads `smartctl --json` output into the state of one disk. smartctl prints its JSON even
/// when it fails: its exit status bits and messages say why.
///
/// # Errors
/// When the text is not smartctl's JSON.
pub fn parse_smartctl(json: &str) -> Result<DiskState, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not smartctl JSON: {e}"))?;
    let sc = v.get("smartctl").ok_or("not smartctl JSON: no `smartctl` object")?;
    let exit = sc.get("exit_status").and_then(Value::as_u64).unwrap_or(0);
    let messages: Vec<String> = sc
        .get("messages")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(|x| x.get("string").and_then(Value::as_str)).map(str::to_owned).collect())
        .unwrap_or_default();
    let said = messages.join("; ");
    // Bit 0: the command line, or the device type, was not understood; bit 1: the device
    // could not be opened, or it is in a low-power mode (-n).
    if exit & 0b11 != 0 {
        let lower = said.to_ascii_lowercase();
        return Ok(if lower.contains("standby") || lower.contains("sleep") || lower.contains("idle mode") {
            DiskState::Asleep
        } else if lower.contains("permission denied") || lower.contains("not permitted") || lower.contains("error=5") {
            DiskState::NotPermitted { reason: said }
        } else {
            DiskState::NoSmart { reason: if said.is_empty() { format!("smartctl exit status {exit}") } else { said } }
        });
    }
    let attr = |id: u64| -> Option<&Value> {
        v.pointer("/ata_smart_attributes/table")?.as_array()?.iter().find(|a| a.get("id").and_then(Value::as_u64) == Some(id))
    };
    let raw = |id: u64| attr(id).and_then(|a| a.pointer("/raw/value")).and_then(Value::as_u64);
    let nvme = |k: &str| v.pointer(&format!("/nvme_smart_health_information_log/{k}")).and_then(Value::as_u64);
    let failing_attributes = v
        .pointer("/ata_smart_attributes/table")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter(|a| a.get("when_failed").and_then(Value::as_str) == Some("now"))
                .filter_map(|a| a.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let facts = SmartFacts {
        model: v.get("model_name").and_then(Value::as_str).map(str::to_owned),
        protocol: v.pointer("/device/protocol").and_then(Value::as_str).map(str::to_owned),
        passed: v.pointer("/smart_status/passed").and_then(Value::as_bool),
        reallocated: raw(5),
        pending: raw(197),
        offline_uncorrectable: raw(198),
        failing_attributes,
        media_errors: nvme("media_errors"),
        critical_warning: nvme("critical_warning"),
        available_spare: nvme("available_spare").zip(nvme("available_spare_threshold")),
        percentage_used: nvme("percentage_used"),
        grown_defects: v.get("scsi_grown_defect_list").and_then(Value::as_u64),
    };
    if facts == SmartFacts::default() {
        return Ok(DiskState::NoSmart { reason: if said.is_empty() { "no SMART data in the answer".into() } else { said } });
    }
    Ok(DiskState::Read(facts))
}

/// One disk's findings: (status, sentence) for each.
fn findings(device: &str, f: &SmartFacts, lang: Lang) -> Vec<(Status, String)> {
    let mut out = Vec::new();
    let mut add = |s: Status, t: String| out.push((s, t));
    if f.passed == Some(false) {
        add(Status::Critical, tr!(lang, "{device}: SMART health FAILED (the disk predicts its own failure)", "{device} : santé SMART en ÉCHEC (le disque annonce sa propre panne)"));
    }
    if !f.failing_attributes.is_empty() {
        let l = f.failing_attributes.join(", ");
        add(Status::Critical, tr!(lang, "{device}: attributes past their threshold now: {l}", "{device} : attributs sous leur seuil : {l}"));
    }
    if let Some(n) = f.pending.filter(|n| *n > 0) {
        add(Status::Critical, tr!(lang, "{device}: {n} pending sector(s) (unreadable, waiting to be reallocated)", "{device} : {n} secteur(s) en attente (illisibles, en attente de réallocation)"));
    }
    if let Some(n) = f.offline_uncorrectable.filter(|n| *n > 0) {
        add(Status::Critical, tr!(lang, "{device}: {n} uncorrectable sector(s)", "{device} : {n} secteur(s) non corrigeable(s)"));
    }
    if let Some(n) = f.media_errors.filter(|n| *n > 0) {
        add(Status::Critical, tr!(lang, "{device}: {n} NVMe media error(s) (data integrity errors)", "{device} : {n} erreur(s) média NVMe (erreurs d'intégrité des données)"));
    }
    if let Some(bits) = f.critical_warning.filter(|b| *b != 0) {
        add(Status::Critical, tr!(lang, "{device}: NVMe critical warning {bits:#04x}", "{device} : avertissement critique NVMe {bits:#04x}"));
    }
    if let Some((spare, threshold)) = f.available_spare.filter(|(s, t)| s < t) {
        add(Status::Critical, tr!(lang, "{device}: spare space {spare}% below its threshold {threshold}%", "{device} : réserve {spare} % sous son seuil {threshold} %"));
    }
    if let Some(n) = f.reallocated.filter(|n| *n > 0) {
        add(Status::Warning, tr!(lang, "{device}: {n} reallocated sector(s)", "{device} : {n} secteur(s) réalloué(s)"));
    }
    if let Some(n) = f.grown_defects.filter(|n| *n > 0) {
        add(Status::Warning, tr!(lang, "{device}: {n} grown defect(s)", "{device} : {n} défaut(s) apparu(s)"));
    }
    if let Some(pct) = f.percentage_used.filter(|p| *p >= 100) {
        add(Status::Warning, tr!(lang, "{device}: {pct}% of its rated endurance used", "{device} : {pct} % de son endurance nominale consommée"));
    }
    out
}

/// Judges the disks: failing health, pending or uncorrectable sectors, NVMe media errors or
/// critical warnings are critical; reallocated sectors and grown defects warn. With no disk
/// read (no smartctl, no permission, no SMART-capable disk), the check is `skipped`, saying why.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_smart(disks: &[(Disk, DiskState)], elsewhere: &[NotOnDisk], lang: Lang) -> Outcome {
    let details = serde_json::json!({
        "disks": disks.iter().map(|(d, s)| serde_json::json!({ "device": d.device, "paths": d.paths, "smart": s })).collect::<Vec<_>>(),
        "not_on_a_disk": elsewhere,
    });
    let mut metrics = Vec::new();
    let mut found: Vec<(Status, String)> = Vec::new();
    let mut fine = Vec::new();
    let mut unread = Vec::new();
    for (disk, state) in disks {
        let dev = disk.device.display().to_string();
        match state {
            DiskState::Read(f) => {
                for (name, v) in [("reallocated_sectors", f.reallocated), ("pending_sectors", f.pending), ("media_errors", f.media_errors)] {
                    if let Some(v) = v {
                        metrics.push(Metric::new(name, v as f64, "").thresholds(1.0, 1.0).label("device", &dev));
                    }
                }
                let mine = findings(&dev, f, lang);
                if mine.is_empty() {
                    fine.push(dev);
                }
                found.extend(mine);
            }
            DiskState::NoSmart { reason } => unread.push(tr!(lang, "{dev}: no SMART data ({reason})", "{dev} : pas de données SMART ({reason})")),
            DiskState::NotPermitted { reason } => unread.push(tr!(
                lang,
                "{dev}: smartctl may not open it ({reason}); run as root",
                "{dev} : smartctl ne peut pas l'ouvrir ({reason}) ; lancer en root"
            )),
            DiskState::Asleep => unread.push(tr!(lang, "{dev}: in standby, not woken", "{dev} : en veille, non réveillé")),
            DiskState::NoTool { reason } => unread.push(format!("{dev}: {reason}")),
        }
    }
    let not_read = if unread.is_empty() { String::new() } else { tr!(lang, " (not read: {})", " (non lus : {})", unread.join("; ")) };
    let o = if !found.is_empty() {
        let status = found.iter().fold(Status::Ok, |s, (st, _)| s.worst(*st));
        found.sort_by_key(|(s, _)| std::cmp::Reverse(s.severity()));
        Outcome::new(status, found.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("; ") + &not_read)
    } else if !fine.is_empty() {
        Outcome::ok(tr!(lang, "SMART health fine on {}{not_read}", "santé SMART correcte sur {}{not_read}", fine.join(", ")))
    } else if disks.is_empty() {
        let l = elsewhere.iter().map(|n| format!("{} ({})", n.path.display(), n.reason)).collect::<Vec<_>>().join(", ");
        if l.is_empty() {
            Outcome::skipped(tr!(lang, "no local disk under the configured folders (none of them exists)", "aucun disque local sous les dossiers configurés (aucun n'existe)"))
        } else {
            Outcome::skipped(tr!(lang, "no local disk under the configured folders: {l}", "aucun disque local sous les dossiers configurés : {l}"))
        }
    } else {
        Outcome::skipped(tr!(lang, "no disk could be read: {}", "aucun disque n'a pu être lu : {}", unread.join("; ")))
    };
    let mut o = o.details(details);
    o.metrics = metrics;
    o
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let lang = ctx.lang();
    let s = &ctx.config.storage;
    if !s.smart {
        return Outcome::skipped(tr!(lang, "disabled by `[storage] smart = false`", "désactivée par `[storage] smart = false`"));
    }
    let paths: Vec<PathBuf> = s.smart_paths.iter().map(|p| ctx.config.project_path(p)).collect();
    let found = ctx.step_named("find disks", tokio::task::spawn_blocking(move || disks_under(&paths))).await;
    let (disks, elsewhere) = match found {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return Outcome::unknown(e.to_string()),
        Err(t) => return ctx.timed_out(&tr!(lang, "finding the disks (hung filesystem?)", "recherche des disques (système de fichiers bloqué ?)"), t),
    };
    // Absent folders are another check's finding (system.disk, backup.freshness): not this one's.
    let elsewhere: Vec<NotOnDisk> = elsewhere.into_iter().filter(|n| n.reason != std::io::ErrorKind::NotFound.to_string()).collect();
    let mut states = Vec::with_capacity(disks.len());
    for disk in disks {
        let dev = disk.device.display().to_string();
        let state = match exec::run(&ctx, &Place::Host, &["smartctl", "-H", "-A", "-j", "-n", "standby", &dev]).await {
            Ok(out) => parse_smartctl(&out.stdout).unwrap_or_else(|reason| DiskState::NoTool { reason }),
            Err(ExecError::Spawn { reason, .. }) => {
                return Outcome::skipped(tr!(
                    lang,
                    "smartctl cannot run here ({reason}): install smartmontools to read the disks' health",
                    "smartctl ne peut pas être lancé ici ({reason}) : installer smartmontools pour lire la santé des disques"
                ))
            }
            Err(e) => DiskState::NoTool { reason: e.describe(lang) },
        };
        states.push((disk, state));
    }
    evaluate_smart(&states, &elsewhere, lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> DiskState {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/checks/storage/testdata").join(name);
        parse_smartctl(&std::fs::read_to_string(&path).expect("sample")).expect("smartctl JSON")
    }

    fn judge(name: &str) -> Outcome {
        let disk = Disk { device: "/dev/sdx".into(), paths: vec!["/srv/data".into()] };
        evaluate_smart(&[(disk, sample(name))], &[], Lang::En)
    }

    #[test]
    fn healthy_disks_of_each_protocol() {
        for name in ["ata-healthy.json", "nvme-healthy.json", "scsi-healthy.json"] {
            let o = judge(name);
            assert_eq!(o.status, Status::Ok, "{name}: {}", o.summary);
        }
        let DiskState::Read(f) = sample("ata-healthy.json") else { panic!("read") };
        assert_eq!((f.passed, f.reallocated, f.pending, f.offline_uncorrectable), (Some(true), Some(0), Some(0), Some(0)));
    }

    #[test]
    fn a_failing_ata_disk_is_critical() {
        let DiskState::Read(f) = sample("ata-failing.json") else { panic!("read") };
        assert_eq!((f.passed, f.reallocated, f.pending), (Some(false), Some(1975), Some(8)));
        assert_eq!(f.failing_attributes, vec!["Reallocated_Sector_Ct".to_owned()]);
        let o = judge("ata-failing.json");
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.starts_with("/dev/sdx: SMART health FAILED") && o.summary.contains("8 pending sector(s)") && o.summary.contains("1975 reallocated"), "{}", o.summary);
        assert!(o.metrics.iter().any(|m| m.name == "pending_sectors" && (m.value - 8.0).abs() < f64::EPSILON));
    }

    #[test]
    fn nvme_media_errors_are_critical() {
        let o = judge("nvme-media-errors.json");
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("7 NVMe media error(s)"), "{}", o.summary);
    }

    #[test]
    fn disks_that_cannot_be_read_skip_with_the_reason() {
        let o = judge("virtio-no-smart.json");
        assert_eq!(o.status, Status::Skipped);
        assert!(o.summary.contains("Unable to detect device type"), "{}", o.summary);
        assert!(matches!(sample("open-not-permitted.json"), DiskState::NotPermitted { .. }));
        assert!(matches!(sample("open-failed.json"), DiskState::NotPermitted { .. }));
        let o = judge("open-not-permitted.json");
        assert_eq!(o.status, Status::Skipped);
        assert!(o.summary.contains("run as root"), "{}", o.summary);
        assert!(parse_smartctl("not json").is_err());
        // One disk read and fine, one not read: ok, saying which was not read.
        let a = Disk { device: "/dev/sda".into(), paths: vec![] };
        let b = Disk { device: "/dev/vda".into(), paths: vec![] };
        let o = evaluate_smart(&[(a, sample("ata-healthy.json")), (b, sample("virtio-no-smart.json"))], &[], Lang::Fr);
        assert_eq!(o.status, Status::Ok);
        assert!(o.summary.contains("/dev/sda") && o.summary.contains("non lus : /dev/vda"), "{}", o.summary);
    }

    #[test]
    fn standby_is_not_woken() {
        let json = r#"{"smartctl":{"exit_status":2,"messages":[{"string":"Device is in STANDBY mode, exit(2)","severity":"information"}]}}"#;
        assert_eq!(parse_smartctl(json), Ok(DiskState::Asleep));
    }

    #[test]
    fn folders_resolve_to_whole_disks() {
        // The folder of this crate is on some block device or on an anonymous one; either way
        // the answer names a /dev node or says why there is none, and never panics.
        let (disks, elsewhere) = disks_under(&[PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from("/nonexistent/x"), PathBuf::from("/proc")]);
        assert!(disks.iter().all(|d| d.device.starts_with("/dev/")), "{disks:?}");
        assert!(elsewhere.iter().any(|n| n.path == Path::new("/nonexistent/x")), "{elsewhere:?}");
        assert!(elsewhere.iter().any(|n| n.path == Path::new("/proc") && n.reason.contains("proc")), "{elsewhere:?}");
    }
}
